"""What the executor keeps of an attempt executing on this node."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from schedkit.engine.work import Work
from schedkit.models import Run
from schedkit.task import TaskContext

logger = logging.getLogger(__name__)


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


def say_stopped(actives: Iterable[Active], grace: float, now: datetime) -> None:
    """A warning for each run a node's stop is about to cancel: recorded ``cancelled`` and
    not retried, it was thrown away without a line in the service's log (a deploy's
    SIGTERM to a node running a 30 s task)."""
    for active in actives:
        if active.ending or active.ctx.cancelled:  # finished, or cancelled for another reason
            continue
        run = active.run
        ran = f" after {(now - run.started_at).total_seconds():.1f} s" if run.started_at else ""
        logger.warning(
            "run %s of %s is cancelled%s: it did not finish within scheduler.shutdown_grace "
            "(%g s) of the stop, and is recorded cancelled, not retried; raise the grace (and "
            'the stop timeout around it, docs/deployment.md "Stop timeouts") to let runs finish',
            run.id,
            run.task_name,
            ran,
            grace,
        )
