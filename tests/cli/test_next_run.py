"""The "next run" the CLI prints (``schedule``, ``tasks``, ``tasks show``, ``resume``) is
the next fire the schedule's business calendar allows, as ``schedkit next`` previews
it, not the trigger's nominal fire on a day the calendar excludes.

The schedules start in 2030 (``start_date``), so their nominal next fire is a known
day, Saturday 5 January 2030, whatever today is."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import Cli

SATURDAY_START = "2030-01-05T00:00:00"


def six_daily(calendar: str) -> str:
    spec = {"trigger": "cron", "hour": 6, "start_date": SATURDAY_START, "calendar": calendar}
    return json.dumps(spec)


def hello_row(table: str) -> str:
    (row,) = [line for line in table.splitlines() if line.lstrip().startswith("hello ")]
    return row


def test_schedule_tasks_and_resume_print_the_run_the_calendar_allows(stored: Cli) -> None:
    cli = stored
    made = cli("schedule", "hello", "--spec", six_daily("weekdays"))
    assert made.exit_code == 0, made.output
    assert "next run 2030-01-07 06:00:00" in made.stdout  # Monday, not Saturday
    preview = cli("next", six_daily("weekdays"), "-n", "1")
    assert "2030-01-07 06:00:00 Mon" in preview.stdout

    assert "2030-01-07 06:00:00" in hello_row(cli("tasks").stdout)
    shown = cli("tasks", "show", "hello", "-n", "0").stdout
    assert "2030-01-07 06:00:00" in shown and "2030-01-05 06:00:00" not in shown
    listed: dict[str, Any] = json.loads(cli("--json", "tasks").stdout)
    hello = next(t for t in listed["tasks"] if t["name"] == "hello")
    assert hello["next_fire_time_local"] == "2030-01-07T06:00:00+08:00"
    assert [s["next_fire_time_local"] for s in hello["schedules"]] == ["2030-01-07T06:00:00+08:00"]

    assert cli("pause", "hello").exit_code == 0
    resumed = cli("resume", "hello")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed hello; next run 2030-01-07 06:00:00" in resumed.stdout
    as_json: dict[str, Any] = json.loads(
        cli("schedule", "hello", "--spec", six_daily("weekdays"), "--json").stdout
    )
    assert as_json["next_fire_time_local"] == "2030-01-07T06:00:00+08:00"
    assert as_json["next_fire_note"] is None


def test_a_stored_calendar_decides_the_next_run(stored: Cli) -> None:
    cli = stored
    assert cli("calendar", "set", "plant", "--base", "all").exit_code == 0
    closed = cli("calendar", "override", "add", "plant", "2030-01-05", "--closed")
    assert closed.exit_code == 0, closed.output
    made = cli("schedule", "hello", "--spec", six_daily("plant"))
    assert made.exit_code == 0, made.output
    assert "next run 2030-01-06 06:00:00" in made.stdout  # Sunday: the plant works then
    assert "2030-01-06 06:00:00" in hello_row(cli("tasks").stdout)


def test_a_run_the_calendar_never_allows_is_said(stored: Cli) -> None:
    cli = stored
    once = json.dumps(
        {"trigger": "date", "run_date": "2030-01-05T06:00:00", "calendar": "weekdays"}
    )
    made = cli("schedule", "hello", "--spec", once)
    assert made.exit_code == 0, made.output
    assert "next run calendar weekdays allows none of its remaining fires" in made.stdout
    zh = cli("--lang", "zh", "tasks", "show", "hello", "-n", "0").stdout
    assert "日历 weekdays 不允许其余任何一次触发" in zh
