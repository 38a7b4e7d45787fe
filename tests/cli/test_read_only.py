"""Commands that read store nothing, not even the tasks' default schedules (an issue: run
from a checkout against production, ``schedkit tasks list`` stored the default schedule of
a task no node had the code of yet, and a read-only database user got a write failure).
``tasks list``, ``tasks show`` and ``schedules`` show a default schedule no node stored
yet as a node's start will store it, marked as such."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from schedkit.cli.state import with_roles
from schedkit.store import create_store
from tests.cli.conftest import SAMPLE_PACKAGE, Cli, write_config

MARK = "every day at 02:00 (Asia/Shanghai) (default, stored when a node starts)"
MARK_ZH = "每天 02:00（Asia/Shanghai）（默认调度，节点启动时保存）"


@pytest.fixture
def fresh(cli: Cli) -> Cli:
    """A store just created by ``db upgrade`` (which stores no schedule), with tasks and
    workflows; ``nightly_report`` has a default schedule, daily at 02:00."""
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.workflow_tasks"))
    assert cli("db", "upgrade").exit_code == 0
    return cli


def _stored_ids(cli: Cli) -> list[str]:
    async def read() -> list[str]:
        async with create_store(f"sqlite:///{cli.db}") as store:
            return [s.id for s in await store.list_schedules()]

    return asyncio.run(read())


def _next_two_am() -> datetime:
    """When a daily 02:00 (Asia/Shanghai) schedule stored now fires first."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    fire = now.replace(hour=2, minute=0, second=0, microsecond=0)
    return fire if fire > now else fire + timedelta(days=1)


def _start_a_node(cli: Cli) -> None:
    """Start and stop a node that neither fires nor executes: its start stores defaults."""
    config = with_roles(SchedkitConfig.load(cli.config), scheduler=False, executor=False)

    async def start() -> None:
        scheduler = Scheduler(config, registry=TaskRegistry())
        await scheduler.start()
        await scheduler.stop()

    asyncio.run(start())


def _json(cli: Cli, *args: str) -> Any:
    result = cli("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["tasks", "list"],
        ["tasks", "show", "nightly_report"],
        ["schedules"],
        ["schedules", "--task", "nightly_report"],
        ["history"],
        ["history", "hello"],
        ["nodes"],
        ["token", "list"],
        ["workflow", "list"],
        ["workflow", "show", "greeting"],
        ["workflow", "runs"],
        ["purge", "--older-than", "90d", "--dry-run"],
        ["db", "rebuild-rollups"],
    ],
)
def test_a_read_stores_no_default_schedule(fresh: Cli, args: list[str]) -> None:
    result = fresh(*args)
    assert result.exit_code == 0, result.output
    assert _stored_ids(fresh) == []


def test_backfill_status_stores_no_default_schedule(fresh: Cli) -> None:
    result = fresh("backfill", "nightly_report", "--status")
    assert "has no backfill" in result.output
    assert _stored_ids(fresh) == []


def test_tasks_list_shows_the_default_schedule_a_node_will_store(fresh: Cli) -> None:
    out = fresh("tasks", "list").stdout
    (row,) = [line for line in out.splitlines() if "nightly_report" in line]
    assert MARK in row
    expected = _next_two_am()
    assert f"{expected:%Y-%m-%d %H:%M:%S}" in row
    zh = fresh("--lang", "zh", "tasks", "list").stdout
    assert MARK_ZH in zh

    tasks = {t["name"]: t for t in _json(fresh, "tasks", "list")["tasks"]}
    report = tasks["nightly_report"]
    (schedule,) = report["schedules"]
    assert (schedule["id"], schedule["origin"], schedule["stored"]) == (
        "nightly_report",
        "code",
        False,
    )
    assert schedule["next_fire_time_local"] == expected.isoformat()
    assert report["next_fire_time_local"] == expected.isoformat()
    assert report["schedule_count"] == 1 and report["paused"] is False
    assert tasks["hello"]["schedules"] == [] and tasks["hello"]["schedule_count"] == 0
    assert _stored_ids(fresh) == []


def test_tasks_show_and_schedules_show_it_marked(fresh: Cli) -> None:
    shown = fresh("tasks", "show", "nightly_report", "-n", "0").stdout
    assert "every day at 02:00 (Asia/Shanghai)" in shown
    assert "(default, stored when a node starts)" in shown
    assert "manual only" not in shown
    zh = fresh("--lang", "zh", "tasks", "show", "nightly_report").stdout
    assert "（默认调度，节点启动时保存）" in zh
    detail = _json(fresh, "tasks", "show", "nightly_report")
    assert [(s["id"], s["stored"]) for s in detail["schedules"]] == [("nightly_report", False)]

    listed = fresh("schedules").stdout
    assert MARK in listed and "1–1 / 1" in listed
    assert MARK_ZH in fresh("--lang", "zh", "schedules").stdout
    page = _json(fresh, "schedules")
    assert page["total"] == 1
    (schedule,) = page["schedules"]
    assert (schedule["id"], schedule["stored"]) == ("nightly_report", False)
    assert schedule["next_fire_time_local"] == _next_two_am().isoformat()
    assert _stored_ids(fresh) == []


