"""How well each year of a calendar is known, and the warnings for years that are not.

A year is *confirmed* when official data or an operator decides it (the notice entered,
for a Chinese calendar; a confirmed year, for any other), *estimated* when only a guess
does (``holidays``' computed days, or some overrides of a year nobody marked confirmed),
*uncovered* when nothing does. Estimated and uncovered years close to today are
warnings, shown by ``/ready``, the console, ``schedkit check`` and the alert rule:
never a silent Monday–Friday guess.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from schedkit.calendars.model import Base, Calendar, DayTable
from schedkit.calendars.sources import Source, YearState, chinese_calendar_state, holidays_state

#: How far ahead :func:`calendar_warnings` looks by default: the State Council publishes
#: the next year's arrangement in October or November.
DEFAULT_HORIZON = timedelta(days=60)


@dataclass(frozen=True, kw_only=True, slots=True)
class YearCoverage:
    calendar: str
    year: int
    state: YearState
    #: The layer that makes the year as known as it is (WEEKDAY_RULE / BASE: none does).
    source: Source


class WarningCode(enum.StrEnum):
    """Stable codes: the alert rule, ``/ready`` and scripts match on them."""

    YEAR_ESTIMATED = "calendar_year_estimated"
    YEAR_UNCOVERED = "calendar_year_uncovered"
    #: A schedule names a calendar that is neither built in nor stored.
    MISSING = "calendar_missing"


@dataclass(frozen=True, kw_only=True, slots=True)
class CalendarWarning:
    code: WarningCode
    calendar: str
    #: None for a missing calendar.
    year: int | None
    state: YearState
    source: Source
    #: Short form, the alert's title: "calendar cn_workdays for 2027 not confirmed".
    title_en: str
    title_zh: str
    #: What decides the year's days now and what the operator should do.
    message_en: str
    message_zh: str

    def title(self, lang: str = "en") -> str:
        return self.title_zh if lang.lower().startswith("zh") else self.title_en

    def message(self, lang: str = "en") -> str:
        return self.message_zh if lang.lower().startswith("zh") else self.message_en


def year_coverage(calendar: Calendar, year: int, notices: DayTable | None = None) -> YearCoverage:
    """How well ``calendar``'s days of ``year`` are known."""
    state, source = _year_state(calendar, year, notices)
    return YearCoverage(calendar=calendar.name, year=year, state=state, source=source)


def coverage(
    calendar: Calendar, years: Iterable[int], notices: DayTable | None = None
) -> list[YearCoverage]:
    """:func:`year_coverage` of each year, in the order given."""
    return [year_coverage(calendar, year, notices) for year in years]


def years_ahead(today: date, horizon: timedelta = DEFAULT_HORIZON) -> list[int]:
    """The years from ``today`` to ``today + horizon``."""
    return list(range(today.year, (today + horizon).year + 1))


def calendar_warnings(
    calendars: Iterable[Calendar],
    notices: DayTable | None,
    *,
    today: date,
    horizon: timedelta = DEFAULT_HORIZON,
) -> list[CalendarWarning]:
    """A warning for each calendar and each year between ``today`` and ``today +
    horizon`` that is not confirmed, ordered by calendar name then year."""
    found: list[CalendarWarning] = []
    for calendar in sorted(calendars, key=lambda c: c.name):
        for item in coverage(calendar, years_ahead(today, horizon), notices):
            if item.state is not YearState.CONFIRMED:
                found.append(_warning(calendar, item))
    return found


def missing_warning(name: str) -> CalendarWarning:
    """The warning for a calendar name that is neither built in nor stored."""
    return CalendarWarning(
        code=WarningCode.MISSING,
        calendar=name,
        year=None,
        state=YearState.UNCOVERED,
        source=Source.BASE,
        title_en=f"calendar {name} does not exist",
        title_zh=f"日历 {name} 不存在",
        message_en=f"calendar {name} is neither built in nor stored; schedules naming it "
        "do not run. Create it or change those schedules.",
        message_zh=f"日历 {name} 既不是内置日历也未保存；引用它的计划不会执行。"
        "请创建该日历或修改这些计划。",
    )


