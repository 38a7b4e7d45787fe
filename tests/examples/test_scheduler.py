"""The powertrade tasks run by a real schedkit Scheduler, on the same SQLite database as
the scheduler store: discovery, default schedules, progress, run logs, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schedkit import RunStatus, Scheduler, TaskRegistry
from schedkit.models import LogLine
from schedkit.store import create_store
from schedkit_examples.powertrade import restore as restore_module
from schedkit_examples.powertrade.domain import create_repository, repository_for
from schedkit_examples.powertrade.restore import restore_schedules
from schedkit_examples.powertrade.settings import configure
from schedkit_examples.powertrade.tasks.contract.auto_renewal import ContractAutoRenewalTask
from tests.engine.conftest import fast_config

from .conftest import AS_OF
from .test_contract_tasks import seed_renewal_cases
from .test_customer_tasks import seed_status_cases

#: The engine tests' fast settings, but a run is only "lost" after 30 s without a
#: heartbeat: a busy test machine must not turn a slow run into a lost one.
RELAXED: dict[str, Any] = {"scheduler": {"lost_after": 30.0}}

TASKS = {
    "contract_auto_renewal",
    "contract_expire_check",
    "customer_contract_check",
    "customer_status_auto_update",
    "data_archive",
    "data_backup",
    "data_cleanup",
    "report_annual",
    "report_daily",
    "report_monthly",
    "workflow.daily_contract_close",
}


@pytest.fixture
async def scheduler(sample_url: str, var_dir: Path) -> AsyncIterator[Scheduler]:
    """A started node whose store is the sample database itself."""
    config = fast_config(
        sample_url, task_packages=["schedkit_examples.powertrade.tasks"], **RELAXED
    )
    s = Scheduler(config, registry=TaskRegistry())
    settings = configure(s, var_dir=str(var_dir))
    assert settings.db_url == sample_url  # same database as the store
    await s.start()
    try:
        yield s
    finally:
        await s.stop(grace=2.0)


async def logs_of(
    s: Scheduler, run_id: str, wanted: Callable[[list[LogLine]], bool]
) -> list[LogLine]:
    """The run's log lines once ``wanted`` holds (they are written in batches)."""
    for _ in range(50):
        lines = await s.get_logs(run_id)
        if wanted(lines):
            return lines
        await asyncio.sleep(0.1)
    return await s.get_logs(run_id)


async def test_discovery_and_default_schedules(scheduler: Scheduler) -> None:
    assert {t.task_name for t in scheduler.list_tasks()} == TASKS
    assert {t.task_name for t in scheduler.list_tasks(category="report")} == {
        "report_daily",
        "report_monthly",
        "report_annual",
    }
    jobs = {j["id"]: j for j in await scheduler.get_job_info()}
    # The workflow has no schedule of its own: its tasks keep theirs.
    assert set(jobs) == TASKS - {"workflow.daily_contract_close"}
    assert jobs["customer_status_auto_update"]["next_run_time"].endswith("T02:00:00+08:00")
    assert "working days" in jobs["contract_expire_check"]["trigger"]
    assert jobs["report_annual"]["next_run_time"][5:10] == "01-01"
    task = scheduler.get_task("data_archive")
    schema = task.parameters_schema()
    assert schema is not None
    assert set(schema["properties"]) == {"as_of", "older_than_months", "batch_size", "max_batches"}


async def test_status_update_run_records_progress_and_logs(scheduler: Scheduler) -> None:
    run = await scheduler.run_now(
        "customer_status_auto_update", {"as_of": AS_OF.isoformat()}, wait=True, timeout=60
    )

    assert run.status is RunStatus.SUCCESS, run.error
    assert run.result is not None
    stats = run.result["statistics"]
    assert stats["total_checked"] == 200
    assert stats["errors"] == 3
    assert stats["status_updates"] >= 10
    assert run.progress is not None
    assert (run.progress["done"], run.progress["total"], run.progress["note"]) == (
        200,
        200,
        "客户",
    )
    lines = await logs_of(
        scheduler, run.id, lambda ls: any("changed status" in m.message for m in ls)
    )
    messages = [m.message for m in lines]
    assert messages[0] == "checking 200 customers against 300 contracts as of 2025-06-30"
    assert sum(1 for m in lines if m.level == "WARNING") == 3
    assert messages[-1].endswith("customers changed status, 3 errors")
    # Bad parameters are refused before a run exists.
    from schedkit import ValidationError

    with pytest.raises(ValidationError) as info:
        await scheduler.run_now("customer_status_auto_update", {"expiring_within_days": 0})
    assert info.value.field == "kwargs.expiring_within_days"


