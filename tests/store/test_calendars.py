"""Calendars in the store's key/value area, on every backend: edits are compare-and-set,
and a change made through one node's store is seen at the next refresh of another."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from schedkit.calendars import (
    Base,
    Calendar,
    CalendarBook,
    CalendarRef,
    CalendarStore,
    Override,
    OverrideKind,
    Source,
    WarningCode,
    parse_overrides,
)
from schedkit.calendars.storage import calendar_key
from schedkit.errors import (
    CalendarConflictError,
    CalendarNotFoundError,
    NoticeDropsDaysError,
    ValidationError,
)
from schedkit.store import Store, create_store
from tests.notices import whole
from tests.unit.test_calendars_decide import OPEN_YEAR, first_weekday

SPOT = Calendar(
    name="spot",
    base=Base.NONE,
    description="省内现货市场交易日",
    overrides=(Override(date=date(2026, 1, 5), open=True, kind=OverrideKind.TRADING_DAY),),
)


def trading_day(day: date) -> Override:
    return Override(date=day, open=True, kind=OverrideKind.TRADING_DAY)


async def test_save_load_list_delete(store: Store) -> None:
    cals = CalendarStore(store)
    assert await cals.get("spot") is None
    with pytest.raises(CalendarNotFoundError):
        await cals.load("spot")
    saved = await cals.save(SPOT, expected_version=0)
    assert saved.calendar == SPOT and saved.version == 1 and saved.updated_at is not None
    assert (await cals.load("spot")).calendar == SPOT

    listed = {item.calendar.name: item.version for item in await cals.list()}
    assert listed == {
        "all": 0,
        "cn_holidays": 0,
        "cn_workdays": 0,
        "spot": 1,
        "weekdays": 0,
    }

    await cals.delete("spot", expected_version=1)
    assert await cals.get("spot") is None
    assert "spot" not in {item.calendar.name for item in await cals.list()}
    with pytest.raises(CalendarNotFoundError):
        await cals.delete("spot", expected_version=1)

    again = await cals.save(SPOT, expected_version=0)  # re-created over its tombstone
    assert again.version == 3


async def test_builtin_calendar_can_be_stored_and_reverts_when_deleted(store: Store) -> None:
    cals = CalendarStore(store)
    builtin = await cals.load("cn_skip_holidays")
    assert builtin.version == 0 and builtin.calendar.name == "cn_holidays"
    closed = Override(
        date=date(2026, 12, 31), open=False, kind=OverrideKind.EXTRA_CLOSED, note="年终盘点"
    )
    saved = await cals.save(builtin.calendar.with_overrides([closed]), expected_version=0)
    assert (await cals.load("cn_skip_holidays")).calendar.overrides == (closed,)
    await cals.delete("cn_holidays", expected_version=saved.version)
    assert (await cals.load("cn_holidays")).calendar == builtin.calendar


async def test_concurrent_edits_never_lose_one_another(store: Store) -> None:
    cals = CalendarStore(store)
    created = await cals.save(SPOT, expected_version=0)
    # Two operators read version 1 and each add a day.
    first = created.calendar.with_overrides([trading_day(date(2026, 1, 6))])
    second = created.calendar.with_overrides([trading_day(date(2026, 1, 7))])
    await cals.save(first, expected_version=created.version)
    with pytest.raises(CalendarConflictError) as caught:
        await cals.save(second, expected_version=created.version)
    assert (caught.value.expected_version, caught.value.current_version) == (1, 2)
    assert "read it again" in str(caught.value)
    # The second operator re-reads and redoes the edit: both days are kept.
    current = await cals.load("spot")
    await cals.save(
        current.calendar.with_overrides([trading_day(date(2026, 1, 7))]),
        expected_version=current.version,
    )
    days = [o.date.day for o in (await cals.load("spot")).calendar.overrides]
    assert days == [5, 6, 7]


async def test_racing_creators_one_wins(store: Store) -> None:
    cals = CalendarStore(store)
    results = await asyncio.gather(
        *(cals.save(SPOT.replace(description=str(n)), expected_version=0) for n in range(5)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, CalendarConflictError) for r in results if r not in winners)
    assert (await cals.load("spot")).calendar.description == winners[0].calendar.description
    with pytest.raises(CalendarConflictError):
        await cals.delete("spot", expected_version=7)


async def test_stale_delete_is_a_conflict(store: Store) -> None:
    cals = CalendarStore(store)
    await cals.save(SPOT, expected_version=0)
    edited = await cals.save(
        SPOT.with_overrides([trading_day(date(2026, 1, 6))]), expected_version=1
    )
    with pytest.raises(CalendarConflictError):
        await cals.delete("spot", expected_version=1)
    assert (await cals.load("spot")).version == edited.version


async def test_notices_are_entered_per_year_with_compare_and_set(store: Store) -> None:
    cals = CalendarStore(store)
    empty = await cals.get_notices()
    assert empty.version == 0 and empty.notices.overrides == ()
    # A Saturday of March: the Spring Festival's make-up workday, never a holiday.
    text = f"放假 {OPEN_YEAR}-01-01 元旦\n上班 {first_weekday(OPEN_YEAR, 3, 5)} 春节调休\n"
    notice = parse_overrides(whole(OPEN_YEAR, text), "notice")
    entered = await cals.enter_notice(OPEN_YEAR, notice, confirmed=True)
    assert entered.version == 1
    assert entered.notices.confirmed_years == {OPEN_YEAR}
    assert list(entered.notices.overrides) == sorted(notice, key=lambda o: o.date)
    with pytest.raises(CalendarConflictError):
        await cals.enter_notice(OPEN_YEAR, notice[:1], confirmed=False, expected_version=0)
    assert (await cals.get_notices()).notices == entered.notices


async def test_invalid_name_is_refused_before_the_store(store: Store) -> None:
    cals = CalendarStore(store)
    for call in (cals.get("Spot Market"), cals.delete("../x", expected_version=1)):
        with pytest.raises(ValidationError, match="lower-case") as caught:
            await call
        assert caught.value.field == "name"
    with pytest.raises(ValidationError):
        await CalendarBook(store).refresh(["Spot Market"])


async def test_book_sees_an_edit_made_on_another_node(store_url: str) -> None:
    """Two stores on one database stand for two nodes: operator overrides for the year
    without a notice, entered on node A, change node B's decisions at its next refresh."""
    async with create_store(store_url) as node_a, create_store(store_url) as node_b:
        book = CalendarBook(node_b)
        names = ["cn_workdays", "settlement"]
        before = await book.refresh(names)
        new_year, saturday = date(OPEN_YEAR, 1, 1), first_weekday(OPEN_YEAR, 3, 5)
        assert not before.decide("cn_workdays", saturday).open  # estimate: a weekend
        assert before.decide("cn_workdays", new_year).source is Source.HOLIDAYS
        with pytest.raises(CalendarNotFoundError):
            before.decide("settlement", new_year)
        codes = {w.code for w in before.warnings(names, today=date(OPEN_YEAR - 1, 12, 2))}
        assert codes == {WarningCode.YEAR_ESTIMATED, WarningCode.MISSING}

        admin = CalendarStore(node_a)
        text = f"放假 {OPEN_YEAR}-01-01 元旦\n上班 {saturday.isoformat()} 春节调休\n"
        await admin.enter_notice(
            OPEN_YEAR, parse_overrides(whole(OPEN_YEAR, text), "notice"), confirmed=True
        )
        await admin.save(Calendar(name="settlement", base=Base.CN_WORKDAYS), expected_version=0)

        after = await book.refresh(names)
        for name in names:
            assert not after.decide(name, new_year).open
            makeup = after.decide(name, saturday)
            assert makeup.open and makeup.source is Source.NOTICE and makeup.confirmed
        assert after.warnings(names, today=date(OPEN_YEAR - 1, 12, 2)) == []
        # third workday of January counts the notice's holiday
        assert after.nth_open_day("settlement", OPEN_YEAR, 1, 1) > new_year  # type: ignore[operator]


