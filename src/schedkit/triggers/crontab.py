"""Crontab strings, compiled to a :class:`~schedkit.triggers.fields.FieldSet`.

Debian cron's language: ``minute hour day-of-month month day-of-week`` (or a leading
seconds field first), each field ``*``, a number or name, a range ``a-b``, any of those
with ``/step``, or a comma list of them. Day-of-week 0 and 7 are Sunday. When day-of-month
and day-of-week are both restricted (neither starts with ``*``) a day matching either
fires, else both must match. A range with a step counts from its start and stops at its
end, so ``5-5/15`` is minute 5 only (cronsim, which schedkit used before, read it as
``5/15``).

Extensions, as documented in docs/schedules.md: ``a/step`` (``a`` to the field's maximum,
as in croniter and cronsim), ``L`` and ``LW`` in day-of-month (last day, last weekday),
``nL`` and ``n#k`` in day-of-week (last / *k*-th weekday *n* of the month), the ``@daily``
family of macros.
"""

from __future__ import annotations

from functools import lru_cache

from schedkit.triggers.fields import (
    LAST,
    MAX_EXPRESSION_LENGTH,
    MAX_LIST_ITEMS,
    DayRule,
    FieldError,
    FieldSet,
    bits,
)

# Debian cron's macros, so that "@daily" means what it means in a crontab.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_WEEKDAYS = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_DIGITS = frozenset("0123456789")
_MAX_DIGITS = 4
_DOM, _MONTH, _DOW = 3, 4, 5


def expand_macro(expression: str) -> str:
    """``expression`` stripped, with a Debian macro (``@daily`` ...) expanded."""
    text = expression.strip()
    return MACROS.get(text.lower(), text)


@lru_cache(maxsize=4096)
def compile_crontab(expression: str) -> FieldSet:
    """The field set of a crontab string; raises :class:`FieldError` naming the bad field."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise FieldError(None, f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    parts = expand_macro(expression).upper().split()
    if len(parts) == 5:
        parts.insert(0, "0")
    elif len(parts) != 6:
        raise FieldError(
            None,
            f"wrong number of fields: {len(parts)} (expected 5, or 6 with a leading seconds field)",
        )
    values: list[frozenset[int]] = []
    for index in (0, 1, 2, _MONTH):
        values.append(_plain_field(index, parts[index]))
    seconds, minutes, hours, months = values
    days, last_day, last_weekday = _day_of_month(parts[_DOM])
    weekdays, positions = _day_of_week(parts[_DOW])
    dom_text, dow_text = parts[_DOM], parts[_DOW]
    rule = DayRule(
        days=bits(days),
        last_day=last_day,
        last_weekday=last_weekday,
        # Crontab counts from Sunday (0 and 7); the day rule from Monday.
        weekdays=bits(frozenset((day + 6) % 7 for day in weekdays)),
        weekday_positions=frozenset(((day + 6) % 7, n) for day, n in positions),
        either=not (dom_text.startswith("*") or dow_text.startswith("*")),
    )
    return FieldSet(
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        months=tuple(sorted(months)),
        years=None,
        day_rule=rule,
        wildcard=parts[1].startswith("*") or parts[2].startswith("*"),
    )


def _items(index: int, text: str) -> list[str]:
    items = text.split(",")
    if len(items) > MAX_LIST_ITEMS:
        raise _bad(index, text, f"more than {MAX_LIST_ITEMS} list items")
    return items


# Field texts repeat across expressions ("*", "0", "1-5"): parse each once.
@lru_cache(maxsize=4096)
def _plain_field(index: int, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in _items(index, text):
        values |= _range(index, item, text)
    return frozenset(values)


@lru_cache(maxsize=4096)
def _day_of_month(text: str) -> tuple[frozenset[int], bool, bool]:
    days: set[int] = set()
    last_day = last_weekday = False
    for item in _items(_DOM, text):
        if item == "L":
            last_day = True
        elif item == "LW":
            last_weekday = True
        else:
            days |= _range(_DOM, item, text)
    return frozenset(days), last_day, last_weekday


@lru_cache(maxsize=4096)
def _day_of_week(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    weekdays: set[int] = set()
    positions: set[tuple[int, int]] = set()
    for item in _items(_DOW, text):
        if item.endswith("L"):
            positions.add((_number(_DOW, item[:-1], text, names=False), LAST))
        elif "#" in item:
            day, _, nth = item.partition("#")
            n = _number(_DOW, nth, text, names=False, bounds=(1, 5))
            positions.add((_number(_DOW, day, text), n))
        else:
            weekdays |= _range(_DOW, item, text)
    return frozenset(weekdays), frozenset(positions)


def _range(index: int, item: str, text: str) -> set[int]:
    low, high = _BOUNDS[index]
    span, slash, step_text = item.partition("/")
    step = _number(index, step_text, text, names=False, bounds=(1, 10**_MAX_DIGITS)) if slash else 1
    if span == "*":
        first, last = low, high
    else:
        start, dash, end = span.partition("-")
        first = _number(index, start, text)
        # "a/step" runs to the field's end; a plain "a" is just a.
        last = _number(index, end, text) if dash else (high if slash else first)
        if last < first:
            raise _bad(index, text, f"range {span} runs backwards")
    return set(range(first, last + 1, step))


def _number(
    index: int,
    token: str,
    text: str,
    *,
    names: bool = True,
    bounds: tuple[int, int] | None = None,
) -> int:
    low, high = bounds or _BOUNDS[index]
    named = _MONTHS if index == _MONTH else _WEEKDAYS if index == _DOW else None
    if names and named is not None and token in named:
        return named[token]
    # isdigit() would accept "¹" and other Unicode digits.
    if not token or len(token) > _MAX_DIGITS or not set(token) <= _DIGITS:
        raise _bad(index, text, f"{token!r} is not a number" + _name_hint(index, names))
    value = int(token)
    if not low <= value <= high:
        raise _bad(index, text, f"{value} is outside {low}-{high}")
    return value


def _name_hint(index: int, names: bool) -> str:
    if names and index == _MONTH:
        return " or a month name (JAN-DEC)"
    if names and index == _DOW:
        return " or a weekday name (SUN-SAT)"
    return ""


def _bad(index: int, text: str, reason: str) -> FieldError:
    name = _NAMES[index]
    return FieldError(name, f"bad {name} {text.lower()!r}: {reason}")
