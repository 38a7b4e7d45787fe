"""The JSON texts and CSV cells of the files schedkit imports and exports.

Both importers (a calendar's overrides, :mod:`schedkit.calendars.transfer`; schedules,
:mod:`schedkit.service.schedule_files`) report a bad line with the file's other bad lines
and refuse the file whole. So whatever one line holds must come out of these readers as
a :class:`~schedkit.errors.ValidationError` of that line, never as the parser's own
exception (a ``RecursionError``, a ``ValueError``, a ``csv.Error``): that would end the
import as a 500, or the CLI's "unexpected error", without the report of the other lines.

A CSV file schedkit writes is opened in spreadsheets: a cell that starts like a formula
is written as text (OWASP's advice: a leading ``'``), and read back without it.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from typing import Any

from schedkit.errors import ValidationError

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonTextError",
    "csv_cell",
    "csv_problem",
    "csv_value",
    "read_json",
]

#: Deepest nesting of arrays and objects in the JSON text of a line or a cell. The parser
#: recurses per level and gives up near Python's recursion limit, sooner the deeper the
#: stack it is called from; a limit of our own is the same for every caller and far
#: above what a schedule or an override holds.
MAX_JSON_DEPTH = 100

# A JSON string (escapes included) or a bracket: what nesting is counted from.
_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
# What a spreadsheet reads as the start of a formula (OWASP's list), after any quotes
# already there: such a cell gets one more, so that reading back strips exactly one.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_WRITTEN_AS_TEXT = re.compile(r"'+[=+\-@\t\r]")
_FIELD_LIMIT = "field larger than field limit"
_BARE_CR = "new-line character seen in unquoted field"


class JsonTextError(ValidationError):
    """The JSON text of a file's line or cell cannot be read; the message says why."""


def read_json(text: str, *, field: str | None = None) -> Any:
    """The value of the JSON ``text``; :class:`JsonTextError` (naming ``field``) when it is
    not JSON, nests more than :data:`MAX_JSON_DEPTH` levels, or holds an integer of more
    digits than Python converts (``sys.get_int_max_str_digits()``)."""
    too_deep = f"nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects)"
    if _deeper_than(text, MAX_JSON_DEPTH):
        raise JsonTextError(too_deep, field=field)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"not JSON ({exc.msg}, column {exc.colno})", field=field) from None
    except RecursionError:
        raise JsonTextError(too_deep, field=field) from None
    except ValueError:
        # The only other ValueError of json.loads on a str: int() refusing a long number.
        digits = sys.get_int_max_str_digits()
        raise JsonTextError(
            f"a number of more than {digits:,} digits (the most an integer may have)",
            field=field,
        ) from None


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if _FORMULA.match(value) else value


def csv_value(cell: str) -> str:
    """The value :func:`csv_cell` wrote as ``cell``."""
    return cell[1:] if _WRITTEN_AS_TEXT.match(cell) else cell


def csv_problem(exc: csv.Error) -> str:
    """What ``exc``, raised reading a CSV line, means to the file's author."""
    if str(exc).startswith(_FIELD_LIMIT):
        return f"a field longer than {csv.field_size_limit():,} characters (the most one may hold)"
    if str(exc).startswith(_BARE_CR):
        # The csv module's own hint is for Python code ("universal-newline mode").
        return (
            "a carriage return (\\r) in a field that is not quoted: quote the field, or "
            "end the lines with \\n or \\r\\n"
        )
    return f"not CSV ({exc})"


def _deeper_than(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, without a scan
    depth = 0
    for match in _NESTING.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False
