"""How one run executes: hooks, results, errors, retries, timeouts, cancel, progress, logs."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC
from typing import Any, ClassVar

import pydantic
import pytest

from schedkit import (
    BaseTask,
    RunStatus,
    TaskContext,
    TaskNotFoundError,
    TaskPriority,
    ValidationError,
    current_context,
    task,
)
from schedkit.engine import runs
from schedkit.events import EventKind
from schedkit.service import runs as run_service
from tests.store._contract import make_run, make_schedule

from .conftest import MakeScheduler
from .taps import intercept


class CustomerStatusUpdateTask(BaseTask):
    """The design document's example, unchanged in shape (properties, async execute,
    the four result keys)."""

    @property
    def task_name(self) -> str:
        return "customer_status_auto_update"

    @property
    def task_description(self) -> str:
        return "客户状态自动更新任务：根据合同执行时间和系统日期自动更新客户状态"

    @property
    def task_category(self) -> str:
        return "customer"

    @property
    def task_tags(self) -> list[str]:
        return ["status", "auto", "customer"]

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "hour": 2,
            "minute": 0,
            "misfire_grace_time": 300,
            "max_instances": 1,
        }

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        customers = [{"_id": 1, "status": "active"}, {"_id": 2, "status": "expired"}, {"_id": 3}]
        update_count = 0
        errors = []
        for customer in customers:
            try:
                if "status" not in customer:
                    raise KeyError("status")
                update_count += 1
            except Exception as e:
                errors.append({"customer_id": str(customer["_id"]), "error": str(e)})
        return {
            "success": True,
            "message": "客户状态更新完成",
            "statistics": {
                "total_checked": len(customers),
                "status_updates": update_count,
                "errors": len(errors),
                "error_details": errors,
            },
            "data": {"updated_customers": update_count},
        }


async def test_document_task_runs_unchanged(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(CustomerStatusUpdateTask)
    run = await s.run_now("customer_status_auto_update", wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS
    assert run.result is not None
    assert run.result["message"] == "客户状态更新完成"
    assert run.result["statistics"]["total_checked"] == 3
    assert run.result["statistics"]["errors"] == 1
    assert run.result["data"] == {"updated_customers": 2}
    assert run.duration is not None and run.duration >= 0
    for value in (run.scheduled_for, run.started_at, run.finished_at, run.created_at):
        assert (
            value is not None
            and value.tzinfo is not None
            and value.utcoffset().total_seconds() == 0
        )
    # start() registered the default schedule (the document's 02:00 daily cron).
    info = await s.get_job_info("customer_status_auto_update")
    assert info[0]["max_instances"] == 1
    assert info[0]["next_run_time"].endswith("+08:00")
    assert "02:00" in info[0]["next_run_time"]


class SyncTask(BaseTask):
    task_name = "sync_task"  # type: ignore[assignment]
    task_description = "sync"  # type: ignore[assignment]
    task_category = "test"  # type: ignore[assignment]
    default_schedule = None  # type: ignore[assignment]

    def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "success": True,
            "data": {"thread": threading.current_thread().name, "run": self.context.run_id},
        }


async def test_sync_execute_runs_in_thread_pool(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(SyncTask)
    run = await s.run_now("sync_task", wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS
    assert run.result is not None
    assert run.result["data"]["thread"].startswith("schedkit-run")
    assert run.result["data"]["run"] == run.id


async def test_a_backlog_of_sync_runs_is_claimed_as_threads_free(
    make_scheduler: MakeScheduler,
) -> None:
    """Runs of sync tasks wait for a thread. A claim made while every thread was busy
    left them out, and the node then claimed again only at its next poll: a backlog
    of sync runs went at one claim per poll (a drain of 20,000 ran at 100 runs/s with
    100 slots and the default 1 s poll; async tasks at 8,000)."""

    @task("sync_backlog", category="test")
    def sync_backlog() -> None:
        time.sleep(0.01)

    # The poll far beyond the test: only run ends may start the claims it needs.
    s = await make_scheduler(
        sync_backlog, executor={"poll_interval": 30.0, "max_workers": 2, "max_concurrent_runs": 4}
    )
    backlog = [await s.run_now("sync_backlog") for _ in range(24)]
    t0 = time.monotonic()
    for run in backlog:
        ended = await s.wait_for_run(run.id, timeout=20)
        assert ended.status is RunStatus.SUCCESS
    # 24 runs of 10 ms on 2 threads: 0.12 s of work; one claim per poll took minutes.
    assert time.monotonic() - t0 < 10


async def test_a_thread_freed_after_its_run_timed_out_takes_the_next_sync_run(
    make_scheduler: MakeScheduler,
) -> None:
    """A sync task that overruns its timeout keeps its thread after its run is recorded;
    the run waiting for that thread is claimed when it returns, not at the next poll."""
    release = threading.Event()

    @task("overruns", category="test", timeout=0.2, retry={"max_retries": 0})
    def overruns(hold: bool) -> None:
        if hold:
            release.wait(5)

    s = await make_scheduler(
        overruns, executor={"poll_interval": 30.0, "max_workers": 1, "max_concurrent_runs": 4}
    )
    first = await s.run_now("overruns", {"hold": True})
    assert (await s.wait_for_run(first.id, timeout=10)).status is RunStatus.TIMEOUT
    overrun = s.get_task("overruns")
    assert overrun is not None
    second = runs.manual(overrun, {"hold": False}, s.clock.now(), actor="test")
    # Pending, as a run of another node or a retry is (run_now would start it here).
    await s.store.insert_runs([second])
    s._executor.wake_here()
    await asyncio.sleep(0.3)
    assert (await s.get_run(second.id)).status is RunStatus.PENDING  # no thread for it
    release.set()
    assert (await s.wait_for_run(second.id, timeout=10)).status is RunStatus.SUCCESS


async def test_a_sync_task_raising_stop_iteration_fails_its_run(
    make_scheduler: MakeScheduler,
) -> None:
    """``next()`` on an empty iterator in sync task code left the run "running" for
    ever (its thread's future refused the StopIteration); it fails like any error."""

    @task("empty_iterator", category="test", retry={"max_retries": 0})
    def empty_iterator() -> None:
        next(iter([]))

    s = await make_scheduler(empty_iterator)
    run = await s.run_now("empty_iterator", wait=True, timeout=10)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error["type"] == "RuntimeError"
    assert "raised StopIteration" in run.error["message"]


class StopIterationInOnFailure(SyncTask):
    """A sync task whose on_failure hook calls ``next()`` on an empty iterator."""

    task_name = "stop_in_on_failure"  # type: ignore[assignment]

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 0}

    def execute(self, **kwargs: Any) -> dict[str, Any]:
        raise ValueError("upstream down")

    def on_failure(self, error: Exception) -> None:
        next(iter([]))