def test_schedules_pages_the_pending_defaults_first_then_the_stored_ones(fresh: Cli) -> None:
    async def add() -> None:
        # A façade that stores no default, as a read command's: only hello's is stored.
        config = with_roles(SchedkitConfig.load(fresh.config), scheduler=False, executor=False)
        scheduler = Scheduler(config, registry=TaskRegistry())
        await scheduler.start(store_defaults=False)
        try:
            await scheduler.add_task("hello", "*/5 * * * *")
            await scheduler.add_task("hello", "0 * * * *", schedule_id="hello:hourly")
        finally:
            await scheduler.stop()

    asyncio.run(add())
    assert _stored_ids(fresh) == ["hello", "hello:hourly"]
    page = _json(fresh, "schedules")
    assert page["total"] == 3
    listed = [(s["id"], s["stored"]) for s in page["schedules"]]
    assert listed == [("nightly_report", False), ("hello", True), ("hello:hourly", True)]
    pages = [_json(fresh, "schedules", "-n", "1", "--offset", str(i)) for i in range(4)]
    assert [[s["id"] for s in p["schedules"]] for p in pages] == [
        ["nightly_report"],
        ["hello"],
        ["hello:hourly"],
        [],
    ]
    second = _json(fresh, "schedules", "-n", "2", "--offset", "1")["schedules"]
    assert [s["id"] for s in second] == ["hello", "hello:hourly"]
    only = _json(fresh, "schedules", "--task", "hello")
    assert only["total"] == 2 and all(s["stored"] for s in only["schedules"])
    detail = _json(fresh, "tasks", "show", "hello")
    assert detail["schedule_count"] == 2


def test_once_a_node_stored_it_it_is_an_ordinary_schedule(fresh: Cli) -> None:
    _start_a_node(fresh)
    assert _stored_ids(fresh) == ["nightly_report"]
    out = fresh("tasks", "list").stdout
    assert "every day at 02:00 (Asia/Shanghai)" in out and "default, stored" not in out
    assert "节点启动时保存" not in fresh("--lang", "zh", "schedules").stdout
    tasks = {t["name"]: t for t in _json(fresh, "tasks", "list")["tasks"]}
    assert [s["stored"] for s in tasks["nightly_report"]["schedules"]] == [True]
    assert [s["stored"] for s in _json(fresh, "schedules")["schedules"]] == [True]


def test_a_write_command_stores_it(fresh: Cli) -> None:
    assert fresh("schedule", "hello", "--cron", "*/5 * * * *").exit_code == 0
    assert _stored_ids(fresh) == ["hello", "nightly_report"]
    page = _json(fresh, "schedules")
    assert [(s["id"], s["stored"]) for s in page["schedules"]] == [
        ("hello", True),
        ("nightly_report", True),
    ]
    assert "default, stored" not in fresh("tasks", "show", "nightly_report").stdout


def test_a_default_deleted_on_purpose_is_not_shown_as_pending(fresh: Cli) -> None:
    assert fresh("schedule", "nightly_report", "--remove").exit_code == 0
    assert _stored_ids(fresh) == []
    tasks = {t["name"]: t for t in _json(fresh, "tasks", "list")["tasks"]}
    assert tasks["nightly_report"]["schedules"] == []
    assert tasks["nightly_report"]["next_fire_time"] is None
    assert "manual only" in fresh("tasks", "show", "nightly_report").stdout
    assert _json(fresh, "schedules")["schedules"] == []
    assert "no schedules" in fresh("schedules").stdout
    _start_a_node(fresh)  # as shown: a start does not bring it back
    assert _stored_ids(fresh) == []


def test_a_pending_default_on_a_calendar_fires_as_next_says(cli: Cli) -> None:
    """Its next fire is the one its business calendar allows, as ``schedkit next`` lists."""
    write_config(cli.config, cli.db, ("tests.cli.calendar_tasks",))
    assert cli("db", "upgrade").exit_code == 0
    preview = _json(cli, "next", "workday_report", "-n", "1")
    (listed,) = preview["schedules"]
    tasks = {t["name"]: t for t in _json(cli, "tasks", "list")["tasks"]}
    (schedule,) = tasks["workday_report"]["schedules"]
    assert schedule["stored"] is False
    assert schedule["next_fire_time_local"] == listed["fires"][0]
    assert _stored_ids(cli) == []
