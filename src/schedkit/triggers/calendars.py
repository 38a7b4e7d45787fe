"""Business calendars: which days a schedule may run on (Chinese public holidays).

The holiday and make-up-workday (调休) data comes from the ``chinese_calendar`` package,
which covers the years the State Council has published; outside them we fall back to a
plain Monday–Friday week and warn once per year, rather than stop scheduling.
"""

from __future__ import annotations

import logging
from datetime import date

import chinese_calendar

from schedkit.triggers.specs import CalendarName

_log = logging.getLogger(__name__)
_warned_years: set[int] = set()


def calendar_allows(calendar: CalendarName | None, day: date) -> bool:
    """Whether ``calendar`` lets a schedule run on ``day`` (a local date)."""
    if calendar is None:
        return True
    try:
        on_holiday, holiday_name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return day.weekday() < 5 if calendar == "cn_workdays" else True
    if calendar == "cn_workdays":
        # Make-up workdays are (False, name): they count as workdays although on a weekend.
        return not on_holiday
    # Ordinary weekends are (True, None); only days named after a festival are holidays.
    return not (on_holiday and holiday_name is not None)


def _warn_unknown_year(year: int) -> None:
    if year in _warned_years:
        return
    _warned_years.add(year)
    _log.warning(
        "chinese_calendar has no holiday data for %d; business calendars treat it as a "
        "Monday-Friday year without public holidays (upgrade chinese-calendar)",
        year,
    )
