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


class Unwinding(BaseException):
    """What pytest's ``Failed`` or gevent's ``GreenletExit`` are: no Exception."""


FAILURES: list[BaseException] = []


class Unwinds(BaseTask):
    task_name = "unwinds"
    task_description = "raises a BaseException that is no Exception, in its thread"
    task_category = "t"
    default_schedule = None
    retry_config = {"max_retries": 1, "retry_delay": 0}  # noqa: RUF012 - the document's

    def execute(self, **kwargs: Any) -> None:
        BODIES.append("unwinds")
        raise Unwinding("left early")

    def on_failure(self, error: Exception) -> None:
        FAILURES.append(error)


@task("grouped", category="t", retry={"max_retries": 0})
async def grouped() -> None:
    async def child() -> None:
        raise Unwinding("in a child")

    async with asyncio.TaskGroup() as group:
        group.create_task(child())


#: Set at the third fire of unwinds_once (made by its test, on its event loop).
THIRD_FIRE: list[asyncio.Event] = []


@task("unwinds_once", category="t", retry={"max_retries": 0})
async def unwinds_once() -> None:
    BODIES.append("unwinds_once")
    fires = BODIES.count("unwinds_once")
    if fires == 3:
        THIRD_FIRE[0].set()
    if fires == 1:
        raise Unwinding("first fire only")


async def test_any_base_exception_fails_its_attempt_and_is_retried(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: a task raising a BaseException other than the three that end a process (a
    BaseExceptionGroup of a task group, pytest's Failed) left its run ``running`` for
    ever, nothing logged, its schedule's later fires skipped as still active."""
    BODIES.clear()
    FAILURES.clear()
    s = await make_scheduler(Unwinds(), grouped)
    run = await s.run_now("unwinds", wait=True, timeout=15)
    assert (run.status, run.attempt) == (RunStatus.FAILED, 2), run
    assert run.error is not None
    assert (run.error["type"], run.error["message"]) == ("Unwinding", "left early")
    assert BODIES == ["unwinds", "unwinds"]
    # on_failure takes an Exception: the original is its cause.
    assert [type(f.__cause__) for f in FAILURES] == [Unwinding, Unwinding]
    assert "Unwinding: left early" in str(FAILURES[0])
    run = await s.run_now("grouped", wait=True, timeout=15)
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error["type"] == "BaseExceptionGroup"
    assert "Unwinding: in a child" in run.error["traceback"]
    assert s.running_count == 0


async def test_a_schedule_fires_on_after_a_base_exception(make_scheduler: MakeScheduler) -> None:
    BODIES.clear()
    THIRD_FIRE[:] = [asyncio.Event()]
    s = await make_scheduler(unwinds_once)
    await s.add_task("unwinds_once", {"trigger": "interval", "seconds": 0.3, "max_instances": 1})
    await asyncio.wait_for(THIRD_FIRE[0].wait(), 15)
    statuses = [r.status for r in await s.list_runs("unwinds_once")]
    assert statuses.count(RunStatus.FAILED) == 1 and RunStatus.SUCCESS in statuses


async def _awaits_a_cancelled_future() -> None:
    loop = asyncio.get_running_loop()
    elsewhere = loop.create_future()
    loop.call_soon(elsewhere.cancel)
    await elsewhere


@task("cancelled_elsewhere", category="t", retry={"max_retries": 1, "retry_delay": 0})
async def cancelled_elsewhere() -> None:
    BODIES.append("cancelled_elsewhere")
    await _awaits_a_cancelled_future()


@task("raises_cancelled", category="t", retry={"max_retries": 0})
def raises_cancelled() -> None:
    raise asyncio.CancelledError("from a thread")


async def test_a_cancelled_error_of_the_task_s_own_is_a_failure(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: it was recorded ``cancelled``, "the node shut down" (it had not), with no
    error, and not retried."""
    BODIES.clear()
    s = await make_scheduler(cancelled_elsewhere, raises_cancelled, fine)
    run = await s.run_now("cancelled_elsewhere", wait=True, timeout=15)
    assert (run.status, run.attempt, run.reason) == (RunStatus.FAILED, 2, None), run
    assert run.error is not None and run.error["type"] == "CancelledError"
    assert "though its run was not cancelled" in run.error["message"]
    assert BODIES == ["cancelled_elsewhere", "cancelled_elsewhere"]
    run = await s.run_now("raises_cancelled", wait=True, timeout=15)
    assert run.status is RunStatus.FAILED and run.error is not None
    assert (run.error["type"], run.error["message"]) == ("CancelledError", "from a thread")
    assert (await s.run_now("fine", wait=True, timeout=15)).status is RunStatus.SUCCESS


class ExitInHook(BaseTask):
    """Fails, then its on_failure hook ends the process its own way (a re-audit)."""

    task_name = "exit_in_hook"
    task_description = "on_failure calls sys.exit()"
    task_category = "t"
    default_schedule = None
    retry_config = {"max_retries": 0}  # noqa: RUF012 - the design document's attribute
    exit_with: BaseException = SystemExit(5)

    def execute(self, **kwargs: Any) -> None:
        raise ValueError("boom")

    def on_failure(self, exception: Exception) -> None:
        raise self.exit_with


class InterruptInHook(ExitInHook):
    task_name = "interrupt_in_hook"
    task_description = "on_failure raises KeyboardInterrupt"
    exit_with = KeyboardInterrupt()


class ExitInHookOnLoop(ExitInHook):
    task_name = "exit_in_hook_on_loop"
    task_description = "an async on_failure calls sys.exit()"

    async def execute(self, **kwargs: Any) -> None:  # type: ignore[override]
        raise ValueError("boom")

    async def on_failure(self, exception: Exception) -> None:  # type: ignore[override]
        raise self.exit_with


async def test_an_on_failure_hook_ending_the_process_fails_its_run_only(
    make_scheduler: MakeScheduler,
) -> None:
    """Before: ``sys.exit()`` or ``KeyboardInterrupt`` in ``on_failure`` ended the node's
    event loop (the run recorded ``cancelled``; a SyncScheduler's stop then hung)."""
    hooks = [ExitInHook(), InterruptInHook(), ExitInHookOnLoop()]
    s = await make_scheduler(*hooks, fine)
    for hook in hooks:
        run = await s.run_now(hook.task_name, wait=True, timeout=15)
        assert run.status is RunStatus.FAILED, (hook.task_name, run)
        assert run.error is not None and run.error["type"] == "ValueError", run.error
    assert (await s.run_now("fine", wait=True, timeout=15)).status is RunStatus.SUCCESS
