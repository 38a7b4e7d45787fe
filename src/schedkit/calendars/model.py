"""What a business calendar is: a base rule plus dated overrides, as validated data.

A calendar is stored as JSON and typed in by operators (API, CLI, files), so every value
object here is a frozen pydantic model: :func:`parse_calendar` and friends turn bad input
into :class:`schedkit.errors.ValidationError` naming the field at fault.
"""

from __future__ import annotations

import datetime
import enum
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Self, TypeVar

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schedkit.errors import ValidationError

#: Overrides a calendar (or the national record) may hold: about 40 years of trading days.
MAX_OVERRIDES = 10_000
#: Years outside this range are refused: no source knows them and they are typing errors.
MIN_YEAR, MAX_YEAR = 1950, 2199

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_M = TypeVar("_M", bound=BaseModel)


class Base(enum.StrEnum):
    """The rule that decides a day no override names."""

    #: Chinese working days: Monday–Friday except public holidays, plus make-up workdays.
    CN_WORKDAYS = "cn_workdays"
    #: Every day except Chinese public holidays (weekends included).
    CN_HOLIDAYS = "cn_holidays"
    #: Monday–Friday.
    WEEKDAYS = "weekdays"
    #: Every day.
    ALL = "all"
    #: No day: a custom calendar open only on the days it lists (trading days...).
    NONE = "none"

    @property
    def chinese(self) -> bool:
        """Whether the Chinese public-holiday sources decide this base's days."""
        return self in (Base.CN_WORKDAYS, Base.CN_HOLIDAYS)

    def rule_opens(self, day: date) -> bool:
        """The base's answer for an ordinary day (no holiday, no make-up workday)."""
        if self in (Base.CN_WORKDAYS, Base.WEEKDAYS):
            return day.weekday() < 5
        return self is not Base.NONE


#: ``cn_skip_holidays`` is the name stored schedules have used for ``cn_holidays``.
ALIASES: Mapping[str, str] = {"cn_skip_holidays": Base.CN_HOLIDAYS.value}
#: Calendars that exist without being stored; a stored calendar of that name (same base)
#: adds its overrides to the built-in one.
BUILTIN_NAMES: frozenset[str] = frozenset(b.value for b in Base if b is not Base.NONE)


class OverrideKind(enum.StrEnum):
    """Why a day is open or closed against the base rule; each kind implies one."""

    HOLIDAY = "holiday"
    MAKEUP_WORKDAY = "makeup_workday"
    EXTRA_CLOSED = "extra_closed"
    EXTRA_OPEN = "extra_open"
    TRADING_DAY = "trading_day"

    @property
    def opens(self) -> bool:
        return self not in (OverrideKind.HOLIDAY, OverrideKind.EXTRA_CLOSED)


def check_name(name: str) -> str:
    """``name`` if it is a valid calendar name, else ValueError saying what one is."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            "a calendar name is 1-64 lower-case letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit (got {name!r})"
        )
    return name


def canonical_name(name: str) -> str:
    """``name`` with an alias resolved (``cn_skip_holidays`` → ``cn_holidays``)."""
    return ALIASES.get(name, name)


def _storable_text(value: str | None) -> str | None:
    # PostgreSQL keeps no text holding NUL: such a note failed the store's write (a 500
    # from the API) after every check had passed.
    if value is not None and "\0" in value:
        raise ValueError("holds a NUL character, which no store accepts in text")
    return value


def _check_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    return year


class Override(BaseModel):
    """One dated exception to a calendar's base rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: datetime.date
    open: bool
    #: Input without a kind gets ``extra_open`` / ``extra_closed`` after ``open``.
    kind: OverrideKind
    note: str | None = Field(default=None, max_length=200)
    #: The year of the notice that set this day when it lies in another year (a make-up
    #: workday on 31 December before): entering that year's notice again replaces it.
    notice: int | None = None

    @field_validator("date")
    @classmethod
    def _year_in_range(cls, value: datetime.date) -> datetime.date:
        _check_year(value.year)
        return value

    _note_storable = field_validator("note")(_storable_text)

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("kind") is None and "open" in data:
            opens = data["open"]
            if isinstance(opens, bool):
                kind = OverrideKind.EXTRA_OPEN if opens else OverrideKind.EXTRA_CLOSED
                return {**data, "kind": kind}
        return data

    @model_validator(mode="after")
    def _kind_matches(self) -> Self:
        if self.kind.opens != self.open:
            state = "open" if self.kind.opens else "closed"
            raise ValueError(f"a {self.kind.value} day is {state}, not {_state(self.open)}")
        return self


def _state(opens: bool) -> str:
    return "open" if opens else "closed"


