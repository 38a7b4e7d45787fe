"""``schedkit next NAME``: the fires of a task's schedules, or of a stored schedule by its
id (an audit: ``schedkit next workday_report`` was read as a crontab of one field,
"wrong number of fields: 1", though the command table promises any schedule's fires)."""

from __future__ import annotations

import asyncio
import json

import pytest

from schedkit.store import create_store
from tests.cli.conftest import Cli, one_error_line, write_config

PACKAGE = "tests.cli.calendar_tasks"


@pytest.fixture
def project(cli: Cli) -> Cli:
    """Tasks whose default schedules name calendars; no store yet."""
    write_config(cli.config, cli.db, (PACKAGE,))
    return cli


def _schedule_count(cli: Cli) -> int:
    async def read() -> int:
        async with create_store(f"sqlite:///{cli.db}") as store:
            return len(await store.list_schedules())

    return asyncio.run(read())


def test_a_task_name_lists_its_default_schedule_before_any_node_stored_it(project: Cli) -> None:
    cli = project
    # No store: the task's code alone says when it runs.
    result = cli("next", "workday_report", "-n", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "default schedule of task workday_report, not stored yet (a node's start stores it)"
    )
    assert lines[1] == "every day at 09:00 (Asia/Shanghai), on Chinese working days only"
    assert lines[2].startswith("  1. ") and "calendar cn_workdays: " in lines[2]
    assert not cli.db.exists() and "store " not in result.stdout

    assert cli("db", "upgrade").exit_code == 0
    data = json.loads(cli("next", "workday_report", "-n", "2", "--json").stdout)
    (listed,) = data["schedules"]
    assert (listed["id"], listed["task"], listed["stored"]) == (
        "workday_report",
        "workday_report",
        False,
    )
    assert len(listed["fires"]) == 2 and listed["problem"] is None
    assert _schedule_count(cli) == 0, "a preview stores nothing"
    zh = cli("--lang", "zh", "next", "workday_report", "-n", "1").stdout
    assert zh.startswith("任务 workday_report 的默认调度，尚未保存（节点启动时保存）\n每天 09:00")


def test_a_task_name_lists_its_stored_schedules_and_an_id_one(project: Cli) -> None:
    cli = project
    extra = ["--cron", "0 10 * * 1-5", "--id", "workday_report:extra"]
    assert cli("schedule", "workday_report", *extra).exit_code == 0
    assert cli("schedule", "workday_report", "--interval", "2h", "--max-runs", "2").exit_code == 0
    assert cli("pause", "spot_settlement").exit_code == 0

    data = json.loads(cli("next", "workday_report", "-n", "5", "--json").stdout)
    assert data["schedule_count"] == 2
    ids = [(s["id"], s["stored"], s["paused"]) for s in data["schedules"]]
    assert ids == [("workday_report", True, False), ("workday_report:extra", True, False)]
    every_2h, weekdays = data["schedules"]
    assert (len(every_2h["fires"]), every_2h["complete"]) == (2, True)  # max_runs 2
    assert weekdays["description"] == "at 10:00 on Monday–Friday (Asia/Shanghai)"
    assert len(weekdays["fires"]) == 5

    text = cli("next", "workday_report", "-n", "5").stdout
    assert "schedule workday_report of task workday_report\nevery 2 hours\n" in text
    assert "(no more fires)" in text
    assert "\nschedule workday_report:extra of task workday_report\n" in text

    one = json.loads(cli("next", "workday_report:extra", "-n", "1", "--json").stdout)
    assert [s["id"] for s in one["schedules"]] == ["workday_report:extra"]
    paused = cli("next", "spot_settlement", "-n", "1").stdout
    assert paused.startswith(
        "schedule spot_settlement of task spot_settlement (paused: resumed, it fires from "
        "then on)\nwarning unknown calendar 'sd-spot'"
    )


def test_a_name_that_is_neither_says_what_next_takes(project: Cli) -> None:
    cli = project
    assert cli("db", "upgrade").exit_code == 0
    typo = cli("next", "workday_reprot")
    assert typo.exit_code == 2
    error = one_error_line(typo.stderr)
    assert error.startswith(
        "error: 'workday_reprot' is not a task or a stored schedule (did you mean "
        "'workday_report'?): `schedkit next` takes a crontab expression"
    )
    assert "a task name (its schedules) or a schedule id" in error
    zoned = cli("next", "workday_report", "--tz", "UTC")
    assert zoned.exit_code == 2
    assert "--tz is the zone of a crontab expression or a JSON schedule" in zoned.stderr
    manual = cli("next", "adhoc_export")
    assert manual.exit_code == 0
    assert manual.stdout.startswith(
        "task adhoc_export has no schedule: it runs only when started by hand\nstore "
    )
    # A crontab macro and an expression of fields are still crontabs.
    assert cli("next", "@daily", "-n", "1").stdout.startswith("every day at 00:00")