async def test_book_parses_only_changed_versions(store: Store) -> None:
    cals, book = CalendarStore(store), CalendarBook(store)
    await cals.save(SPOT, expected_version=0)
    first = (await book.refresh(["spot"])).calendar("spot")
    assert (await book.refresh(["spot"])).calendar("spot") is first  # unchanged: not parsed
    await cals.save(SPOT.with_overrides([trading_day(date(2026, 1, 6))]), expected_version=1)
    second = (await book.refresh(["spot"])).calendar("spot")
    assert second is not first and len(second.overrides) == 2
    # Deleted then re-created: a new version, never the cached calendar.
    await cals.delete("spot", expected_version=2)
    gone = await book.refresh(["spot"])
    with pytest.raises(CalendarNotFoundError):
        gone.calendar("spot")
    await cals.save(SPOT, expected_version=0)
    assert (await book.refresh(["spot"])).calendar("spot") == SPOT


async def test_an_nth_rule_follows_an_override_and_a_notice_at_the_next_refresh(
    store: Store,
) -> None:
    """A set caches its months' decisions for Nth-day rules; an override or a notice
    entered since is decided by the next refresh's set, never answered from that cache."""
    cals, book = CalendarStore(store), CalendarBook(store)
    await cals.save(SPOT.with_overrides([trading_day(date(2026, 1, 7))]), expected_version=0)
    first = CalendarRef(name="spot", nth=1)
    before = await book.refresh(["spot", "cn_workdays"])
    assert before.allows(first, date(2026, 1, 5)).open  # January's month decided here
    await cals.save(
        SPOT.with_overrides([trading_day(date(2026, 1, 2)), trading_day(date(2026, 1, 7))]),
        expected_version=1,
    )
    after = await book.refresh(["spot", "cn_workdays"])
    assert after.allows(first, date(2026, 1, 2)).open
    assert not after.allows(first, date(2026, 1, 5)).open
    assert before.allows(first, date(2026, 1, 5)).open  # a reading of its moment
    # A national notice entered since moves the year's first workday: January 1-9
    # declared holidays (the days of a year no package confirms are estimated before).
    first_workday = CalendarRef(name="cn_workdays", nth=1)
    january = [date(OPEN_YEAR, 1, n) for n in range(1, 13)]
    estimated = [d for d in january if after.allows(first_workday, d).open]
    holidays = "".join(f"放假 {d.isoformat()} 元旦\n" for d in january[:9])
    await cals.enter_notice(
        OPEN_YEAR, parse_overrides(whole(OPEN_YEAR, holidays), "notice"), confirmed=True
    )
    noticed = await book.refresh(["spot", "cn_workdays"])
    moved = [d for d in january if noticed.allows(first_workday, d).open]
    assert len(estimated) == len(moved) == 1 and estimated[0] < january[9] <= moved[0]