async def test_a_sync_on_failure_raising_stop_iteration_does_not_hold_the_runs_end(
    make_scheduler: MakeScheduler,
) -> None:
    """The sync ``on_failure`` hook runs on a thread through a future that refuses a
    StopIteration: the run's end waited for the hook's 60 s limit. The hook's error is
    logged like any other and the run fails at once, with the task's own error."""
    s = await make_scheduler(StopIterationInOnFailure())
    started = time.monotonic()
    run = await s.run_now("stop_in_on_failure", wait=True, timeout=20)
    assert time.monotonic() - started < 5
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error["type"] == "ValueError"


async def test_result_rules(make_scheduler: MakeScheduler) -> None:
    @task("returns_none", category="t")
    async def returns_none() -> None:
        return None

    @task("reports_failure", category="t", retry={"max_retries": 0})
    async def reports_failure() -> dict[str, Any]:
        return {"success": False, "message": "数据源不可用"}

    @task("raises", category="t", retry={"max_retries": 0})
    def raises() -> None:
        raise ValueError("bad contract 42")

    s = await make_scheduler(returns_none, reports_failure, raises)
    ok = await s.run_now("returns_none", wait=True, timeout=10)
    assert ok.status is RunStatus.SUCCESS

    failed = await s.run_now("reports_failure", wait=True, timeout=10)
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None and failed.error["message"] == "数据源不可用"

    raised = await s.run_now("raises", wait=True, timeout=10)
    assert raised.status is RunStatus.FAILED
    assert raised.error is not None
    assert raised.error["type"] == "ValueError"
    assert raised.error["message"] == "bad contract 42"
    assert (
        "Traceback" in raised.error["traceback"] and "bad contract 42" in raised.error["traceback"]
    )