async def test_the_daily_contract_workflow_refuses_params_it_does_not_take(
    scheduler: Scheduler,
) -> None:
    """``-p as_of=xx`` started a run whose first step failed and retried; ``-p bogus=1``
    one that ignored it: both are refused before anything is stored."""
    from schedkit import ValidationError

    for params, field in (({"as_of": "xx"}, "params.as_of"), ({"bogus": 1}, "params.bogus")):
        with pytest.raises(ValidationError) as info:
            await scheduler.workflows.start("daily_contract_close", params, actor="ops")
        assert info.value.field == field
    assert await scheduler.workflows.count("daily_contract_close") == 0


async def test_the_daily_contract_workflow_runs_its_steps_on_one_business_date(
    scheduler: Scheduler,
) -> None:
    started = await scheduler.workflows.start(
        "daily_contract_close", {"as_of": AS_OF.isoformat()}, actor="ops"
    )
    state = await scheduler.workflows.wait(started.record.id, timeout=120)
    assert state.record.status.value == "success", {
        k: (v.state, v.run.error if v.run else None) for k, v in state.plan.steps.items()
    }
    runs = {name: v.run for name, v in state.plan.steps.items()}
    assert list(runs) == ["customer_status", "expiry_check", "auto_renewal", "daily_report"]
    results = {name: r.result for name, r in runs.items() if r is not None and r.result}
    assert len(results) == 4
    # One business date for every step, passed down from the workflow's params.
    assert results["expiry_check"]["data"]["as_of"] == AS_OF.isoformat()
    assert results["auto_renewal"]["data"]["as_of"] == AS_OF.isoformat()
    assert results["customer_status"]["statistics"]["total_checked"] == 200
    # The renewal step read the expiry check's result.
    assert "到期检查列出自动续约合同" in results["auto_renewal"]["message"]
    ends = [r.finished_at for r in runs.values() if r is not None]
    starts = [r.started_at for r in runs.values() if r is not None]
    pairs = zip(ends[:-1], starts[1:], strict=True)
    assert all(e is not None and s is not None and e <= s for e, s in pairs)


async def test_report_and_backup_runs(scheduler: Scheduler, var_dir: Path, tmp_path: Path) -> None:
    report = await scheduler.run_now(
        "report_daily", {"as_of": AS_OF.isoformat()}, wait=True, timeout=60
    )
    assert report.status is RunStatus.SUCCESS, report.error
    assert report.result is not None
    for name in report.result["data"]["files"]:
        assert (var_dir / "reports" / name).is_file()
    assert report.progress is not None and report.progress["note"] == "报表已写入"

    backup = await scheduler.run_now("data_backup", {"keep_last": 3}, wait=True, timeout=120)
    assert backup.status is RunStatus.SUCCESS, backup.error
    assert backup.result is not None
    stats = backup.result["statistics"]
    # The scheduler's own state is in the backup: the 10 default schedules and the runs
    # so far (the backup's own run included, still running while it wrote itself).
    assert stats["scheduler.schedules"] == 10
    assert stats["scheduler.runs"] >= 2
    path = var_dir / "backups" / backup.result["data"]["file"]
    assert path.is_file()
    # The schedules come back as they were (restore --schedules).
    async with create_store(f"sqlite:///{tmp_path / 'restored-store.db'}") as store:
        assert await restore_schedules(path, store) == 10
        assert await store.list_schedules() == await scheduler.list_schedules()


class FlakyRenewalTask(ContractAutoRenewalTask):
    """Renews, then fails its first attempt (as if the connection dropped at the end);
    retries quickly."""

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 2, "retry_delay": 0.05, "backoff_factor": 1}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        result = await super().execute(**kwargs)
        if self.context.attempt == 1:
            raise ConnectionError("connection lost after renewing")
        return result


