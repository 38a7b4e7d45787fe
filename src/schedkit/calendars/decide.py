"""Whether a calendar is open on a day, and which source said so.

The layers, highest first: the calendar's own overrides (and the years it marks
confirmed); for the Chinese bases, the national arrangement operators entered (the
State Council notice), ``chinese-calendar``, then ``holidays``; last the base rule.
A confirmed year of a layer is complete: its unlisted days follow the base rule there,
whatever lower layers say. A Chinese calendar's own confirmed years are not such a
layer: its year is known when the national arrangement is (see :func:`decide`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from schedkit.calendars.model import Base, Calendar, DayTable, Override
from schedkit.calendars.sources import ChinaDay, Source, chinese_calendar_day, holidays_day

_SOURCE_ZH = {
    Source.OVERRIDE: "日历覆盖设置",
    Source.NOTICE: "录入的国务院通知",
    Source.CHINESE_CALENDAR: "chinese-calendar 官方数据",
    Source.HOLIDAYS: "holidays 包",
    Source.WEEKDAY_RULE: "周一至周五规则（推测）",
    Source.BASE: "基础规则",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class DayDecision:
    """A calendar's answer for one local date."""

    calendar: str
    day: date
    open: bool
    source: Source
    #: False when the deciding source only estimates (or guesses) the day's year.
    confirmed: bool
    note: str | None = None

    def reason(self, lang: str = "en") -> str:
        """One line for a preview or a skipped run: the day, open or closed, why, by whom."""
        zh = lang.lower().startswith("zh")
        day = self.day.isoformat()
        if zh:
            state = "开放" if self.open else "关闭"
            text = f"日历 {self.calendar}：{day} {state}（{_SOURCE_ZH[self.source]}"
            text += f"，{self.note}" if self.note else ""
            return text + ("）" if self.confirmed else "，未确认）")
        state = "open" if self.open else "closed"
        text = f"calendar {self.calendar}: {day} {state}"
        text += f" ({self.note})" if self.note else ""
        text += f", decided by {self.source.value}"
        return text + ("" if self.confirmed else " (not confirmed)")


def decide(calendar: Calendar, day: date, notices: DayTable | None = None) -> DayDecision:
    """``calendar``'s decision for ``day``; ``notices`` is the national arrangement
    operators entered (used by the Chinese bases only)."""
    base = calendar.base
    # A Chinese calendar's own confirmed year would make its days without an override
    # follow Monday-Friday over the notice entered. The service refuses such a
    # confirmation; a store written before it did may hold one: only its dates count.
    found = _from_table(calendar, day, Source.OVERRIDE, calendar, whole_years=not base.chinese)
    if found is not None:
        return found
    if base.chinese:
        found = _from_table(notices, day, Source.NOTICE, calendar) if notices else None
        if found is not None:
            return found
        for source, answer in (
            (Source.CHINESE_CALENDAR, chinese_calendar_day),
            (Source.HOLIDAYS, holidays_day),
        ):
            china = answer(day)
            if china is not None:
                return _from_china(calendar, china, source)
        return _by_rule(calendar, day, Source.WEEKDAY_RULE, confirmed=False)
    return _by_rule(calendar, day, Source.BASE, confirmed=base is not Base.NONE)


def _from_table(
    table: DayTable, day: date, source: Source, calendar: Calendar, *, whole_years: bool = True
) -> DayDecision | None:
    item: Override | None = table.by_date.get(day)
    if item is not None:
        return DayDecision(
            calendar=calendar.name,
            day=day,
            open=item.open,
            source=source,
            confirmed=True,
            note=item.note or item.kind.value,
        )
    if whole_years and day.year in table.confirmed_years:
        return _by_rule(calendar, day, source, confirmed=True)
    return None


def _from_china(calendar: Calendar, china: ChinaDay, source: Source) -> DayDecision:
    opens = china.workday if calendar.base is Base.CN_WORKDAYS else not china.holiday
    return DayDecision(
        calendar=calendar.name,
        day=china.day,
        open=opens,
        source=source,
        confirmed=china.confirmed,
        note=china.note(),
    )


def _by_rule(calendar: Calendar, day: date, source: Source, *, confirmed: bool) -> DayDecision:
    return DayDecision(
        calendar=calendar.name,
        day=day,
        open=calendar.base.rule_opens(day),
        source=source,
        confirmed=confirmed,
    )