class HookTask(BaseTask):
    calls: ClassVar[list[str]] = []
    env_ok = True
    fail = False

    @property
    def task_name(self) -> str:
        return "hooks"

    @property
    def task_description(self) -> str:
        return "hooks"

    @property
    def task_category(self) -> str:
        return "test"

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 0, "retry_delay": 0, "backoff_factor": 1}

    def validate_execution_environment(self) -> bool:
        self.calls.append("validate")
        return self.env_ok

    def before_execution(self) -> None:
        self.calls.append("before")

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("execute")
        if self.fail:
            raise RuntimeError("boom")
        return {"success": True}

    def after_execution(self, result: dict[str, Any]) -> None:
        self.calls.append(f"after:{result['success']}")
        raise OSError("cleanup failed")

    def on_failure(self, error: Exception) -> None:
        self.calls.append(f"on_failure:{type(error).__name__}")


async def test_hooks_in_document_order(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(HookTask)
    hook_task = s.get_task("hooks")
    assert isinstance(hook_task, HookTask)
    hook_task.calls = []
    run = await s.run_now("hooks", wait=True, timeout=10)
    assert hook_task.calls == ["validate", "before", "execute", "after:True"]
    # A failing after_execution is recorded on the run, never lost; the result stands.
    assert run.status is RunStatus.SUCCESS
    assert run.result is not None and run.result["after_execution_error"]["type"] == "OSError"
    logs = await s.get_logs(run.id)
    assert any("after_execution failed" in line.message for line in logs)

    hook_task.calls = []
    hook_task.env_ok = False
    run = await s.run_now("hooks", wait=True, timeout=10)
    assert run.status is RunStatus.FAILED
    assert (
        run.error is not None
        and "validate_execution_environment() returned False" in run.error["message"]
    )
    assert hook_task.calls == ["validate", "on_failure:EnvironmentCheckFailed"]

    hook_task.calls = []
    hook_task.env_ok = True
    hook_task.fail = True
    run = await s.run_now("hooks", wait=True, timeout=10)
    assert run.status is RunStatus.FAILED
    assert hook_task.calls == ["validate", "before", "execute", "on_failure:RuntimeError"]


async def test_retry_with_backoff_until_success(make_scheduler: MakeScheduler) -> None:
    attempts: list[int] = []

    @task(
        "flaky",
        category="t",
        retry={"max_retries": 3, "retry_delay": 0.1, "backoff_factor": 2, "jitter": 0},
    )
    async def flaky(ctx: TaskContext) -> dict[str, Any]:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt} failed")
        return {"success": True, "message": "third time lucky"}

    s = await make_scheduler(flaky)
    started = time.monotonic()
    run = await s.run_now("flaky", wait=True, timeout=15)
    assert run.status is RunStatus.SUCCESS
    assert attempts == [1, 2, 3]
    assert run.attempt == 3
    assert [e["attempt"] for e in run.attempt_errors] == [1, 2]
    assert run.attempt_errors[1]["error"]["message"] == "attempt 2 failed"
    # delays 0.1 then 0.2 s
    assert time.monotonic() - started >= 0.3


async def test_retries_exhausted_ends_failed(make_scheduler: MakeScheduler) -> None:
    @task("always_fails", category="t", retry={"max_retries": 2, "retry_delay": 0.05, "jitter": 0})
    def always_fails() -> None:
        raise RuntimeError("nope")

    s = await make_scheduler(always_fails)
    run = await s.run_now("always_fails", wait=True, timeout=15)
    assert run.status is RunStatus.FAILED
    assert run.attempt == 3
    assert len(run.attempt_errors) == 2


async def test_timeout(make_scheduler: MakeScheduler) -> None:
    @task("slow", category="t", timeout=0.3, retry={"max_retries": 0})
    async def slow() -> None:
        await asyncio.sleep(30)

    s = await make_scheduler(slow)
    started = time.monotonic()
    run = await s.run_now("slow", wait=True, timeout=10)
    assert run.status is RunStatus.TIMEOUT
    assert run.error is not None and "timeout of 0.3 s" in run.error["message"]
    assert time.monotonic() - started < 5


