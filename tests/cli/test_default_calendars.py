"""The calendars of the tasks' default schedules before a node stored them: ``schedkit
check`` and ``schedkit calendar warnings`` count them, and the calendar commands that
read store none of them (an audit on a fresh store: check said "no problem found", and
``calendar warnings`` wrote both default schedules, audited as the system)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from schedkit.calendars import CalendarSet
from schedkit.store import create_store
from tests.cli.conftest import Cli, write_config

PACKAGE = "tests.cli.calendar_tasks"


@pytest.fixture
def fresh(cli: Cli) -> Cli:
    """A store just created by ``db upgrade``, tasks whose defaults name calendars."""
    write_config(cli.config, cli.db, (PACKAGE,))
    assert cli("db", "upgrade").exit_code == 0
    return cli


def _stored(cli: Cli) -> tuple[int, int]:
    """(schedules, audit events) in the store."""

    async def read() -> tuple[int, int]:
        async with create_store(f"sqlite:///{cli.db}") as store:
            return len(await store.list_schedules()), len(await store.list_audit())

    return asyncio.run(read())


def _cn_workdays_warnings() -> int:
    """How many years of cn_workdays no source confirms now (depends on the date)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return len(CalendarSet().warnings(["cn_workdays"], today=today))


def test_check_counts_the_calendars_of_default_schedules_not_stored_yet(fresh: Cli) -> None:
    result = fresh("check", "--json")
    report = json.loads(result.stdout)
    assert {"check": "schedules", "result": "0 stored"} in report["info"]
    # The 3rd trading day of sd-spot: a calendar no store holds.
    assert [p["where"] for p in report["problems"]] == ["calendar sd-spot"]
    assert result.exit_code == 1
    warned = [w for w in report["warnings"] if w["where"] == "calendar cn_workdays"]
    assert len(warned) == _cn_workdays_warnings()
    assert _stored(fresh) == (0, 0)

    # A schedule set at runtime replaces the default: its calendar no longer counts.
    spec = json.dumps({"trigger": "cron", "hour": 16})
    assert fresh("schedule", "spot_settlement", "--spec", spec).exit_code == 0
    report = json.loads(fresh("check", "--json").stdout)
    assert report["problems"] == []


def test_check_before_the_store_exists_counts_the_default_schedules_calendars(
    cli: Cli,
) -> None:
    """A re-audit: in a new project, before ``db upgrade`` or any start, check said "no
    problem found" with no 2027 warning; the built-in calendars need no store."""
    write_config(cli.config, cli.db, (PACKAGE,))
    result = cli("check", "--json")
    report = json.loads(result.stdout)
    assert not cli.db.exists()
    assert [w["where"] for w in report["warnings"]].count("calendar cn_workdays") == (
        _cn_workdays_warnings()
    )
    assert [p["where"] for p in report["problems"]] == ["calendar sd-spot"]
    assert result.exit_code == 1


def test_calendar_reads_store_no_default_schedule_and_still_warn(fresh: Cli) -> None:
    for command in (["list"], ["show", "cn_workdays", "2027"], ["export", "cn_workdays"]):
        assert fresh("calendar", *command).exit_code == 0
    warned = fresh("calendar", "warnings", "--json")
    assert warned.exit_code == 1
    found = json.loads(warned.stdout)
    assert [w["calendar"] for w in found if w["code"] == "calendar_missing"] == ["sd-spot"]
    assert len([w for w in found if w["calendar"] == "cn_workdays"]) == _cn_workdays_warnings()
    assert _stored(fresh) == (0, 0)