def _year_state(
    calendar: Calendar, year: int, notices: DayTable | None
) -> tuple[YearState, Source]:
    base = calendar.base
    # A Chinese calendar's own overrides are dated exceptions over the national
    # arrangement, and its own confirmed years (a store written before they were refused)
    # decide nothing (decide.decide): the national sources alone say how well a year is
    # known, and the warning then asks for the notice, not for a confirmation.
    own = not base.chinese
    if own and year in calendar.confirmed_years:
        return YearState.CONFIRMED, Source.OVERRIDE
    if base in (Base.WEEKDAYS, Base.ALL):
        return YearState.CONFIRMED, Source.BASE
    # Candidates in precedence order; the first confirmed wins, else the first estimated.
    candidates: list[tuple[YearState, Source]] = []
    if own and year in calendar.years():
        candidates.append((YearState.ESTIMATED, Source.OVERRIDE))
    if base.chinese:
        if notices is not None and year in notices.confirmed_years:
            candidates.append((YearState.CONFIRMED, Source.NOTICE))
        elif notices is not None and year in notices.years():
            candidates.append((YearState.ESTIMATED, Source.NOTICE))
        candidates.append((chinese_calendar_state(year), Source.CHINESE_CALENDAR))
        candidates.append((holidays_state(year), Source.HOLIDAYS))
    for wanted in (YearState.CONFIRMED, YearState.ESTIMATED):
        for state, source in candidates:
            if state is wanted:
                return state, source
    return YearState.UNCOVERED, Source.WEEKDAY_RULE if base.chinese else Source.BASE


def _warning(calendar: Calendar, item: YearCoverage) -> CalendarWarning:
    name, year = calendar.name, item.year
    if item.state is YearState.ESTIMATED:
        code = WarningCode.YEAR_ESTIMATED
        en, zh = _estimated_texts(calendar, item)
    else:
        code = WarningCode.YEAR_UNCOVERED
        en, zh = _uncovered_texts(calendar, item)
    return CalendarWarning(
        code=code,
        calendar=name,
        year=year,
        state=item.state,
        source=item.source,
        title_en=f"calendar {name} for {year} not confirmed",
        title_zh=f"日历 {name} 的 {year} 年数据未确认",
        message_en=en,
        message_zh=zh,
    )


def _estimated_texts(calendar: Calendar, item: YearCoverage) -> tuple[str, str]:
    name, year = calendar.name, item.year
    if item.source is Source.HOLIDAYS:
        how_en, how_zh = _enter_notice(year)
        return (
            f"calendar {name}: {year} is not confirmed; its days come from the holidays "
            f"package's estimate (statutory holidays only, no make-up workdays). {how_en}",
            f"日历 {name}：{year} 年未确认，目前按 holidays 包的推算（仅法定节日，无调休上班日）"
            f"执行。{how_zh}",
        )
    if item.source is Source.NOTICE:
        how_en, how_zh = _enter_notice(year, whole=True)
        return (
            f"calendar {name}: the State Council's holiday notice for {year} is entered in "
            f"part and not confirmed. {how_en}",
            f"日历 {name}：国务院 {year} 年节假日安排通知仅部分录入且未确认。{how_zh}",
        )
    return (
        f"calendar {name}: {year} has some days entered but is not marked confirmed; "
        f"finish entering {year} and mark the year confirmed.",
        f"日历 {name}：{year} 年已录入部分日期但未标记为已确认；请录入完整后标记该年已确认。",
    )


def _uncovered_texts(calendar: Calendar, item: YearCoverage) -> tuple[str, str]:
    name, year = calendar.name, item.year
    if calendar.base.chinese:
        how_en, how_zh = _enter_notice(year)
        return (
            f"calendar {name}: no source covers {year}; its days follow Monday to Friday "
            f"as a guess. {how_en}",
            f"日历 {name}：{year} 年没有任何数据来源，暂按周一至周五推测执行。{how_zh}",
        )
    return (
        f"calendar {name}: no day of {year} is entered, so the calendar is closed all "
        f"year. Enter its open days for {year} and mark the year confirmed.",
        f"日历 {name}：{year} 年尚未录入任何日期，全年都不会执行。请录入 {year} 年的开放日"
        "并标记该年已确认。",
    )


def _enter_notice(year: int, *, whole: bool = False) -> tuple[str, str]:
    """What to do about a year of a Chinese calendar: enter the notice, which confirms
    the year of every Chinese calendar. Not "mark the year confirmed": a Chinese
    calendar's own year is not confirmed that way (the service refuses it)."""
    where_en = (
        f"schedkit calendar notice {year} FILE"
        f"{' without --not-confirmed or --partial' if whole else ''}, "
        f"the console's calendar page, or PUT /calendar-notices/{year}"
    )
    where_zh = (
        f"schedkit calendar notice {year} FILE"
        f"{'（不加 --not-confirmed 或 --partial）' if whole else ''}、"
        f"控制台的日历页面，或 PUT /calendar-notices/{year}"
    )
    if whole:
        return (
            f"Enter the whole notice ({where_en}): it confirms {year} for every Chinese calendar.",
            f"请录入完整的通知（{where_zh}），录入后所有中国日历的 {year} 年即为已确认。",
        )
    return (
        f"Enter the State Council's holiday notice for {year} ({where_en}): it confirms "
        f"{year} for every Chinese calendar.",
        f"请录入国务院 {year} 年节假日安排通知（{where_zh}），录入后所有中国日历的 {year} "
        "年即为已确认。",
    )
