"""Schedules in words, English and Chinese, for the console, the CLI and job listings.

Common shapes get a sentence ("every day at 02:00", "每 5 分钟"); anything else is shown
as the raw expression or fields, which is always faithful.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from schedkit.calendars.model import canonical_name
from schedkit.calendars.rules import CalendarRef
from schedkit.triggers.cronfields import field_texts
from schedkit.triggers.crontab import expand_macro
from schedkit.triggers.specs import CronSpec, DateSpec, IntervalSpec, zone

_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# Crontab counts weekdays from Sunday (0 and 7); APScheduler from Monday (0).
_CRONTAB_DAY_NAMES = {
    name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_APS_DAY_NAMES = {
    name: n for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
}
_NO_NAMES: Mapping[str, int] = {}

_INTERVAL_UNITS_EN = (
    ("weeks", "week"),
    ("days", "day"),
    ("hours", "hour"),
    ("minutes", "minute"),
    ("seconds", "second"),
)
_INTERVAL_UNITS_ZH = {
    "weeks": "周",
    "days": "天",
    "hours": "小时",
    "minutes": "分钟",
    "seconds": "秒",
}
_INTERVAL_ONE_ZH = {
    "weeks": "每周",
    "days": "每天",
    "hours": "每小时",
    "minutes": "每分钟",
    "seconds": "每秒",
}


@dataclass(frozen=True, slots=True)
class _Field:
    """One cron field, when it is ``*``, ``*/n`` or a set of plain values."""

    every: bool = False
    step: int = 0
    values: tuple[int, ...] = ()

    @property
    def single(self) -> int | None:
        return self.values[0] if len(self.values) == 1 else None


@dataclass(frozen=True, slots=True)
class _Shape:
    second: _Field
    minute: _Field
    hour: _Field
    day: _Field
    month: _Field
    weekday: _Field  # values are Monday-based (0 = Monday) whatever the source counted


def describe_trigger(spec: CronSpec | IntervalSpec | DateSpec, lang: str = "en") -> str:
    """``spec`` in words; ``lang`` is ``"en"`` or ``"zh"`` (anything starting with "zh")."""
    zh = lang.lower().startswith("zh")
    tz = spec.timezone or "UTC"
    zone_note = f"（{tz}）" if zh else f" ({tz})"
    if isinstance(spec, CronSpec):
        text = _cron(spec, zh) + zone_note
    elif isinstance(spec, IntervalSpec):
        text = _interval(spec, zh)
        if spec.start_date or spec.end_date:
            text += zone_note
    else:
        when = _moment(spec.run_date, tz)
        text = (f"{when} 执行一次" if zh else f"once at {when}") + zone_note
    notes = [text]
    if isinstance(spec, CronSpec | IntervalSpec):
        if spec.start_date is not None:
            start = _moment(spec.start_date, tz)
            notes.append(f"自 {start} 起" if zh else f"from {start}")
        if spec.end_date is not None:
            end = _moment(spec.end_date, tz)
            notes.append(f"至 {end} 止" if zh else f"until {end}")
    if spec.calendar is not None:
        notes.append(_calendar(spec.calendar, zh))
    if spec.jitter:
        notes.append(
            f"随机延迟最多 {spec.jitter:g} 秒" if zh else f"jitter up to {spec.jitter:g} s"
        )
    return ("，" if zh else ", ").join(notes)


def _calendar(ref: CalendarRef, zh: bool) -> str:
    if ref.nth is not None:
        return ref.describe("zh" if zh else "en")
    name = canonical_name(ref.name)
    if name == "cn_workdays":
        return "仅中国工作日（含调休上班日）" if zh else "on Chinese working days only"
    if name == "cn_holidays":
        return "跳过中国法定节假日" if zh else "skipping Chinese public holidays"
    return f"按日历 {name} 的开放日" if zh else f"on the open days of calendar {name}"


def _moment(value: datetime, tz: str) -> str:
    local = value.astimezone(zone(tz)) if value.tzinfo is not None else value
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _interval(spec: IntervalSpec, zh: bool) -> str:
    amounts = [(unit, getattr(spec, unit)) for unit, _ in _INTERVAL_UNITS_EN]
    given = [(unit, amount) for unit, amount in amounts if amount]
    if zh:
        if len(given) == 1 and given[0][1] == 1:
            return _INTERVAL_ONE_ZH[given[0][0]]
        return "每 " + " ".join(
            f"{_amount(amount)} {_INTERVAL_UNITS_ZH[unit]}" for unit, amount in given
        )
    singular = dict(_INTERVAL_UNITS_EN)
    if len(given) == 1 and given[0][1] == 1:
        return f"every {singular[given[0][0]]}"
    return "every " + " ".join(
        f"{_amount(amount)} {singular[unit] if amount == 1 else unit}" for unit, amount in given
    )


def _amount(value: float) -> str:
    """``3,000,000`` and ``1.5``: ``:g`` wrote a long interval as ``3e+06``."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.10g}"


