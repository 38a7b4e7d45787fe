"""APScheduler 3's cron fields, compiled to a :class:`~schedkit.triggers.fields.FieldSet`.

The field *language* is APScheduler 3's, so that dicts written for APScheduler keep their
meaning: fields ``year month day week day_of_week hour minute second`` (``week`` is the
ISO week, ``day_of_week`` counts from Monday = 0); each value ``*``, ``*/n``, ``a``,
``a-b``, ``a-b/n``, ``a/n`` (``a`` to the field's maximum) or a comma list of those;
``jan``-``dec`` and ``mon``-``sun`` names (ranges of names too); in ``day``, ``last`` and
``1st``-``5th`` / ``last`` followed by a weekday name. Fields smaller than the smallest
field given default to their minimum, larger ones to ``*``. All fields must match (no
day-of-month / day-of-week OR, unlike a crontab).

Two deliberate differences: a step after month or weekday names applies
(``"jan-jul/2"``; APScheduler silently dropped it), and text that APScheduler's
unanchored patterns let through (``"lastly"`` as ``last``, ``"jan-6"`` as ``jan``) is an
error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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

FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_DEFAULTS = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}
_BOUNDS = {
    "year": (1970, 9999),
    "month": (1, 12),
    "day": (1, 31),
    "week": (1, 53),
    "day_of_week": (0, 6),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMES = {
    "month": {name: n for n, name in enumerate(_MONTHS, 1)},
    "day_of_week": {name: n for n, name in enumerate(_WEEKDAYS)},
}
_SEPARATOR = re.compile(r" *, *")
# [0-9], not \d: \d also matches other scripts' digits.
_RANGE = re.compile(r"(\*|[a-z]+|[0-9]{1,4})(?:-([a-z]+|[0-9]{1,4}))?(?:/([0-9]{1,4}))?", re.I)
_POSITION = re.compile(r"(1st|2nd|3rd|4th|5th|last) +([a-z]+)", re.IGNORECASE)
_ORDINALS = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": LAST}

CronValue = int | str


def field_texts(given: Mapping[str, CronValue]) -> dict[str, str]:
    """Every field's text once defaults are filled in, as APScheduler 3 fills them."""
    texts: dict[str, str] = {}
    remaining = set(given)
    defaults = False
    for name in FIELDS:
        if name in given:
            texts[name] = _SEPARATOR.sub(",", str(given[name]).strip())
            remaining.discard(name)
            defaults = not remaining
        else:
            texts[name] = _DEFAULTS[name] if defaults else "*"
    return texts


def check_field(name: str, value: CronValue) -> None:
    """Raise :class:`FieldError` when one field's value is not valid on its own."""
    _parse(name, _SEPARATOR.sub(",", str(value).strip()))


def compile_fields(given: Mapping[str, CronValue]) -> FieldSet:
    """The field set of the given cron fields; raises :class:`FieldError` naming the field."""
    return _compile(tuple(sorted((name, str(value)) for name, value in given.items())))


@lru_cache(maxsize=4096)
def _compile(given: tuple[tuple[str, str], ...]) -> FieldSet:
    texts = field_texts(dict(given))
    parsed = {name: _parse(name, text) for name, text in texts.items()}
    days, day_positions = parsed["day"]
    rule = DayRule(
        days=bits(frozenset(days - {0})),
        last_day=0 in days,
        day_positions=frozenset(day_positions),
        weekdays=bits(frozenset(parsed["day_of_week"][0])),
        weeks=None if texts["week"] == "*" else bits(frozenset(parsed["week"][0])),
    )
    return FieldSet(
        seconds=tuple(sorted(parsed["second"][0])),
        minutes=tuple(sorted(parsed["minute"][0])),
        hours=tuple(sorted(parsed["hour"][0])),
        months=tuple(sorted(parsed["month"][0])),
        years=None if texts["year"] == "*" else tuple(sorted(parsed["year"][0])),
        day_rule=rule,
        wildcard=texts["hour"].startswith("*") or texts["minute"].startswith("*"),
    )


def _parse(name: str, text: str) -> tuple[set[int], set[tuple[int, int]]]:
    """Values (day 0 standing for ``last``) and weekday positions of one field."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FieldError(name, f"longer than {MAX_EXPRESSION_LENGTH} characters")
    items = text.split(",")
    if len(items) > MAX_LIST_ITEMS:
        raise FieldError(name, f"more than {MAX_LIST_ITEMS} list items")
    values: set[int] = set()
    positions: set[tuple[int, int]] = set()
    for item in items:
        if name == "day" and item.lower() == "last":
            values.add(0)
        elif name == "day" and (match := _POSITION.fullmatch(item)):
            positions.add(_position(item, match))
        else:
            values |= _range(name, item)
    return values, positions


def _position(item: str, match: re.Match[str]) -> tuple[int, int]:
    weekday = match.group(2).lower()
    if weekday not in _WEEKDAYS:
        raise FieldError("day", f"invalid day {item!r}: {weekday!r} is not a weekday name")
    return _WEEKDAYS.index(weekday), _ORDINALS[match.group(1).lower()]


def _range(name: str, item: str) -> set[int]:
    match = _RANGE.fullmatch(item)
    if match is None:
        raise FieldError(name, f"invalid {name} {item!r}: not an expression this field takes")
    low, high = _BOUNDS[name]
    start, end, step_text = match.groups()
    if start == "*":
        if end is not None:
            raise FieldError(name, f"invalid {name} {item!r}: '*' cannot start a range")
        first, last = low, high
    else:
        if end is not None and start.isdigit() != end.isdigit():
            raise FieldError(name, f"invalid {name} {item!r}: mixes a name and a number")
        first = _value(name, item, start)
        if end is not None:
            last = _value(name, item, end)
        else:
            # "a/n" runs to the field's end; a plain "a" is just a.
            last = high if step_text is not None else first
    if last < first:
        raise FieldError(
            name, f"invalid {name} {item!r}: the first value {first} is after the last {last}"
        )
    step = 1 if step_text is None else int(step_text)
    if step == 0:
        raise FieldError(name, f"invalid {name} {item!r}: the step must be at least 1")
    # APScheduler's own check, kept so that its users get the error they know.
    if step_text is not None and step > last - first:
        raise FieldError(
            name,
            f"invalid {name} {item!r}: the step {step} is larger than the range {first}-{last}",
        )
    return set(range(first, last + 1, step))


def _value(name: str, item: str, token: str) -> int:
    low, high = _BOUNDS[name]
    if token.isdigit():
        value = int(token)
        if not low <= value <= high:
            raise FieldError(name, f"invalid {name} {item!r}: {value} is outside {low}-{high}")
        return value
    number = _NAMES.get(name, {}).get(token.lower())
    if number is None:
        kind = {"month": "a number or month name", "day_of_week": "a number or weekday name"}
        raise FieldError(
            name, f"invalid {name} {item!r}: {token!r} is not {kind.get(name, 'a number')}"
        )
    return number
