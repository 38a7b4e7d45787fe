"""Business calendars on a running cluster: an operator's edit on one node is in force
at the next fire on the node that fires, without a restart (issue #14)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest

from schedkit import OffsetClock, RunStatus, Scheduler, TaskRegistry, task
from schedkit.calendars import (
    Base,
    Calendar,
    CalendarImportError,
    CalendarStore,
    Override,
    OverrideKind,
    Source,
    parse_overrides,
)
from schedkit.errors import ValidationError
from schedkit.models import Run
from schedkit.store import create_store
from tests.notices import whole
from tests.search_clocks import slow_calendar_days

from .conftest import MakeScheduler, fast_config
from .nodes import Node, read_marks
from .proc_tasks import quick

T = TypeVar("T")

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A Saturday in 2027, a year no package confirms: closed by the estimate until an
#: operator enters it as a make-up workday (a hypothetical 调休 of the 2027 notice).
MAKEUP_SATURDAY = datetime(2027, 1, 9, 10, 0, tzinfo=SHANGHAI)


async def _wait_for(predicate: Callable[[], Awaitable[T]], what: str, timeout: float = 15.0) -> T:
    """Poll ``predicate`` until it returns something truthy (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_override_entered_on_one_node_takes_effect_on_the_next_fire(
    make_scheduler: MakeScheduler,
) -> None:
    @task("daily_report_2027", category="t")
    async def report() -> None:
        return None

    clock = OffsetClock(MAKEUP_SATURDAY - datetime.now(SHANGHAI))
    nodes = []
    for _ in range(2):
        registry = TaskRegistry()
        registry.register_task(report)
        nodes.append(await make_scheduler(registry=registry, clock=clock))

    async def has_leader() -> bool:
        return any(n.is_leader for n in nodes)

    await _wait_for(has_leader, "a leader")
    leader = next(n for n in nodes if n.is_leader)
    other = next(n for n in nodes if n is not leader)
    await other.add_task(
        "daily_report_2027",
        {"trigger": {"trigger": "interval", "seconds": 0.2, "calendar": "cn_workdays"}},
    )

    async def skipped() -> list[Run]:
        return await leader.list_runs("daily_report_2027", status=RunStatus.SKIPPED, limit=5)

    before = await _wait_for(skipped, "a calendar skip")
    assert "2027-01-09 closed, decided by holidays (not confirmed)" in (before[0].reason or "")
    assert [w.title() for w in await other.calendars.warnings()] == [
        "calendar cn_workdays for 2027 not confirmed"
    ]

    # The operator enters the (hypothetical) 2027 notice on the node that does not fire.
    notice = whole(2027, "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 元旦调休\n")
    await other.calendars.enter_notice(2027, notice, confirmed=True)

    async def succeeded() -> list[Run]:
        return await leader.list_runs("daily_report_2027", status=RunStatus.SUCCESS, limit=5)

    ran = await _wait_for(succeeded, "a run after the notice")
    assert ran[0].node_id in {n.node_id for n in nodes}
    assert await other.calendars.warnings() == []
    await other.pause_task("daily_report_2027")

    # And back: a calendar override closing the day wins over the notice.
    await leader.calendars.add_overrides(
        "cn_workdays", [{"date": "2027-01-09", "open": False, "note": "系统维护"}]
    )
    await other.resume_task("daily_report_2027")

    async def closed_again() -> list[Run]:
        runs = await skipped()
        return [r for r in runs if "decided by override" in (r.reason or "")]

    again = await _wait_for(closed_again, "a skip decided by the override")
    assert "2027-01-09 closed (系统维护)" in (again[0].reason or "")


async def test_a_notice_entered_while_a_process_cluster_runs(
    store_url: str, tmp_path: Path
) -> None:
    """Two node processes fire a workday schedule on a Saturday of 2027; an operator
    (a third process's façade, as the CLI or API would) enters the 2027 notice making it
    a make-up workday; the cluster runs the schedule from its next fire, no restart."""
    marker = tmp_path / "marks.jsonl"
    clock_at = MAKEUP_SATURDAY.isoformat()
    nodes = [Node(store_url, marker, tasks=["quick"], clock_at=clock_at) for _ in range(2)]
    config = fast_config(store_url, scheduler={"enabled": False}, executor={"enabled": False})
    registry = TaskRegistry()
    registry.register_task(quick)
    # The operator's clock agrees with the nodes' (the schedule's first fire comes from it).
    operator = Scheduler(
        config, registry=registry, clock=OffsetClock(MAKEUP_SATURDAY - datetime.now(SHANGHAI))
    )
    try:
        await asyncio.gather(*(n.ready() for n in nodes))
        await operator.start()
        await operator.add_task(
            "quick",
            {"trigger": {"trigger": "interval", "seconds": 0.5, "calendar": "cn_workdays"}},
        )

        async def skipped() -> list[Run]:
            return await operator.list_runs("quick", status=RunStatus.SKIPPED, limit=5)

        before = await _wait_for(skipped, "calendar skips on the cluster")
        assert "decided by holidays (not confirmed)" in (before[0].reason or "")
        await operator.calendars.enter_notice(
            2027, whole(2027, "放假 2027-01-01 元旦\n上班 2027-01-09 元旦调休\n"), confirmed=True
        )

        async def quick_ran() -> list[dict[str, object]]:
            return [m for m in read_marks(marker) if m["event"] == "quick"]

        ran = await _wait_for(quick_ran, "a run on the cluster after the notice")
        assert ran
        await operator.pause_task("quick")
    finally:
        codes = [n.stop() for n in nodes]
        await operator.stop()
    assert codes == [0, 0]
    runs = await _all_runs(store_url)
    skipped_after = [
        r for r in runs if r.status is RunStatus.SKIPPED and "decided by notice" in (r.reason or "")
    ]
    assert skipped_after == []  # the notice opened the day: nothing skipped by it


async def _all_runs(store_url: str) -> list[Run]:
    async with create_store(store_url) as store:
        return await store.list_runs(limit=1000)


async def test_the_facade_previews_against_the_stored_calendars(
    make_scheduler: MakeScheduler,
) -> None:
    clock = OffsetClock(datetime(2026, 12, 30, 8, 0, tzinfo=SHANGHAI) - datetime.now(SHANGHAI))
    s = await make_scheduler(clock=clock, scheduler={"enabled": False})
    config = {"trigger": "cron", "hour": 9, "minute": 0, "calendar": "cn_workdays"}
    found = await s.calendars.preview(config, 3)
    assert [f.astimezone(SHANGHAI).day for f in found.fires] == [30, 31, 4]
    assert [w.title() for w in found.warnings] == ["calendar cn_workdays for 2027 not confirmed"]
    await s.calendars.add_overrides(
        "cn_workdays", [{"date": "2027-01-02", "open": True, "kind": "makeup_workday"}]
    )
    found = await s.calendars.preview(config, 3)
    assert [f.astimezone(SHANGHAI).day for f in found.fires] == [30, 31, 2]
    # The blocking preview uses the calendars as this node last read them.
    assert [f.day for f in s.preview(config, 3)] == [30, 31, 2]
    assert (await s.calendars.get_stored("cn_workdays")) is not None
    assert await s.calendars.get_stored("weekdays") is None
    assert (await s.calendars.notices()).version == 0
    assert await s.calendars.referenced() == []


async def test_third_workday_rule_fires_on_the_make_up_saturday(
    make_scheduler: MakeScheduler,
) -> None:
    """October 2025: 1–8 off, so the 3rd workday is Saturday the 11th (a make-up day)."""
    third = {"name": "cn_workdays", "nth": 3}

    @task("settlement", category="t")
    async def settlement() -> None:
        return None

    # The earlier day first: a node whose clock is later sees the first node's lease as
    # long expired.
    for day, status in ((10, RunStatus.SKIPPED), (11, RunStatus.SUCCESS)):
        at = datetime(2025, 10, day, 10, 0, tzinfo=SHANGHAI)
        registry = TaskRegistry()
        registry.register_task(settlement)
        node = await make_scheduler(
            registry=registry, clock=OffsetClock(at - datetime.now(SHANGHAI))
        )
        await node.add_task(
            "settlement", {"trigger": {"trigger": "interval", "seconds": 0.2, "calendar": third}}
        )

        async def judged(node: Scheduler = node, status: RunStatus = status) -> list[Run]:
            return await node.list_runs("settlement", status=status, limit=5)

        found = await _wait_for(judged, f"a {status.value} run on 2025-10-{day}")
        if status is RunStatus.SKIPPED:
            assert "not the 3rd open day of the month in cn_workdays: that is 2025-10-11" in (
                found[0].reason or ""
            )
        await node.remove_task("settlement")
        await node.stop()


async def test_a_fresh_node_previews_by_the_stored_notice(make_scheduler: MakeScheduler) -> None:
    """A time audit: ``Scheduler.preview`` on a node just started (its scheduler off)
    judged by the built-in estimate until something read the store, so a make-up
    Saturday entered in the notice was missing from its preview."""
    clock = OffsetClock(datetime(2027, 2, 18, 8, 0, tzinfo=SHANGHAI) - datetime.now(SHANGHAI))
    operator = await make_scheduler(clock=clock, scheduler={"enabled": False})
    await operator.calendars.enter_notice(
        2027,
        whole(2027, "放假 2027-02-06 至 2027-02-13 春节\n上班 2027-02-20 春节调休\n"),
        confirmed=True,
    )
    fresh = await make_scheduler(clock=clock, scheduler={"enabled": False})
    config = {"trigger": "cron", "hour": 9, "minute": 0, "calendar": "cn_workdays"}
    assert [f.strftime("%m-%d %a") for f in fresh.preview(config, 3)] == [
        "02-18 Thu",
        "02-19 Fri",
        "02-20 Sat",  # the make-up workday of the stored notice
    ]


async def test_a_notice_entry_is_audited_with_the_notice_before_and_after(
    make_scheduler: MakeScheduler,
) -> None:
    """An audit: ``calendar.notice`` events had no before/after (the detail only "9
    day(s), confirmed (version 1 -> 2)"), so three corrections looked the same."""
    s = await make_scheduler(scheduler={"enabled": False})
    first = "放假 2027-02-06 至 2027-02-13 春节\n上班 2027-02-20 春节调休\n"
    await s.calendars.enter_notice(2027, whole(2027, first), confirmed=True, actor="ops")
    moved = first.replace("2027-02-20", "2027-02-21")
    await s.calendars.enter_notice(
        2027, moved, confirmed=True, partial=True, replace=True, actor="ops"
    )
    await s.calendars.enter_notice(2027, "", confirmed=False, replace=True, actor="ops")
    events = await s.list_audit(action="calendar.notice")
    # By the versions they moved the record (two events may share a time stamp).
    entered, corrected, withdrawn = sorted(events, key=lambda e: (e.detail or "").split("(")[-1])
    days = len(parse_overrides(whole(2027, first), "notice", notice_year=2027))
    assert entered.after is not None
    lines = entered.after["lines"]
    assert lines[:2] == ["放假 2027-01-01 元旦", "放假 2027-02-05 农历除夕"]
    assert lines[2:4] == ["放假 2027-02-06 至 2027-02-13 春节", "上班 2027-02-20 春节调休"]
    notice = {
        "year": 2027,
        "format": "notice",
        "lines": lines,
        "days": days,
        "confirmed": True,
        "version": 1,
    }
    assert (entered.target, entered.before, entered.after) == ("2027", None, notice)
    assert entered.detail == f"{days} day(s), confirmed (version 0 -> 1)"
    # Replaced by a part of it, said partial: the year no longer confirmed, audited so.
    assert corrected.before == notice
    assert corrected.after == {
        **notice,
        "lines": ["放假 2027-02-06 至 2027-02-13 春节", "上班 2027-02-21 春节调休"],
        "days": 9,
        "confirmed": False,
        "version": 2,
    }
    assert corrected.detail == "9 day(s), not confirmed (version 1 -> 2)"
    assert (withdrawn.before, withdrawn.after) == (corrected.after, None)
    assert withdrawn.detail == "0 day(s), not confirmed (version 2 -> 3)"


async def test_the_calendar_preview_searches_off_the_event_loop(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A time audit: ``await scheduler.calendars.preview()`` of a spec that never fires
    (the 31st workday of a month) searched for 134 s on the event loop: the node lost
    its lease and 64 fires of another schedule were missed. It now searches in a thread
    for at most a second, and says it stopped (``complete`` false). The spec searched
    here is Sundays on a Monday-to-Friday calendar, each day's decision made to cost
    5 ms of CPU (a slow calendar): the search takes its whole second. Without that cost it ends
    in a few hundredths (four years without a fire end it), too quickly to show the loop
    running meanwhile."""
    slow_calendar_days(monkeypatch)
    s = await make_scheduler(scheduler={"enabled": False})
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        never = {"trigger": "cron", "hour": 9, "day_of_week": "sun", "calendar": "weekdays"}
        found = await s.calendars.preview(never, 2)
    finally:
        ticker.cancel()
    assert (found.fires, found.complete) == ([], False)
    assert ticks >= 5, "the event loop did not run while the preview searched"


NOTICE_2027 = "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 元旦调休\n"


async def test_a_chinese_calendars_year_is_confirmed_by_the_notice_not_by_confirming_it(
    make_scheduler: MakeScheduler,
) -> None:
    """An audit: the 2027 notice entered, then `calendar confirm cn_workdays 2027` as every
    warning said: every day without an override followed Monday to Friday (New Year's Day
    open, the make-up Saturday closed), without a word. Each way of confirming a year of
    a calendar with a Chinese base is refused, naming what to do instead; a store that
    holds such a year from before is decided by the notice."""
    s = await make_scheduler(scheduler={"enabled": False}, executor={"enabled": False})
    cals = s.calendars
    # Written before the refusal: a confirmed 2027 of cn_workdays, and a closed day.
    legacy = Calendar(
        name="cn_workdays",
        base=Base.CN_WORKDAYS,
        overrides=(Override(date=date(2027, 1, 8), open=False, kind=OverrideKind.EXTRA_CLOSED),),
        confirmed_years=frozenset({2027}),
    )
    await CalendarStore(s.store).save(legacy, expected_version=0)
    await cals.put({"name": "settle", "base": "cn_holidays"}, expected_version=0)
    await cals.enter_notice(2027, whole(2027, NOTICE_2027), confirmed=True)
    books = await cals.snapshot(["cn_workdays", "settle"])
    for day, opens, source in (
        (date(2027, 1, 1), False, Source.NOTICE),
        (date(2027, 1, 9), True, Source.NOTICE),
        (date(2027, 1, 8), False, Source.OVERRIDE),  # its own dated override still wins
    ):
        found = books.decide("cn_workdays", day)
        assert (found.open, found.source) == (opens, source), day

    refusals: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("year", lambda: cals.confirm_year("cn_workdays", 2028)),
        ("year", lambda: cals.confirm_year("settle", 2027)),
        ("year", lambda: cals.confirm_year("cn_skip_holidays", 2027)),
        ("confirm_years", lambda: cals.add_overrides("settle", [], confirm_years=[2027])),
        (
            "confirm_years",
            lambda: cals.import_text("cn_workdays", "", "csv", confirm_years=[2028]),
        ),
        (
            "confirmed_years",
            lambda: cals.put(
                {"name": "settle", "base": "cn_holidays", "confirmed_years": [2027]},
                expected_version=1,
            ),
        ),
    ]
    for field, refused in refusals:
        with pytest.raises(ValidationError) as caught:
            await refused()
        assert caught.value.field == field
        message = caught.value.message
        assert "State Council's holiday notice" in message, message
        year = "2028" if "2028" in message else "2027"
        assert f"schedkit calendar notice {year} FILE" in message, message
        assert "the console's calendar page" in message
        assert f"PUT /calendar-notices/{year}" in message
    assert (await cals.get("settle")).version == 1, "nothing saved"
    assert (await cals.get("cn_workdays")).calendar.confirmed_years == {2027}
    assert await s.store.list_audit(action="calendar.confirm") == []

    # What it already holds may be sent back as read (`calendar set`), and undone.
    held = (await cals.get("cn_workdays")).calendar.to_json()
    again = await cals.put({**held, "description": "ops"}, expected_version=1)
    undone = await cals.confirm_year("cn_workdays", 2027, False)
    assert undone.version == again.version + 1 and not undone.calendar.confirmed_years
    # A calendar whose days are entered is confirmed as before.
    await cals.put({"name": "sd-spot", "base": "none"}, expected_version=0)
    await cals.import_text("sd-spot", "2027-01-04,open,trading_day,\n", "csv", confirm_years=[2027])
    spot = await cals.confirm_year("sd-spot", 2028)
    assert spot.calendar.confirmed_years == {2027, 2028}


async def test_a_note_holding_nul_is_a_line_error_on_every_store(
    make_scheduler: MakeScheduler,
) -> None:
    """PostgreSQL keeps no text holding NUL: a calendar file's note with ``\\u0000`` passed
    every check and failed the store's write (an API 500); the API's NUL guard reads the
    request body, not JSON texts inside it."""
    s = await make_scheduler(scheduler={"enabled": False})
    await s.calendars.put({"name": "spot", "base": "none"}, expected_version=0)
    line = '{"date": "2027-01-04", "open": false, "note": "a\\u0000b"}'
    with pytest.raises(CalendarImportError, match="line 1: note: holds a NUL character"):
        await s.calendars.import_text("spot", line, "jsonl")
    with pytest.raises(CalendarImportError, match="holds a NUL character"):
        await s.calendars.enter_notice(2031, "放假 2031-01-01 元\0旦", confirmed=True)
    with pytest.raises(ValidationError, match="holds a NUL character"):
        await s.calendars.put(
            {"name": "spot2", "base": "none", "description": "x\0"}, expected_version=0
        )
    assert (await s.calendars.get("spot")).calendar.overrides == ()