#: The first day of the December before that a notice may set. A New Year's break ends
#: on 1 January or later and lasts at most three days, so it starts on 30 December at the
#: earliest; its make-up workday is a day of the weekend before, 28 December at the
#: earliest. The notices since 2004 set 29-31 December only (the 2008, 2012 and 2019 ones).
FIRST_DECEMBER_DAY = 28
#: The weekdays' names, Monday first (``date.weekday()``), as errors write them.
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def notice_problem(year: int, day: datetime.date) -> str | None:
    """Why a notice for ``year`` cannot set ``day``, if it cannot.

    A State Council notice arranges its year's holidays; the only days of another year it
    sets are the last days of the December before (New Year's Day break and its make-up
    workday, as the 2012 and 2019 notices did; :data:`FIRST_DECEMBER_DAY`). A date
    elsewhere is a typo that would silently close or open a day some other source decides.
    """
    if day.year == year or (
        day.year == year - 1 and day.month == 12 and day.day >= FIRST_DECEMBER_DAY
    ):
        return None
    return (
        f"{day.isoformat()} is not a day a {year} notice sets: it sets days of {year} "
        f"(and {FIRST_DECEMBER_DAY}-31 December {year - 1}, for New Year's Day)"
    )


def makeup_problem(item: Override) -> str | None:
    """Why ``item`` cannot be an open day of a notice, if it cannot: a notice opens
    make-up workdays only, weekend days worked instead of a holiday. A weekday is open
    anyway, so listing one is a wrong date (a Monday typed for the Sunday before)."""
    weekday = item.date.weekday()
    if not item.open or weekday >= 5:
        return None
    return (
        f"{item.date.isoformat()} is a {WEEKDAY_NAMES[weekday]}: a make-up workday (上班) "
        "is a Saturday or Sunday worked instead of a holiday"
    )


def check_notice(year: int, days: Sequence[Override], *, confirmed: bool) -> None:
    """ValidationError unless ``days`` can be the notice of ``year``: every day one it
    sets (:func:`notice_problem`), and when they confirm the year at least one holiday
    of it (an empty file would confirm a year whose every statutory holiday is then a
    workday). Unconfirmed, no days withdraws what the year's notice had set."""
    for item in days:
        problem = notice_problem(year, item.date)
        if problem is not None:
            raise ValidationError(problem, field="overrides")
    if confirmed and not any(not item.open and item.date.year == year for item in days):
        raise ValidationError(
            f"the notice closes no day of {year}: a State Council notice lists the "
            f"year's holidays (放假 / holiday lines)",
            field="overrides",
        )


