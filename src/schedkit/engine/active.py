"""What the executor keeps of an attempt executing on this node."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from schedkit.engine.work import Work
from schedkit.models import Run
from schedkit.task import TaskContext


@dataclasses.dataclass(kw_only=True, slots=True)
class Active:
    run: Run
    ctx: TaskContext
    #: The asyncio task executing the attempt (a newer attempt of the run claimed here
    #: waits for it: see ``Executor._start``).
    task: asyncio.Task[Any]
    #: What a cancel must stop: waiting for a thread, then the hooks.
    work: Work | None = None
    #: The attempt is over and its end being written: a heartbeat not finding the run
    #: running here any more is that write, not another node taking it.
    ending: bool = False


def current_task() -> asyncio.Task[Any]:
    """The asyncio task running the caller (a coroutine run as a task)."""
    task = asyncio.current_task()
    assert task is not None
    return task
