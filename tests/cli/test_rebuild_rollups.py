"""``schedkit db rebuild-rollups``: after an upgrade audit saw the stats from rollups
count 108 runs where the exact query counted 118 (runs finished by a node of older code
never reached the rollups), with no way to repair them."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from schedkit.models import AuditEvent, RunStatus, TaskStats
from schedkit.store import create_store
from tests.cli.conftest import Cli, one_error_line
from tests.store._contract import SEC, T0, add_runs, make_run


def _seed(cli: Cli) -> None:
    """Five finished runs of task ``t`` in one hour and a pending one, through the store."""

    async def seed() -> None:
        async with create_store(f"sqlite:///{cli.db}") as store:
            finished = [
                make_run(
                    schedule_id=f"s{i}",
                    scheduled_for=T0 - i * 60 * SEC,
                    status=RunStatus.SUCCESS,
                    duration=1.0 + i,
                )
                for i in range(5)
            ]
            await add_runs(store, *finished, make_run(schedule_id="later"))

    asyncio.run(seed())


def _stats(cli: Cli) -> tuple[list[TaskStats], list[TaskStats], list[AuditEvent]]:
    async def read() -> tuple[list[TaskStats], list[TaskStats], list[AuditEvent]]:
        async with create_store(f"sqlite:///{cli.db}") as store:
            since = T0 - 3600 * SEC
            return (
                await store.run_stats(since),
                await store.run_stats(since, exact=True),
                await store.list_audit(action="runs.rebuild_rollups"),
            )

    return asyncio.run(read())


def test_db_rebuild_rollups_repairs_the_stats_and_is_audited(stored: Cli) -> None:
    _seed(stored)
    # The rollups lose two of the five runs, as if finished by code that kept none.
    with sqlite3.connect(stored.db) as db:
        db.execute("UPDATE schedkit_run_rollups SET runs = runs - 2 WHERE task_name = 't'")
    approx, exact, _ = _stats(stored)
    assert approx[0].total == 4 and exact[0].total == 6  # the pending run counted in both

    done = stored("db", "rebuild-rollups")
    assert done.exit_code == 0, done.output
    assert (
        "rebuilt the run rollups: 5 finished run(s) of 1 task(s) in 1 task-hour rollup(s)"
        in done.stdout
    )
    assert "the rollups counted 3 before (+2 corrected)" in done.stdout
    approx, exact, audit = _stats(stored)
    assert approx[0].counts == exact[0].counts and approx[0].total == 6
    (event,) = audit
    assert event.actor.startswith("cli:") and event.target == "rollups"
    assert event.detail is not None and "5 finished run(s)" in event.detail

    again = json.loads(stored("db", "rebuild-rollups", "--json").stdout)
    assert {k: again[k] for k in ("tasks", "hours", "runs", "runs_before")} == {
        "tasks": 1,
        "hours": 1,
        "runs": 5,
        "runs_before": 5,
    }
    assert again["seconds"] >= 0 and again["store"] == f"sqlite:///{stored.db}"
    said = stored("--lang", "zh", "db", "rebuild-rollups")
    assert "已重建运行汇总" in said.stdout and "原本正确" in said.stdout


def test_db_rebuild_rollups_of_a_store_not_created(cli: Cli) -> None:
    result = cli("db", "rebuild-rollups")
    assert result.exit_code == 1
    assert "does not exist" in one_error_line(result.stderr)
    assert not cli.db.exists()
