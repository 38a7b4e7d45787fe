"""The hooks of one attempt: the task's own ones in the document's order, and only
those go to a sync task's thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from schedkit.engine import runs
from schedkit.engine.hooks import context_of, run_hooks
from schedkit.engine.threads import HeldThread, ThreadLane
from schedkit.models import Run
from schedkit.task import BaseTask


class Plain(BaseTask):
    """A sync task with no hooks of its own (the common case)."""

    @property
    def task_name(self) -> str:
        return "plain"

    @property
    def task_description(self) -> str:
        return "plain"

    @property
    def task_category(self) -> str:
        return "test"

    def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"data": threading.current_thread().name}


class Hooked(Plain):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def before_execution(self) -> None:
        self.calls.append(f"before on {threading.current_thread().name}")

    def after_execution(self, result: dict[str, Any]) -> None:
        self.calls.append(f"after {result['data']}")


def _run(task: BaseTask) -> Run:
    return runs.manual(task, {}, datetime.now(UTC), actor="test")


async def _hops(task: BaseTask) -> tuple[list[str], Any]:
    """The functions run_hooks sent to the attempt's thread, and its result's data."""
    lane = ThreadLane(1, name="hooks-test")
    held = await lane.hold()
    sent: list[str] = []

    class Recording(HeldThread):
        def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(fn.__name__)
            return held.call(fn, *args, **kwargs)

    run = _run(task)
    try:
        result = await run_hooks(task, run, context_of(run), Recording(lane))
    finally:
        held.done()
        lane.shutdown()
    return sent, result.data


async def test_a_sync_task_without_hooks_of_its_own_goes_to_its_thread_once() -> None:
    """BaseTask's no-op hooks are not called: each call was a hop to the attempt's
    thread and back, three of the four hops of every run of such a task."""
    sent, data = await _hops(Plain())
    assert sent == ["execute"]
    assert data.startswith("hooks-test")


async def test_hooks_a_task_defines_are_called_in_order_on_its_thread() -> None:
    task = Hooked()
    sent, data = await _hops(task)
    assert sent == ["before_execution", "execute", "after_execution"]
    assert task.calls == [f"before on {data}", f"after {data}"]


async def test_a_hook_set_on_the_instance_is_called() -> None:
    task = Plain()
    seen: list[str] = []
    task.before_execution = lambda: seen.append("before")  # type: ignore[method-assign]
    sent, _ = await _hops(task)
    assert sent == ["<lambda>", "execute"] and seen == ["before"]