async def test_cancel_running_and_pending(make_scheduler: MakeScheduler) -> None:
    started = asyncio.Event()

    @task("long_async", category="t")
    async def long_async() -> None:
        started.set()
        await asyncio.sleep(60)

    @task("cooperative_sync", category="t")
    def cooperative_sync(ctx: TaskContext) -> None:
        while not ctx.cancelled:
            time.sleep(0.02)

    s = await make_scheduler(long_async, cooperative_sync)
    run = await s.run_now("long_async")
    await asyncio.wait_for(started.wait(), 5)
    # An attack: on PostgreSQL a reason with a NUL was applied, then refused in the
    # run's end at every retry: the run stayed running for good, holding a slot.
    with pytest.raises(ValidationError, match="NUL"):
        await s.cancel_run(run.id, actor="mallory", reason="stop\x00now")
    assert (await s.get_run(run.id)).status is RunStatus.RUNNING
    await s.cancel_run(run.id, actor="alice")
    done = await s.wait_for_run(run.id, timeout=5)
    assert done.status is RunStatus.CANCELLED
    assert done.reason == "cancelled by alice"

    run = await s.run_now("cooperative_sync")
    await asyncio.sleep(0.2)
    await s.cancel_run(run.id)
    done = await s.wait_for_run(run.id, timeout=5)
    assert done.status is RunStatus.CANCELLED

    with pytest.raises(Exception, match="already cancelled"):
        await s.cancel_run(run.id)


async def test_progress_and_log_capture(make_scheduler: MakeScheduler) -> None:
    release = threading.Event()
    third_party = logging.getLogger("thirdparty.lib")
    third_party.setLevel(logging.INFO)

    @task("progressing", category="t")
    def progressing(ctx: TaskContext, total: int = 4) -> None:
        for i in range(total):
            ctx.progress(i + 1, total, f"客户 {i + 1}")
            ctx.logger.info("processed item %d", i + 1)
        third_party.warning("a library warned")
        assert current_context() is ctx
        release.wait(5)

    s = await make_scheduler(progressing)
    run = await s.run_now("progressing", {"total": 4})
    for _ in range(100):
        current = await s.get_run(run.id)
        if current.progress and current.progress["done"] == 4:
            break
        await asyncio.sleep(0.05)
    assert current.progress is not None
    assert current.progress["done"] == 4 and current.progress["total"] == 4
    assert current.progress["note"] == "客户 4"
    release.set()
    done = await s.wait_for_run(run.id, timeout=10)
    assert done.status is RunStatus.SUCCESS
    lines = await s.get_logs(run.id)
    messages = [line.message for line in lines]
    assert [m for m in messages if m.startswith("processed")] == [
        f"processed item {i}" for i in range(1, 5)
    ]
    assert "a library warned" in messages
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)
    warn = next(line for line in lines if line.message == "a library warned")
    assert warn.level == "WARNING" and warn.logger == "thirdparty.lib"


class Params(pydantic.BaseModel):
    days: int = pydantic.Field(30, ge=1, le=365)
    region: str = "广东"


class ParamTask(BaseTask):
    parameters = Params

    @property
    def task_name(self) -> str:
        return "contract_expire_check"

    @property
    def task_description(self) -> str:
        return "expiring contracts"

    @property
    def task_category(self) -> str:
        return "contract"

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.HIGH

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "data": kwargs}