def _cron(spec: CronSpec, zh: bool) -> str:
    if spec.expression is not None:
        shape = _crontab_shape(expand_macro(spec.expression))
        raw = spec.expression
        fallback = f"cron 表达式 '{raw}'" if zh else f"cron '{raw}'"
    else:
        fields = spec.cron_fields()
        shape = _fields_shape(fields)
        raw = ", ".join(f"{name}={value}" for name, value in fields.items())
        fallback = f"cron 字段 {raw}" if zh else f"cron {raw}"
    return (_sentence(shape, zh) if shape else None) or fallback


def _crontab_shape(expression: str) -> _Shape | None:
    parts = expression.split()
    if len(parts) == 5:
        parts.insert(0, "0")
    second, minute, hour, day, month, weekday = parts
    return _shape(
        (second, minute, hour, day, month),
        _parse(weekday, 0, 7, _CRONTAB_DAY_NAMES, lambda n: (n + 6) % 7),
    )


def _fields_shape(fields: Mapping[str, int | str]) -> _Shape | None:
    # The fields left out are filled in (smaller units default to their minimum), so
    # describe what will actually run.
    full = field_texts(fields)
    if full["year"] != "*" or full["week"] != "*":
        return None
    return _shape(
        (full["second"], full["minute"], full["hour"], full["day"], full["month"]),
        _parse(full["day_of_week"], 0, 6, _APS_DAY_NAMES, lambda n: n),
    )


def _shape(texts: Sequence[str], weekday: _Field | None) -> _Shape | None:
    second, minute, hour, day, month = texts
    fields = (
        _parse(second, 0, 59),
        _parse(minute, 0, 59),
        _parse(hour, 0, 23),
        _parse(day, 1, 31),
        _parse(month, 1, 12, _MONTH_NAMES),
    )
    if weekday is None or any(f is None for f in fields):
        return None
    s, mi, h, d, mo = (f for f in fields if f is not None)
    return _Shape(second=s, minute=mi, hour=h, day=d, month=mo, weekday=weekday)


def _parse(
    text: str,
    low: int,
    high: int,
    names: Mapping[str, int] = _NO_NAMES,
    to_monday_based: Callable[[int], int] | None = None,
) -> _Field | None:
    text = text.strip().lower()
    if text == "*":
        return _Field(every=True)
    if text.startswith("*/") and text[2:].isdigit():
        return _Field(step=int(text[2:]))
    values: set[int] = set()
    for item in text.split(","):
        first, dash, last = item.partition("-")
        start = _number(first, names)
        stop = _number(last, names) if dash else start
        if start is None or stop is None or not low <= start <= stop <= high:
            return None
        values.update(range(start, stop + 1))
    if to_monday_based is not None:
        values = {to_monday_based(v) for v in values}
        low, high = 0, 6
    if values == set(range(low, high + 1)):
        return _Field(every=True)
    return _Field(values=tuple(sorted(values)))


