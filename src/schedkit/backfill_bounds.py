"""The text of a backfill bound (``from`` / ``to``), read alike by the API, the CLI and
the Python façade.

One grammar, written out rather than delegated: ``datetime.fromisoformat`` takes the
whole of ISO 8601 (basic ``20240310T000000+0800``, week dates ``2024-W10-1``) and
pydantic's parser takes a space for ``T``, ``+0800`` and seven fraction digits, so the
CLI accepted what the API refused and each accepted what docs/backfill.md does not list
(an audit). A bound is one of:

* a date, ``YYYY-MM-DD``: that whole day in the schedule's timezone;
* a date-time, ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` followed by its offset, ``Z`` or
  ``±HH:MM``. Without an offset it is refused, not read as a wall time: midnight would be
  a whole day to one reader and an instant to another.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from schedkit.errors import ValidationError

__all__ = ["EXPECTED", "parse_bound"]

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The date-time form; the offset group is optional only to tell "no offset" apart from
#: "not this form at all" in the message.
_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
    # fromisoformat reads +08:60 as +09:00: the offset's ranges are checked here.
    r"(?P<offset>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
)
#: What a bound may be, in every refusal (the CLI, the API and Python say the same).
EXPECTED = (
    "a date (YYYY-MM-DD, the whole day) or a date-time with its offset "
    "(YYYY-MM-DDTHH:MM[:SS[.ffffff]] then Z or ±HH:MM, e.g. 2026-11-01T09:00+08:00)"
)


def parse_bound(text: str, *, field: str) -> date | datetime:
    """``text`` as a backfill bound: a :class:`date` or an aware :class:`datetime`.
    ValidationError naming ``field`` for anything else, a naive date-time included."""
    if _DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError as exc:  # 2026-02-30: the shape is right, the day is not
            raise ValidationError(f"{text} is not a date: {exc}", field=field) from None
    moment = _MOMENT.fullmatch(text)
    if moment is None:
        raise ValidationError(f"{text!r} is not {EXPECTED}", field=field)
    if moment["offset"] is None:
        raise ValidationError(
            f"{text} has no offset: a date-time needs one ({text}+08:00, {text}Z); "
            f"a date alone ({text[:10]}) is that whole day",
            field=field,
        )
    try:
        # The shape is checked above; fromisoformat now only checks the values
        # (month 13, day 31 of April, hour 24).
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{text} is not a valid date-time: {exc}", field=field) from None
