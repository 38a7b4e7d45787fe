"""data/: cleanup, backup → restore, archive."""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schedkit.models import Run, RunStatus, TriggerSource, new_id
from schedkit.store import create_store
from schedkit_examples.powertrade import restore as restore_module
from schedkit_examples.powertrade.domain import TABLES, PowertradeRepository
from schedkit_examples.powertrade.domain.models import StatusChange, add_months
from schedkit_examples.powertrade.restore import BackupError, read_backup, restore
from schedkit_examples.powertrade.sampledata import generate
from schedkit_examples.powertrade.tasks.contract.auto_renewal import ContractAutoRenewalTask
from schedkit_examples.powertrade.tasks.customer.status_update import CustomerStatusUpdateTask
from schedkit_examples.powertrade.tasks.data.archive import DataArchiveTask
from schedkit_examples.powertrade.tasks.data.backup import DataBackupTask, list_backups
from schedkit_examples.powertrade.tasks.data.cleanup import DataCleanupTask

from .conftest import AS_OF, repo_for


async def snapshot(repo: PowertradeRepository) -> dict[str, list[dict[str, Any]]]:
    """Every domain record in JSON form, per table, in a backend-independent order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        rows: list[dict[str, Any]] = []
        async for batch in repo.export(table):
            rows.extend(batch)
        if table == "contract_renewals":
            rows.sort(key=lambda r: (r["contract_id"], r["new_start"]))
        else:
            rows.sort(key=lambda r: str(r["id"]))
        out[table] = rows
    return out


# -- backup / restore --------------------------------------------------------------------


async def test_backup_restores_to_equal_data(
    sample_url: str,
    sample_repo: PowertradeRepository,
    make_task: Callable[..., Any],
    var_dir: Path,
    tmp_path: Path,
) -> None:
    # Every table holds records: status history, a renewal, archived settlements.
    await make_task(ContractAutoRenewalTask, sample_url).execute(as_of=AS_OF)
    await make_task(DataArchiveTask, sample_url).execute(as_of=AS_OF, older_than_months=11)
    await sample_repo.insert_many("customer_status_history", [_change("h1", 3)])
    before = await snapshot(sample_repo)
    assert all(before[t] for t in TABLES), {t: len(v) for t, v in before.items()}

    result = await make_task(DataBackupTask, sample_url).execute()

    assert result["success"] is True
    name = result["data"]["file"]
    assert name.startswith("powertrade-") and name.endswith(".jsonl.gz")
    path = var_dir / "backups" / name
    assert path.is_file()
    assert result["statistics"]["settlements"] == len(before["settlements"])
    footer = read_backup(path)
    assert footer["counts"]["customers"] == 200
    assert "scheduler.runs" in footer["counts"]

    async with repo_for(f"sqlite:///{tmp_path / 'restored.db'}") as target:
        loaded = await restore(path, target)
        assert loaded == {t: len(before[t]) for t in TABLES}
        assert await snapshot(target) == before


async def test_backup_moves_data_across_backends(
    empty_url: str, make_task: Callable[..., Any], var_dir: Path, tmp_path: Path
) -> None:
    """A SQLite backup restores into PostgreSQL or MongoDB unchanged (a small data set:
    the full one is covered on SQLite above)."""
    source_url = f"sqlite:///{tmp_path / 'small.db'}"
    async with repo_for(source_url) as source:
        await generate(source, AS_OF, customers=20, contracts=30, settlement_days=30)
        await make_task(CustomerStatusUpdateTask, source_url).execute(as_of=AS_OF)
        before = await snapshot(source)
    result = await make_task(DataBackupTask, source_url).execute(include_scheduler=False)
    path = var_dir / "backups" / result["data"]["file"]
    async with repo_for(empty_url) as target:
        await restore(path, target)
        assert await snapshot(target) == before


async def test_restore_command_and_damaged_files(
    make_task: Callable[..., Any], var_dir: Path, tmp_path: Path
) -> None:
    source_url = f"sqlite:///{tmp_path / 'small.db'}"
    async with repo_for(source_url) as source:
        await generate(source, AS_OF, customers=20, contracts=30, settlement_days=30)
    result = await make_task(DataBackupTask, source_url).execute(include_scheduler=False)
    path = var_dir / "backups" / result["data"]["file"]
    target = f"sqlite:///{tmp_path / 'restored.db'}"

    def main(*args: str | Path) -> int:
        return restore_module.main([str(a) for a in args])

    assert await asyncio.to_thread(main, path, "--db-url", target) == 0
    async with repo_for(target) as repo:
        restored = await snapshot(repo)
        assert len(restored["customers"]) == 20
        assert len(restored["settlements"]) == result["statistics"]["settlements"]
    # A non-empty database is refused; --force replaces its data (no duplicates).
    assert await asyncio.to_thread(main, path, "--db-url", target) == 1
    assert await asyncio.to_thread(main, path, "--db-url", target, "--force") == 0
    async with repo_for(target) as repo:
        assert await snapshot(repo) == restored

    truncated = tmp_path / "truncated.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as src:
        lines = src.readlines()
    with gzip.open(truncated, "wt", encoding="utf-8") as dst:
        dst.writelines(lines[: len(lines) // 2])
    with pytest.raises(BackupError, match="truncated"):
        read_backup(truncated)
    other = tmp_path / "other.jsonl.gz"
    with gzip.open(other, "wt", encoding="utf-8") as dst:
        dst.write('{"type": "header", "format": "something-else"}\n')
    with pytest.raises(BackupError, match="not a powertrade-backup file"):
        read_backup(other)
    # Loading stops at the damage and leaves the target empty, as it was.
    damaged_target = f"sqlite:///{tmp_path / 'x.db'}"
    assert await asyncio.to_thread(main, truncated, "--db-url", damaged_target) == 1
    async with repo_for(damaged_target) as repo:
        assert await repo.is_empty()


async def test_backup_keeps_the_last_n(
    make_task: Callable[..., Any], var_dir: Path, tmp_path: Path
) -> None:
    source_url = f"sqlite:///{tmp_path / 'small.db'}"
    async with repo_for(source_url) as source:
        await generate(source, AS_OF, customers=10, contracts=10, settlement_days=5)
    backup_dir = var_dir / "backups"
    backup_dir.mkdir(parents=True)
    for stamp in ("20240101-010000", "20240102-010000", "20240103-010000"):
        (backup_dir / f"powertrade-{stamp}.jsonl.gz").write_bytes(b"old")
    (backup_dir / "unrelated.txt").write_text("kept")

    task = make_task(DataBackupTask, source_url)
    result = await task.execute(keep_last=2, include_scheduler=False)

    assert result["data"]["deleted"] == [
        "powertrade-20240101-010000.jsonl.gz",
        "powertrade-20240102-010000.jsonl.gz",
    ]
    names = [p.name for p in list_backups(backup_dir)]
    assert names == ["powertrade-20240103-010000.jsonl.gz", result["data"]["file"]]
    assert (backup_dir / "unrelated.txt").exists()
    assert not list(backup_dir.glob("*.partial"))


# -- archive -----------------------------------------------------------------------------


async def test_archive_moves_exactly_the_old_rows(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    cut_off = add_months(AS_OF, -6)
    assert cut_off == date(2024, 12, 30)
    total = await sample_repo.count("settlements")
    old_rows = await sample_repo.settlements_between(
        date(2000, 1, 1), cut_off - timedelta(days=1), include_archive=False
    )
    old = {s.id for s in old_rows}
    assert 10_000 < len(old) < total
    task = make_task(DataArchiveTask, sample_url)

    result = await task.execute(as_of=AS_OF, older_than_months=6, batch_size=500)

    assert result["statistics"] == {
        "moved": len(old),
        "batches": -(-len(old) // 500),
        "remaining": 0,
    }
    assert result["data"]["cut_off"] == "2024-12-30"
    assert await sample_repo.count_settlements_before(cut_off) == 0
    assert await sample_repo.count("settlements") == total - len(old)
    assert await sample_repo.count("settlements_archive") == len(old)
    # Moved as they were: same values, nothing lost or duplicated.
    archived = await sample_repo.settlements_between(date(2000, 1, 1), cut_off - timedelta(days=1))
    assert archived == old_rows
    # Reports still see archived days.
    assert len(await sample_repo.settlements_between(date(2024, 7, 1), date(2024, 7, 31))) > 0

    again = await task.execute(as_of=AS_OF, older_than_months=6)
    assert again["statistics"]["moved"] == 0
    assert await sample_repo.count("settlements_archive") == len(old)


async def test_archive_resumes_after_interruption(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    cut_off = add_months(AS_OF, -9)
    total = await sample_repo.count_settlements_before(cut_off)
    task = make_task(DataArchiveTask, sample_url)

    # Stopped after 3 batches (a timeout, a cancel, a crash between batches).
    first = await task.execute(as_of=AS_OF, older_than_months=9, batch_size=400, max_batches=3)
    assert first["statistics"] == {"moved": 1200, "batches": 3, "remaining": total - 1200}

    # A crash inside a batch: rows copied to the archive but not yet deleted.
    pending = (
        await sample_repo.settlements_between(date(2000, 1, 1), cut_off, include_archive=False)
    )[:150]
    await sample_repo.insert_many("settlements_archive", pending)

    rest = await task.execute(as_of=AS_OF, older_than_months=9, batch_size=400)
    assert rest["statistics"]["moved"] == total - 1200
    assert rest["statistics"]["remaining"] == 0
    assert await sample_repo.count_settlements_before(cut_off, archive=True) == total
    assert await sample_repo.count("settlements_archive") == total  # no duplicates


# -- cleanup -----------------------------------------------------------------------------


def _run(finished_days_ago: float | None, now: datetime) -> Run:
    created = now - timedelta(days=(finished_days_ago or 0) + 1)
    finished = None if finished_days_ago is None else now - timedelta(days=finished_days_ago)
    return Run(
        id=new_id(),
        task_name="report_daily",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=created,
        status=RunStatus.RUNNING if finished is None else RunStatus.SUCCESS,
        kwargs={},
        not_before=created,
        started_at=created,
        finished_at=finished,
        heartbeat_at=created,
        created_at=created,
    )


def _change(change_id: str, days_ago: int) -> StatusChange:
    return StatusChange(
        id=change_id,
        customer_id="C0001",
        old_status="active",
        new_status="expiring",
        reason="auto_status_update",
        changed_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


async def test_cleanup_applies_every_retention(
    sample_url: str,
    sample_repo: PowertradeRepository,
    make_task: Callable[..., Any],
    var_dir: Path,
) -> None:
    now = datetime.now(UTC)
    store = create_store(sample_url)
    async with store:
        old_run, recent_run, running = _run(120, now), _run(10, now), _run(None, now)
        await store.insert_runs([old_run, recent_run, running])
    await sample_repo.insert_many(
        "customer_status_history", [_change("h-old", 400), _change("h-new", 3)]
    )
    temp = var_dir / "tmp"
    (temp / "export" / "empty").mkdir(parents=True)
    old_file, new_file = temp / "export" / "old.csv", temp / "new.csv"
    old_file.write_text("x" * 100)
    new_file.write_text("y")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_file, (two_days_ago, two_days_ago))
    report = var_dir / "reports" / "daily" / "report_daily_2024-01-01.csv"
    report.parent.mkdir(parents=True)
    report.write_text("r")
    os.utime(report, (two_days_ago, two_days_ago))

    task = make_task(DataCleanupTask, sample_url)
    result = await task.execute()

    assert result["statistics"] == {
        "runs_purged": 1,
        "status_history_purged": 1,
        "temp_files_deleted": 1,
        "report_files_deleted": 0,
        "bytes_freed": 100,
    }
    async with create_store(sample_url) as store:
        assert await store.get_run(old_run.id) is None
        assert await store.get_run(recent_run.id) is not None
        assert await store.get_run(running.id) is not None
    assert [h.id for h in await sample_repo.list_status_changes()] == ["h-new"]
    assert new_file.exists() and not old_file.exists()
    assert not (temp / "export").exists()  # emptied directories go too
    assert report.exists()

    with_reports = await task.execute(report_days=1)
    assert with_reports["statistics"]["report_files_deleted"] == 1
    assert not report.exists()
