"""How a schedule names its calendar, and the "Nth open day of the month" rule.

A schedule's ``calendar`` field is either a calendar name, as stored schedules have it::

    "calendar": "cn_workdays"

or an object adding a day rule over that calendar's open days::

    "calendar": {"name": "cn_workdays", "nth": 3}       # 3rd workday of the month
    "calendar": {"name": "cn_workdays", "nth": "last"}  # last workday (same as -1)
    "calendar": {"name": "cn_workdays", "nth": -2}      # second-to-last workday

A reference without ``nth`` is written back as the plain name, so stored schedules keep
their JSON unchanged.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any, Self

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from schedkit.calendars.decide import DayDecision
from schedkit.calendars.model import check_name, validation_error

#: No calendar has more open days in a month.
MAX_NTH = 31


def _nth_value(value: object) -> object:
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "last":
            return -1
        raise ValueError(f"expected a non-zero integer or 'last', got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"expected a non-zero integer or 'last', got {value!r}")
    return value


Nth = Annotated[int, BeforeValidator(_nth_value), Field(ge=-MAX_NTH, le=MAX_NTH)]


class CalendarRef(BaseModel):
    """A schedule's calendar: a calendar name, optionally with an Nth-open-day rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    #: 1 = first open day of the month, 3 = third, -1 = last, -2 = second to last.
    nth: Nth | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("nth")
    @classmethod
    def _not_zero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("nth counts from 1 (first) or from -1 (last); 0 means nothing")
        return value

    @classmethod
    def parse(cls, value: object, *, field: str = "calendar") -> Self:
        """A reference from a name or an object, or ValidationError naming the field."""
        try:
            return cls.model_validate(_as_mapping(value))
        except pydantic.ValidationError as exc:
            raise validation_error(exc, (field,)) from None

    def to_json(self) -> str | dict[str, Any]:
        """The plain name without a rule; else ``{"name": ..., "nth": ...}``."""
        return self.name if self.nth is None else {"name": self.name, "nth": self.nth}

    def describe(self, lang: str = "en") -> str:
        """``cn_workdays`` / "3rd open day of the month of cn_workdays" in words."""
        if self.nth is None:
            return self.name
        if lang.lower().startswith("zh"):
            if self.nth > 0:
                return f"每月第 {self.nth} 个 {self.name} 开放日"
            position = "最后一个" if self.nth == -1 else f"倒数第 {-self.nth} 个"
            return f"每月{position} {self.name} 开放日"
        if self.nth == -1:
            return f"last open day of the month in {self.name}"
        if self.nth < 0:
            return f"{_ordinal(-self.nth)} to last open day of the month in {self.name}"
        return f"{_ordinal(self.nth)} open day of the month in {self.name}"


def _as_mapping(value: object) -> object:
    if isinstance(value, CalendarRef):
        return value.model_dump()
    return {"name": value} if isinstance(value, str) else value


def _serialize(ref: CalendarRef) -> str | dict[str, Any]:
    return ref.to_json()


#: The type a schedule spec declares its ``calendar`` field with: accepts a name or an
#: object, and dumps back to the same JSON.
CalendarField = Annotated[
    CalendarRef,
    BeforeValidator(_as_mapping),
    PlainSerializer(_serialize, return_type=str | dict[str, Any]),
]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def month_days(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, gregorian.monthrange(year, month)[1] + 1)]


def nth_open_day(
    decide: Callable[[date], DayDecision], year: int, month: int, nth: int
) -> date | None:
    """The ``nth`` open day of the month (negative: from its end), or None if the month
    has fewer open days."""
    return _pick([d.day for d in decide_month(decide, year, month) if d.open], nth)


def _pick(opens: Sequence[date], nth: int) -> date | None:
    index = nth - 1 if nth > 0 else nth
    return opens[index] if -len(opens) <= index < len(opens) else None


#: The decisions of a month's days, first to last: what an Nth-day rule reads.
MonthDecisions = Sequence[DayDecision]


def decide_month(
    decide: Callable[[date], DayDecision], year: int, month: int
) -> tuple[DayDecision, ...]:
    """``decide`` for every day of the month, in order."""
    return tuple(map(decide, month_days(year, month)))


def allows(
    ref: CalendarRef,
    day: date,
    decide: Callable[[date], DayDecision],
    month: Callable[[int, int], MonthDecisions] | None = None,
    *,
    lang: str = "en",
) -> DayDecision:
    """Whether a schedule with calendar ``ref`` may run on the local date ``day``;
    ``decide`` is the named calendar's decision function, ``month`` its decisions of a
    whole month (:func:`decide_month` by default; a caller asking about many days of one
    month passes a cached one: an Nth rule depends on every day of the month). An Nth
    rule's note is in ``lang``: a preview's reader reads it; the reason a skipped run
    stores is English (the console says it in its own language)."""
    if ref.nth is None:
        return decide(day)
    decisions = month(day.year, day.month) if month else decide_month(decide, day.year, day.month)
    own = decisions[day.day - 1]
    opens = [d.day for d in decisions if d.open]
    target = _pick(opens, ref.nth)
    return DayDecision(
        calendar=own.calendar,
        day=day,
        open=target == day,
        source=own.source,
        # Which day is the Nth depends on every day of the month.
        confirmed=all(d.confirmed for d in decisions),
        note=_nth_note(ref, day, target, len(opens), lang),
    )


def _nth_note(ref: CalendarRef, day: date, target: date | None, opens: int, lang: str) -> str:
    rule = ref.describe(lang)
    label = f"{day.year:04d}-{day.month:02d}"
    if lang.lower().startswith("zh"):
        if target == day:
            return f"{rule}（{label}）"
        if target is None:
            return f"{label} 只有 {opens} 个开放日，没有{rule}"
        return f"不是{rule}：那是 {target.isoformat()}"
    if target == day:
        return f"{rule} ({label})"
    if target is None:
        return f"{label} has only {opens} open days, no {rule}"
    return f"not the {rule}: that is {target.isoformat()}"