def _number(text: str, names: Mapping[str, int]) -> int | None:
    return int(text) if text.isdigit() else names.get(text)


def _sentence(shape: _Shape, zh: bool) -> str | None:
    days = _days(shape, zh)
    if days is None:
        return None
    kind, what = days
    times = _fixed_times(shape, zh)
    if times is not None:
        if zh:
            return f"{what} {times}"
        return f"every day at {times}" if kind == "daily" else f"at {times} {what}"
    repeat = _repeat(shape, zh)
    if repeat is None or kind == "daily":
        return repeat
    return f"{what}，{repeat}" if zh else f"{repeat} {what}"


def _fixed_times(shape: _Shape, zh: bool) -> str | None:
    second = shape.second.single
    if second is None or not shape.minute.values or not shape.hour.values:
        return None
    times = [(h, m) for h in shape.hour.values for m in shape.minute.values]
    if len(times) > 6:
        return None
    labels = [f"{h:02d}:{m:02d}" + (f":{second:02d}" if second else "") for h, m in times]
    return "、".join(labels) if zh else _join_en(labels)


def _repeat(shape: _Shape, zh: bool) -> str | None:
    second, minute, hour = shape.second, shape.minute, shape.hour
    if second.step and 60 % second.step == 0 and minute.every and hour.every:
        return f"每 {second.step} 秒" if zh else f"every {second.step} seconds"
    if second.every and minute.every and hour.every:
        return "每秒" if zh else "every second"
    if second.single != 0:
        return None
    step = 1 if minute.every else minute.step
    if step and 60 % step == 0:
        if step == 1:
            every = "每分钟" if zh else "every minute"
        else:
            every = f"每 {step} 分钟" if zh else f"every {step} minutes"
        if hour.every:
            return every
        hours = hour.values
        if hours and list(hours) == list(range(hours[0], hours[-1] + 1)):
            first, last = f"{hours[0]:02d}:00", f"{hours[-1]:02d}:{60 - step:02d}"
            return f"{first} 至 {last} {every}" if zh else f"{every} from {first} to {last}"
    at = minute.single
    if at is not None and hour.every:
        if at == 0:
            return "每小时" if zh else "every hour"
        return f"每小时第 {at} 分" if zh else f"every hour at minute {at}"
    if at is not None and hour.step and 24 % hour.step == 0:
        if at == 0:
            return f"每 {hour.step} 小时" if zh else f"every {hour.step} hours"
        return (
            f"每 {hour.step} 小时的第 {at} 分" if zh else f"every {hour.step} hours at minute {at}"
        )
    return None


def _days(shape: _Shape, zh: bool) -> tuple[str, str] | None:
    day, month, weekday = shape.day, shape.month, shape.weekday
    if day.every and month.every and weekday.every:
        return "daily", "每天"
    if day.every and month.every and weekday.values:
        return "weekly", _weekdays(weekday.values, zh)
    if day.values and month.every and weekday.every:
        numbers = [str(d) for d in day.values]
        if zh:
            return "monthly", f"每月 {'、'.join(numbers)} 日"
        noun = "day" if len(numbers) == 1 else "days"
        return "monthly", f"on {noun} {_join_en(numbers)} of every month"
    if day.single is not None and month.single is not None and weekday.every:
        if zh:
            return "yearly", f"每年 {month.single} 月 {day.single} 日"
        return "yearly", f"on {_MONTHS_EN[month.single - 1]} {day.single} every year"
    return None


def _weekdays(days: Sequence[int], zh: bool) -> str:
    names = _WEEKDAYS_ZH if zh else _WEEKDAYS_EN
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    labels = []
    for run in runs:
        if len(run) >= 3:
            labels.append(
                f"{names[run[0]]}至{names[run[-1]]}" if zh else f"{names[run[0]]}–{names[run[-1]]}"
            )
        else:
            labels.extend(names[d] for d in run)
    return "每" + "、".join(labels) if zh else "on " + _join_en(labels)


def _join_en(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
