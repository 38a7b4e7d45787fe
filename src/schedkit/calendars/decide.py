"""Whether a calendar is open on a day, and which source said so.

The layers, highest first: the calendar's own overrides (and the years it marks
confirmed); for the Chinese bases, the national arrangement operators entered (the
State Council notice), ``chinese-calendar``, then ``holidays``; last the base rule.
A confirmed year of a layer is complete: its unlisted days follow the base rule there,
whatever lower layers say. A Chinese calendar's own confirmed years are not such a
layer: its year is known when the national arrangement is (see :func:`decide`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from schedkit.calendars.model import Base, Calendar, DayTable, Override, OverrideKind
from schedkit.calendars.sources import ChinaDay, Source, chinese_calendar_day, holidays_day

_SOURCE_ZH = {
    Source.OVERRIDE: "日历覆盖设置",
    Source.NOTICE: "录入的国务院通知",
    Source.CHINESE_CALENDAR: "chinese-calendar 官方数据",
    Source.HOLIDAYS: "holidays 包",
    Source.WEEKDAY_RULE: "周一至周五规则（推测）",
    Source.BASE: "基础规则",
}

#: The festivals as chinese-calendar and holidays name them (in lower case), in Chinese.
#: Keep in step with FESTIVALS in console/static/messages.js (which says them in the
#: reasons of runs, stored in English).
_FESTIVAL_ZH = {
    "new year's day": "元旦",
    "spring festival": "春节",
    "chinese new year (spring festival)": "春节",
    "chinese new year's eve": "除夕",
    "tomb-sweeping day": "清明节",
    "labour day": "劳动节",
    "labor day": "劳动节",
    "dragon boat festival": "端午节",
    "mid-autumn festival": "中秋节",
    "national day": "国庆节",
    "anti-fascist 70th day": "抗战胜利 70 周年纪念日",
    "70th anniversary of the victory of the chinese people's war of resistance against "
    "japanese aggression and the world anti-fascist war": "抗战胜利 70 周年纪念日",
}
_KIND_ZH = {
    OverrideKind.HOLIDAY: "法定节假日",
    OverrideKind.MAKEUP_WORKDAY: "调休上班日",
    OverrideKind.EXTRA_CLOSED: "额外关闭日",
    OverrideKind.EXTRA_OPEN: "额外开放日",
    OverrideKind.TRADING_DAY: "交易日",
}
_MAKEUP = re.compile(r"make-up workday(?: \((.+)\))?")
_DAY_OFF = re.compile(r"Day off \(substituted from (\d\d)/(\d\d)/(\d{4})\)")


def _festival_zh(name: str) -> str | None:
    """One festival of a package (holidays: "National Day (observed)", "Day off
    (substituted from 10/10/2026)") in Chinese; None for a name it does not know."""
    day_off = _DAY_OFF.fullmatch(name)
    if day_off:
        month, day, year = day_off.groups()
        return f"调休（与 {year}-{month}-{day} 对调）"
    base = name.removesuffix(" (observed)")
    zh = _FESTIVAL_ZH.get(base.lower())
    if zh is None or base == name:
        return zh
    return f"{zh}（补休）"


def _note_zh(note: str) -> str:
    """A day's note in Chinese when the code wrote it (a package's festival, a make-up
    workday, an override's kind); an operator's own note as written."""
    if note in _KIND_ZH:
        return _KIND_ZH[OverrideKind(note)]
    makeup = _MAKEUP.fullmatch(note)
    if makeup:
        return f"{_note_zh(makeup[1])}调休上班" if makeup[1] else "调休上班"
    # holidays joins the names of a day with two festivals by "; ".
    names = [_festival_zh(name) for name in note.split("; ")]
    return note if None in names else "、".join(n for n in names if n is not None)


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
            text += f"，{_note_zh(self.note)}" if self.note else ""
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