async def test_book_ignores_a_corrupt_value_and_logs_it(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.set_state(calendar_key("spot"), {"calendar": {"name": "spot"}}, 0)
    found = await CalendarBook(store).refresh(["spot", "cn_workdays"])
    assert "calendar 'spot' is ignored" in caplog.text
    with pytest.raises(CalendarNotFoundError):
        found.calendar("spot")
    assert found.decide("cn_workdays", date(2025, 9, 28)).open
    assert found.decide("cn_workdays", date(2025, 9, 28) + timedelta(days=3)).open is False


async def test_a_notice_entered_again_that_leaves_out_days_is_refused(store: Store) -> None:
    """An audit: entering a year's notice again replaced the whole year, so a partial
    notice turned the holidays it left out into workdays of a confirmed year."""
    cals = CalendarStore(store)
    saturday = first_weekday(OPEN_YEAR, 3, 5)
    text = f"放假 {OPEN_YEAR}-01-01 至 {OPEN_YEAR}-01-03 元旦\n上班 {saturday} 春节调休\n"
    notice = parse_overrides(whole(OPEN_YEAR, text), "notice")
    rest = notice[4:]  # the statutory holidays after New Year's Day
    entered = await cals.enter_notice(OPEN_YEAR, notice, confirmed=True)
    with pytest.raises(NoticeDropsDaysError) as caught:
        await cals.enter_notice(OPEN_YEAR, [*notice[:2], *rest], confirmed=True)
    assert caught.value.days == [
        {"date": f"{OPEN_YEAR}-01-03", "open": False, "note": "元旦"},
        {"date": saturday.isoformat(), "open": True, "note": "春节调休"},
    ]
    assert await cals.get_notices() == entered
    # calendars.md's own example, a correction typed alone, closing no day: it was
    # told to add 放假 lines ("closes no day") instead of to enter the whole notice.
    with pytest.raises(NoticeDropsDaysError) as caught:
        await cals.enter_notice(OPEN_YEAR, notice[3:4], confirmed=True)
    assert len(caught.value.days) == len(notice) - 1
    # Every day again, one of them corrected: no need to say replace.
    corrected = [*notice[:3], notice[3].model_copy(update={"note": "春节调休（更正）"}), *rest]
    again = await cals.enter_notice(OPEN_YEAR, corrected, confirmed=True)
    assert again.notices.by_date[saturday].note == "春节调休（更正）"
    replaced = await cals.enter_notice(OPEN_YEAR, [notice[0], *rest], confirmed=True, replace=True)
    assert len(replaced.notices.notice_days(OPEN_YEAR)) == len(notice) - 3