async def test_parameters_validated_before_store(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(ParamTask)
    schema = s.get_task("contract_expire_check").parameters_schema()
    assert schema is not None and set(schema["properties"]) == {"days", "region"}

    with pytest.raises(ValidationError) as err:
        await s.run_now("contract_expire_check", {"days": 0})
    assert err.value.field == "kwargs.days"
    with pytest.raises(ValidationError) as err:
        await s.run_now("contract_expire_check", {"days": "many"})
    assert err.value.field == "kwargs.days"
    with pytest.raises(TaskNotFoundError):
        await s.run_now("no_such_task")
    assert await s.count_runs() == 0

    run = await s.run_now("contract_expire_check", {"days": 7}, wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS
    assert run.priority == int(TaskPriority.HIGH)
    assert run.result is not None and run.result["data"] == {"days": 7, "region": "广东"}


async def test_a_timeout_without_wait_is_refused(make_scheduler: MakeScheduler) -> None:
    """It bounds the wait for the run, it is no time limit of the run: given alone, it
    was ignored."""
    s = await make_scheduler(ParamTask)
    with pytest.raises(ValidationError) as err:
        await s.run_now("contract_expire_check", {"days": 7}, timeout=5)
    assert err.value.field == "timeout"
    assert await s.count_runs() == 0


async def test_a_task_filter_names_a_registered_or_stored_task(
    make_scheduler: MakeScheduler,
) -> None:
    """A listing's task filter: a registered task, or one whose runs or schedules the
    store still holds (removed from the code); anything else is a typo, refused with
    the close registered names (on every store)."""
    s = await make_scheduler(ParamTask)
    await s.check_task_filter(None)
    await s.check_task_filter("contract_expire_check")
    with pytest.raises(ValidationError) as err:
        await s.check_task_filter("contract_expire_chek")
    assert err.value.field == "task"
    assert "did you mean 'contract_expire_check'?" in str(err.value)
    retired = make_run(task_name="retired_report", status=RunStatus.SKIPPED)
    await s.store.insert_runs([retired])
    await s.check_task_filter("retired_report")
    schedule = make_schedule(id="retired-nightly", task_name="retired_export", paused=True)
    await s.store.put_schedule(schedule, expected_version=0)
    await s.check_task_filter("retired_export")


async def test_non_json_kwargs_rejected(make_scheduler: MakeScheduler) -> None:
    @task("free", category="t")
    async def free(**kwargs: Any) -> None:
        return None

    s = await make_scheduler(free)
    with pytest.raises(ValidationError) as err:
        await s.run_now("free", {"when": object()})
    assert err.value.field == "kwargs.when"
    assert await s.count_runs() == 0


async def test_result_too_large_fails_run(make_scheduler: MakeScheduler) -> None:
    @task("huge", category="t", retry={"max_retries": 0})
    async def huge() -> dict[str, Any]:
        return {"success": True, "data": "x" * 2_000_000}

    s = await make_scheduler(huge)
    run = await s.run_now("huge", wait=True, timeout=10)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error["type"] == "ResultTooLargeError"
    assert "limit" in run.error["message"]


async def test_times_are_utc(make_scheduler: MakeScheduler) -> None:
    @task("t_utc", category="t")
    async def t_utc() -> None:
        return None

    s = await make_scheduler(t_utc)
    run = await s.run_now("t_utc", wait=True, timeout=10)
    assert run.started_at is not None and run.started_at.tzinfo is not None
    assert run.started_at.astimezone(UTC) == run.started_at


@task("announced_quickly")
async def announced_quickly() -> None:
    return None


async def test_a_wait_returns_after_the_run_s_end_is_announced(
    make_scheduler: MakeScheduler,
) -> None:
    """The end is written, then announced to the listeners (metrics, spans, hooks). A
    waiter whose poll read the written end returned between the two, so a caller that
    checked a listener next sometimes found nothing (seen in CI on the tracing test).
    Here the write's answer is held past a poll of the waiter."""
    s = await make_scheduler(announced_quickly)
    ended: list[str] = []
    s.add_listener(lambda e: ended.append(e.run.id), [EventKind.FINISHED])

    async def slow_answer(original: Any, *args: Any, **kwargs: Any) -> Any:
        applied = await original(*args, **kwargs)
        await asyncio.sleep(run_service.WAIT_POLL * 1.5)
        return applied

    intercept(s.store, "finish_runs", slow_answer)
    run = await s.run_now("announced_quickly", wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS
    assert ended == [run.id]


async def test_history_filters_take_statuses_and_sources_as_their_values(
    make_scheduler: MakeScheduler,
) -> None:
    """A cluster audit: ``count_runs(status=["pending", "running"])`` worked on
    PostgreSQL and raised AttributeError on MongoDB; ``status="failed"`` was read letter
    by letter ("'a' is not a valid RunStatus"). Values are their members on every store;
    a wrong one is a ValidationError naming the argument."""

    @task("values_filtered", category="t")
    async def values_filtered() -> None: ...

    s = await make_scheduler(values_filtered)
    run = await s.run_now("values_filtered", wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS
    assert [r.id for r in await s.list_runs("values_filtered", status="success")] == [run.id]
    assert await s.count_runs(status=["pending", "running"]) == 0
    assert await s.count_runs(status=("success", RunStatus.FAILED)) == 1
    assert await s.count_runs("values_filtered", trigger_source="manual") == 1
    with pytest.raises(ValidationError) as wrong:
        await s.count_runs(status="faild")
    assert wrong.value.field == "status" and "'faild' is not one of pending," in str(wrong.value)
    for odd in (5, b"failed"):  # a TypeError, and bytes read byte by byte ("102 is not …")
        with pytest.raises(ValidationError) as typed:
            await s.count_runs(status=odd)  # type: ignore[arg-type]
        assert typed.value.field == "status" and "is no text" in str(typed.value)
    with pytest.raises(ValidationError) as source:
        await s.list_runs(trigger_source="cron")
    assert source.value.field == "trigger_source"
