"""The packages that know China's public holidays, behind one small interface.

* ``chinese-calendar`` holds the State Council's notices, and nothing else: each year it
  knows is official; any other year raises ``NotImplementedError`` (1.11.0, the newest
  release, knows 2004–2026).
* ``holidays`` (its ``CN`` model) computes the statutory days of any year from 1950 to
  2100, and adds the notices' substituted days off and make-up workdays for the years its
  maintainers entered (``ChinaStaticHolidays.special_public_holidays``: 2001–2026 in
  0.109). For other years its days off are the statutory ones moved by a generic
  "weekend to next workday" rule and it knows no make-up workday: an estimate, which its
  labels do not say (the CN model never turns on ``show_estimated``), so we tell by the
  notice years.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import chinese_calendar

if TYPE_CHECKING:
    from holidays import HolidayBase
    from holidays.countries.china import China, ChinaStaticHolidays


class Source(enum.StrEnum):
    """Who decided a day, highest precedence first."""

    #: The calendar's own dated override (or its confirmed year).
    OVERRIDE = "override"
    #: The national holiday arrangement operators entered (the State Council notice).
    NOTICE = "notice"
    CHINESE_CALENDAR = "chinese-calendar"
    HOLIDAYS = "holidays"
    #: Monday–Friday, for a Chinese base in a year no source knows: a guess.
    WEEKDAY_RULE = "weekday-rule"
    #: The base rule of a calendar that needs no data (``weekdays``, ``all``, ``none``).
    BASE = "base"


class YearState(enum.StrEnum):
    """How well a year of a calendar is known."""

    CONFIRMED = "confirmed"
    ESTIMATED = "estimated"
    UNCOVERED = "uncovered"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChinaDay:
    """What one package says about one day in China."""

    day: date
    #: A public holiday or a day off substituted for one (closed in both Chinese bases).
    holiday: bool
    #: A working day: Monday–Friday not off, or a make-up workday.
    workday: bool
    #: The festival's name, if the package gives one.
    name: str | None
    #: False when the package only estimates the day's year.
    confirmed: bool

    def note(self) -> str | None:
        """The festival, or that the day is a make-up workday; None for ordinary days."""
        if self.holiday:
            return self.name
        if self.workday and self.day.weekday() >= 5:
            return f"make-up workday ({self.name})" if self.name else "make-up workday"
        return None


def chinese_calendar_day(day: date) -> ChinaDay | None:
    """``chinese-calendar``'s answer, or None for a year it does not know."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    # Weekends are (True, None), festivals (True, name), make-up workdays (False, name).
    return ChinaDay(
        day=day,
        holiday=on_holiday and name is not None,
        workday=not on_holiday,
        name=name,
        confirmed=True,
    )


def holidays_day(day: date) -> ChinaDay | None:
    """The ``holidays`` package's answer, or None for a year outside its CN model."""
    if not _covered(day.year):
        return None
    model = _china(day.year)
    name = model.get(day)
    return ChinaDay(
        day=day,
        holiday=name is not None,
        workday=model.is_working_day(day),
        name=name,
        confirmed=day.year in holidays_notice_years(),
    )


def chinese_calendar_state(year: int) -> YearState:
    """CONFIRMED for a year ``chinese-calendar`` knows, else UNCOVERED."""
    known = chinese_calendar_day(date(year, 7, 1)) is not None
    return YearState.CONFIRMED if known else YearState.UNCOVERED


def holidays_state(year: int) -> YearState:
    """CONFIRMED for a year whose notice ``holidays`` holds, ESTIMATED for one it only
    computes, UNCOVERED outside its CN model."""
    if year in holidays_notice_years():
        return YearState.CONFIRMED
    if _covered(year):
        return YearState.ESTIMATED
    return YearState.UNCOVERED


@dataclass(frozen=True, kw_only=True, slots=True)
class Festival:
    """A day off the law gives for a statutory holiday of a year."""

    day: date
    name_en: str
    name_zh: str

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang.lower().startswith("zh") else self.name_en


@functools.lru_cache(maxsize=16)
def statutory_festivals(year: int) -> tuple[Festival, ...]:
    """The days off the law gives for the statutory holidays of ``year``, as ``holidays``'
    CN model computes them (元旦; 春节, since 2025 its eve and 初一 to 初三; 清明; 劳动节,
    since 2025 two days; 端午; 中秋; 国庆, three days): the days every notice of the year
    closes (so in every year chinese-calendar holds, 2004 to 2026). Empty outside the
    model's years. A re-audit: checking each holiday's first day only let a notice of
    first days alone (its ranges' ends left out) confirm 正月初三 and 10-02 as workdays.

    Only the days the law names: not the weekend days the model moves to a weekday, nor
    the days off a notice substitutes (those the notice decides, not the law)."""
    if not _covered(year):
        return ()
    china = _cn_model()[0]
    # The model's own names are Chinese; its English ones are their translations.
    model = china(observed=False, language="zh_CN")
    model.has_special_holidays = False  # the notices' substituted days off
    model.get(date(year, 1, 1))  # populates the year
    english = china(language="en_US")
    return tuple(
        Festival(day=day, name_en=english.tr(name), name_zh=name)
        for day in sorted(d for d in model if d.year == year)
        for name in model.get_list(day)
    )


@functools.cache
def holidays_notice_years() -> frozenset[int]:
    """Years for which ``holidays`` carries the State Council notice's substitutions.

    Read from the CN model's data table; if a release renames it, every year counts as
    estimated (a warning too many, never a silent guess).
    """
    table = getattr(_cn_model()[1], "special_public_holidays", {})
    return frozenset(year for year in table if isinstance(year, int))


@functools.lru_cache(maxsize=64)
def _china(year: int) -> HolidayBase:
    # The next year's notice can make 31 December a make-up workday (2005 for 2006): the
    # model only knows it once that year is populated too.
    return _cn_model()[0](years=(year, year + 1))


def _covered(year: int) -> bool:
    china = _cn_model()[0]
    return china.start_year <= year <= china.end_year


@functools.cache
def _cn_model() -> tuple[type[China], type[ChinaStaticHolidays]]:
    """``holidays``' CN model, imported on first use: importing it imports every country
    the package models (≈ 80 ms, a quarter of ``import schedkit``), which every CLI
    command, worker and embedding app paid at start, calendar or not."""
    from holidays.countries.china import China, ChinaStaticHolidays

    return China, ChinaStaticHolidays