async def test_engine_retry_does_not_renew_twice(tmp_path: Path, var_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'renewal.db'}"
    async with create_repository(url) as repo:
        await seed_renewal_cases(repo)
    registry = TaskRegistry()
    s = Scheduler(fast_config(url, **RELAXED), registry=registry)
    registry.register_task(
        FlakyRenewalTask, {"db_url": url, "store_url": url, "var_dir": str(var_dir)}
    )
    async with s:
        run = await s.run_now(
            "contract_auto_renewal", {"as_of": AS_OF.isoformat()}, wait=True, timeout=60
        )
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.attempt == 2
    assert [e["error"]["type"] for e in run.attempt_errors] == ["ConnectionError"]
    assert run.result is not None
    assert run.result["statistics"]["renewed"] == 0  # attempt 1 did the work
    async with create_repository(url) as repo:
        renewals = await repo.list_renewals()
        assert [r.contract_id for r in renewals] == ["K-R1", "K-R2"]
        assert {r.run_id for r in renewals} == {run.id}
        assert await repo.count("contracts") == 9


async def test_same_database_as_the_store_on_every_backend(empty_url: str, var_dir: Path) -> None:
    """configure() points the tasks at the store's database (SQLite file, PostgreSQL
    database, MongoDB database), and a run through the engine updates the data there."""
    s = Scheduler(fast_config(empty_url, **RELAXED), registry=TaskRegistry())
    settings = configure(s, var_dir=str(var_dir))
    assert settings.db_url == empty_url
    async with s:
        async with repository_for(settings) as repo:
            await seed_status_cases(repo)
        run = await s.run_now(
            "customer_status_auto_update", {"as_of": AS_OF.isoformat()}, wait=True, timeout=60
        )
        assert run.status is RunStatus.SUCCESS, run.error
        assert run.result is not None
        assert run.result["statistics"]["status_updates"] == 5
        async with repository_for(settings) as repo:
            customer = await repo.get_customer("E")
            assert customer is not None and customer.status.value == "expiring"
        history = await s.list_runs("customer_status_auto_update")
        assert [r.id for r in history] == [run.id]


async def test_a_backfilled_report_reports_on_its_fire_s_day(scheduler: Scheduler) -> None:
    """An audit: backfilling report_daily over 1-2 November (docs/backfill.md's case:
    the report after its data source was fixed) wrote yesterday's report twice: the
    tasks' business date fell back to today, not to the day the run was for."""
    await scheduler.backfill("report_daily", AS_OF, AS_OF + timedelta(days=1), actor="ops")
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        status = await scheduler.backfill_status("report_daily")
        assert status is not None
        if status.progress.done == status.progress.total == 2:
            break
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)
    runs = await scheduler.list_runs("report_daily", limit=10)
    assert status.progress.succeeded == 2
    reported = sorted(r.result["data"]["period"]["label"] for r in runs if r.result is not None)
    assert reported == [(AS_OF - timedelta(days=1)).isoformat(), AS_OF.isoformat()]


async def test_restore_with_a_target_puts_the_schedules_there_not_in_the_live_store(
    scheduler: Scheduler,
    sample_url: str,
    var_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ops audit: ``restore FILE --db-url COPY --force --schedules`` with the
    production environment loaded wrote the schedules into the live store (a paused
    schedule resumed, every version bumped, nothing audited) and none into the copy."""
    backup = await scheduler.run_now("data_backup", {"keep_last": 3}, wait=True, timeout=120)
    assert backup.status is RunStatus.SUCCESS and backup.result is not None
    path = var_dir / "backups" / backup.result["data"]["file"]
    await scheduler.pause_task("report_daily", note="freeze", actor="ops")
    live_before = {s.id: s.version for s in await scheduler.list_schedules()}
    monkeypatch.setenv("SCHEDKIT_STORE_URL", sample_url)  # the production environment
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    args = [str(path), "--db-url", target, "--schedules"]
    assert await asyncio.to_thread(restore_module.main, args) == 0
    assert {s.id: s.version for s in await scheduler.list_schedules()} == live_before
    (paused,) = [s for s in await scheduler.list_schedules() if s.id == "report_daily"]
    assert paused.paused
    async with create_store(target) as copy:
        assert len(await copy.list_schedules()) == 10