class DayTable(BaseModel):
    """Dated overrides and the years whose overrides are complete (``confirmed_years``).

    Entering the State Council's notice for a year and marking the year confirmed is how
    an operator tells schedkit the year is known: the days the table does not list then
    follow the base rule, whatever the packages guess.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    overrides: tuple[Override, ...] = Field(default=(), max_length=MAX_OVERRIDES)
    confirmed_years: frozenset[int] = frozenset()

    @field_validator("overrides")
    @classmethod
    def _sorted_unique(cls, value: tuple[Override, ...]) -> tuple[Override, ...]:
        seen: set[date] = set()
        for item in value:
            if item.date in seen:
                raise ValueError(f"{item.date.isoformat()} is listed twice")
            seen.add(item.date)
        return tuple(sorted(value, key=lambda item: item.date))

    @field_validator("confirmed_years")
    @classmethod
    def _years_in_range(cls, value: frozenset[int]) -> frozenset[int]:
        for year in value:
            _check_year(year)
        return value

    @functools.cached_property
    def by_date(self) -> Mapping[date, Override]:
        return {item.date: item for item in self.overrides}

    def years(self) -> frozenset[int]:
        """Years with at least one override."""
        return frozenset(item.date.year for item in self.overrides)

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` (``model_copy`` would keep :attr:`by_date`)."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).model_validate({**fields, **changes})

    def with_overrides(self, overrides: Iterable[Override]) -> Self:
        """A copy with ``overrides`` added, replacing those of the same dates."""
        merged = dict(self.by_date)
        merged.update((item.date, item) for item in overrides)
        return self.replace(overrides=tuple(merged.values()))

    def without_dates(self, days: Iterable[date]) -> Self:
        """A copy without the overrides of ``days``."""
        drop = set(days)
        kept = tuple(item for item in self.overrides if item.date not in drop)
        return self.replace(overrides=kept)

    def with_year(self, year: int, overrides: Iterable[Override], *, confirmed: bool) -> Self:
        """A copy whose overrides of ``year`` are exactly ``overrides``, and ``year``
        confirmed or not. Entries of December before among them (a make-up workday on 31
        December) are added, marked as set by ``year``'s notice; those an earlier entry
        of ``year`` set are removed, and days of ``year`` another year's notice set are
        kept. ValidationError (:func:`check_notice`) for days no notice of ``year`` sets."""
        _check_year(year)
        days = list(overrides)
        check_notice(year, days, confirmed=confirmed)
        # Dropped: what the notice of ``year`` set before (its year's unmarked entries, and
        # days of December before marked with it). Kept: days of ``year`` another year's
        # notice set (the next notice's make-up workday on 31 December).
        kept = [item for item in self.overrides if not _set_by_notice(item, year)]
        entered = [
            item if item.date.year == year else item.model_copy(update={"notice": year})
            for item in days
        ]
        years = self.confirmed_years | {year} if confirmed else self.confirmed_years - {year}
        return self.replace(overrides=tuple(kept), confirmed_years=years).with_overrides(entered)

    def notice_days(self, year: int) -> tuple[Override, ...]:
        """The days the notice of ``year`` entered set: what entering it again replaces
        (its year's days no other notice set, and days of December before marked with it)."""
        return tuple(item for item in self.overrides if _set_by_notice(item, year))

    def dropped_by(self, year: int, overrides: Iterable[Override]) -> list[Override]:
        """The days the stored notice of ``year`` sets that ``overrides``, a notice of
        ``year`` entered again, leave out: entered, those would lose their holiday (or
        make-up workday) without the new text saying so."""
        listed = {item.date for item in overrides}
        return [item for item in self.notice_days(year) if item.date not in listed]

    def with_confirmed(self, year: int, confirmed: bool = True) -> Self:
        """A copy with ``year`` marked confirmed (or no longer); ValidationError naming
        ``year`` outside the calendars' range."""
        try:
            _check_year(year)
        except ValueError as exc:
            raise ValidationError(str(exc), field="year") from None
        years = self.confirmed_years | {year} if confirmed else self.confirmed_years - {year}
        return self.replace(confirmed_years=years)


def _set_by_notice(item: Override, year: int) -> bool:
    # A day of another year is marked with the notice that set it; a day of ``year``
    # without a mark was set by ``year``'s own notice.
    return item.notice == year or (item.date.year == year and item.notice is None)


class Calendar(DayTable):
    """A named calendar: a base rule, its overrides and its confirmed years."""

    name: str
    base: Base
    description: str = Field(default="", max_length=500)

    _description_storable = field_validator("description")(_storable_text)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return canonical_name(check_name(value))

    @field_validator("base", mode="before")
    @classmethod
    def _base_alias(cls, value: object) -> object:
        return ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("base")
    @classmethod
    def _builtin_keeps_its_base(cls, value: Base, info: ValidationInfo) -> Base:
        name = info.data.get("name")
        if name in BUILTIN_NAMES and value.value != name:
            raise ValueError(f"the built-in calendar {name!r} has base {name!r}")
        return value

    def to_json(self) -> dict[str, Any]:
        """The calendar as stored (and exported): plain JSON, years sorted."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["base"] = self.base.value
        if self.confirmed_years:
            data["confirmed_years"] = sorted(self.confirmed_years)
        return data


def builtin_calendar(name: str) -> Calendar | None:
    """The calendar ``name`` (alias resolved) means with nothing stored, or None."""
    name = canonical_name(name)
    return Calendar(name=name, base=Base(name)) if name in BUILTIN_NAMES else None


def table_to_json(table: DayTable) -> dict[str, Any]:
    """A :class:`DayTable` as stored: plain JSON, years sorted."""
    data = table.model_dump(mode="json", exclude_defaults=True)
    if table.confirmed_years:
        data["confirmed_years"] = sorted(table.confirmed_years)
    return data


def parse_calendar(data: object) -> Calendar:
    """A :class:`Calendar` from JSON-like data, or ValidationError naming the field."""
    return _validate(Calendar, data)


def parse_table(data: object) -> DayTable:
    """A :class:`DayTable` from JSON-like data, or ValidationError naming the field."""
    return _validate(DayTable, data)


def parse_override(data: object) -> Override:
    """An :class:`Override` from JSON-like data, or ValidationError naming the field."""
    return _validate(Override, data)


def _validate(model: type[_M], data: object) -> _M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(
    exc: pydantic.ValidationError, prefix: tuple[str | int, ...] = ()
) -> ValidationError:
    """pydantic's errors as one :class:`ValidationError` naming the first field at fault."""
    problems = [
        {"loc": [*prefix, *error["loc"]], "msg": _message(error), "type": error["type"]}
        for error in exc.errors()
    ]
    first = problems[0]
    message = str(first["msg"])
    if len(problems) > 1:
        rest = "; ".join(f"{_dotted(p['loc'])}: {p['msg']}" for p in problems[1:])
        message = f"{message} (also {rest})"
    return ValidationError(message, field=_dotted(first["loc"]) or None, errors=problems)


def _message(error: Any) -> str:
    message = str(error["msg"])
    # pydantic prefixes errors raised in validators; users need only the reason.
    return message.removeprefix("Value error, ")


def _dotted(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)
