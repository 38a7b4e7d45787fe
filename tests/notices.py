"""Whole holiday notices for tests that enter one confirmed.

Entered confirmed, a notice must close the statutory holidays of its year (元旦, 春节,
清明, 劳动节, 端午, 中秋, 国庆), as the State Council's does; a test about something else
(a make-up workday, a correction, a count) types the lines it is about and makes them a
whole notice here. The holidays come from the ``holidays`` package itself, not from
schedkit's reading of it, so a notice made here checks that reading too.
"""

from __future__ import annotations

from datetime import date

from holidays.countries.china import China

from schedkit.calendars import parse_overrides


def holidays_closed(year: int) -> dict[date, str]:
    """Every day ``holidays``' CN model closes in ``year`` (its estimate after 2026,
    observed days included), with its Chinese name."""
    model = China(years=year, language="zh_CN")
    return {day: name for day, name in sorted(model.items()) if day.year == year}


def whole(year: int, text: str = "") -> str:
    """``text``, lines of the ``year`` notice, and a 放假 line for each day
    :func:`holidays_closed` names that ``text`` does not set (after it)."""
    given = {item.date for item in parse_overrides(text, "notice", notice_year=year)}
    added = [
        f"放假 {day.isoformat()} {name}\n"
        for day, name in holidays_closed(year).items()
        if day not in given
    ]
    return text + "".join(added)
