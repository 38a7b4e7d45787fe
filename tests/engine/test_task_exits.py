"""What a task's code must not be able to do to its node: end the process
(``sys.exit``, ``KeyboardInterrupt``, ``GeneratorExit``), have work it did repeated
because its result cannot be stored, or keep a stopped node from exiting. Holes an audit
reproduced on every store."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from schedkit import BaseTask, RunStatus, task
from schedkit.engine.hooks import call_hook

from .conftest import MakeScheduler

BODIES: list[str] = []


@task("exits", category="t", retry={"max_retries": 1, "retry_delay": 0})
def exits() -> None:
    BODIES.append("exits")
    sys.exit(1)


@task("interrupted", category="t", retry={"max_retries": 0})
async def interrupted() -> None:
    raise KeyboardInterrupt


@task("generator_exit", category="t", retry={"max_retries": 0})
async def generator_exit() -> None:
    raise GeneratorExit


@task("fine", category="t", retry={"max_retries": 0})
async def fine() -> dict[str, Any]:
    return {"success": True, "message": "still here"}


@task("renews", category="t", retry={"max_retries": 3, "retry_delay": 0})
def renews() -> dict[str, Any]:
    """Did its work (a renewal sent), then returned what pandas gives for an empty mean."""
    BODIES.append("renews")
    return {"success": True, "statistics": {"mean": float("nan")}}


class SlowOnFailure(BaseTask):
    task_name = "slow_on_failure"
    task_description = "fails, and its on_failure hook outlives the node's stop"
    task_category = "t"
    default_schedule = None
    retry_config = {"max_retries": 0}  # noqa: RUF012 - the design document's attribute

    async def execute(self, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    async def on_failure(self, exception: Exception) -> None:
        await asyncio.sleep(30)


async def test_sys_exit_keyboard_interrupt_and_generator_exit_fail_their_run_only(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: ``sys.exit(1)`` in a task ended the process (the FastAPI app with it),
    the run stayed ``running``, and its retry on the next start did it again."""
    BODIES.clear()
    s = await make_scheduler(exits, interrupted, generator_exit, fine)
    for name in ("exits", "interrupted", "generator_exit"):
        run = await s.run_now(name, wait=True, timeout=15)
        assert run.status is RunStatus.FAILED, (name, run)
        assert run.error is not None and run.error["type"] == "TaskExited"
        assert "instead of ending this process" in run.error["message"]
    # A failure like any other: retried per the policy.
    assert BODIES == ["exits", "exits"]
    # The node is still there.
    assert (await s.run_now("fine", wait=True, timeout=15)).status is RunStatus.SUCCESS


async def test_a_result_that_cannot_be_stored_is_not_retried(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: the run failed with ResultNotStorable and was retried, so the work it had
    done ran four times."""
    BODIES.clear()
    s = await make_scheduler(renews)
    run = await s.run_now("renews", wait=True, timeout=15)
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1)
    assert run.error is not None and run.error["type"] == "ResultNotStorable"
    assert BODIES == ["renews"]


async def test_a_run_still_ending_when_the_node_stops_does_not_hold_the_process(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: a run whose on_failure hook outlived ``stop()`` (grace, then at least 5 s
    more) was cancelled by the loop's shutdown, and its end, written shielded, was
    retried against the closed store for ever ("store ... is not open ... retrying"):
    the process never exited."""
    s = await make_scheduler(SlowOnFailure(), scheduler={"shutdown_grace": 0.2})
    run = await s.run_now("slow_on_failure")
    await asyncio.sleep(0.5)  # failed; its on_failure hook sleeps
    await s.stop()
    left = [t for t in asyncio.all_tasks() if t.get_name() == f"schedkit-run-{run.id}"]
    assert left, "the run should still be ending (its hook outlives stop)"
    for t in left:
        t.cancel()  # as asyncio.run() does to what is left when main() returns
    _, pending = await asyncio.wait(left, timeout=3)
    assert not pending, "the run's end kept retrying against the closed store"


def test_a_hook_collected_at_exit_lets_its_generator_exit_through() -> None:
    """A chaos audit: a run left behind at a stop, its coroutine collected once the event
    loop was gone, printed "Exception ignored in: <coroutine object run_hooks> ...
    TaskExited: the task's code raised GeneratorExit; recorded as a failure" although
    nothing was, nor could be, recorded: being closed is not the task's code failing."""

    async def forever() -> None:
        await asyncio.Event().wait()

    loop = asyncio.new_event_loop()
    hook = call_hook(None, forever)
    task = loop.create_task(hook)
    loop.run_until_complete(asyncio.sleep(0))  # the hook awaits the task's code
    loop.close()
    hook.close()  # what the collector does; raised TaskExited out of close()
    assert not task.done()
