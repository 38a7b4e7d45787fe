"""Overrides to and from files: CSV, JSON lines, and the State Council notice form.

* CSV: ``date,status,kind,note`` (``status`` is ``open`` or ``closed``; ``kind`` and
  ``note`` may be empty; a header line is optional). A cell that starts like a
  spreadsheet formula (``=``, ``+``, ``-``, ``@``) is written with a leading ``'`` and
  read back without it: a note is text, never a formula, in the spreadsheet the export
  is opened in.
* JSON lines: one override per line, ``{"date": "2027-01-01", "open": false, "kind":
  "holiday", "note": "元旦"}`` (``kind`` and ``note`` optional).
* Notice: the State Council's notice as typed from it, one line per holiday range or
  make-up workday (:mod:`schedkit.calendars.notice_form`)::

      放假 2027-01-01 至 2027-01-03 元旦         (or: holiday 2027-01-01..2027-01-03 元旦)
      放假 2027-02-05（星期五）至 13日 春节      (a date: YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD,
                                                YYYY年M月D日; an end also MM-DD, M月D日, D日
                                                or a day number; joined by 至 到 起至 ..
                                                ~ ～ - – — or to)
      上班 2027-02-14 春节调休                   (or: workday 2027-02-14 春节调休)

In every format blank lines and lines starting with ``#`` are skipped, and a file with
bad lines is refused whole with an error for each (:class:`CalendarImportError`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pydantic

from schedkit._filetext import csv_cell, csv_problem, csv_value, read_json
from schedkit.calendars.model import (
    Override,
    OverrideKind,
    makeup_problem,
    notice_problem,
    validation_error,
)
from schedkit.calendars.notice_form import notice_line
from schedkit.errors import ValidationError

Format = Literal["csv", "jsonl", "notice"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "notice")
#: A file's text through the API, and a notice file from the command line: about 2,000
#: lines (several years of trading days; a State Council notice is a few dozen).
MAX_FILE_CHARS = 80_000

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "notice",
    ".notice": "notice",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class LineError:
    line: int
    message: str


class CalendarImportError(ValidationError):
    """A file of overrides has bad lines; ``lines`` holds one error per bad line."""

    def __init__(self, lines: Sequence[LineError]):
        shown = "; ".join(f"line {e.line}: {e.message}" for e in lines[:20])
        more = f" (and {len(lines) - 20} more)" if len(lines) > 20 else ""
        count = f"{len(lines)} bad line" + ("s" if len(lines) > 1 else "")
        super().__init__(
            f"{count}: {shown}{more}",
            field="file",
            errors=[{"loc": ["line", e.line], "msg": e.message} for e in lines],
        )
        self.lines = list(lines)


def format_for(filename: str) -> Format:
    """The format a file name's suffix means; ValidationError for another suffix."""
    lowered = filename.lower()
    for suffix, fmt in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    known = ", ".join(_SUFFIXES)
    raise ValidationError(f"cannot tell the format of {filename!r}: expected {known}", field="file")


def parse_overrides(text: str, fmt: Format, *, notice_year: int | None = None) -> list[Override]:
    """The overrides in ``text``, in file order; CalendarImportError listing each bad
    line (a date given twice is an error on its second line; with ``notice_year`` a date
    that year's notice cannot set, see :func:`~schedkit.calendars.model.notice_problem`,
    and an open day that is no weekend day, :func:`~schedkit.calendars.model.makeup_problem`)."""
    parse_line = {"csv": _csv_line, "jsonl": _jsonl_line, "notice": notice_line}[fmt]
    found: list[Override] = []
    where: dict[date, int] = {}
    errors: list[LineError] = []
    for number, line in _content_lines(text):
        if fmt == "csv" and not where and not errors and line.lower().startswith("date,"):
            continue  # the header
        try:
            items = parse_line(line)
        except ValidationError as exc:
            errors.append(LineError(line=number, message=str(exc)))
            continue
        for item in items:
            problem = None
            if notice_year:
                problem = notice_problem(notice_year, item.date) or makeup_problem(item)
            if problem is not None:
                errors.append(LineError(line=number, message=problem))
                break
            if item.date in where:
                errors.append(
                    LineError(
                        line=number,
                        message=f"{item.date.isoformat()} is already given on line "
                        f"{where[item.date]}",
                    )
                )
                break
            where[item.date] = number
            found.append(item)
    if errors:
        raise CalendarImportError(errors)
    return found


def export_overrides(overrides: Iterable[Override], fmt: Format) -> str:
    """``overrides`` written in ``fmt``, sorted by date; :func:`parse_overrides` reads
    them back. The notice form holds holidays and make-up workdays only."""
    items = sorted(overrides, key=lambda item: item.date)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["date", "status", "kind", "note"])
        for item in items:
            status = "open" if item.open else "closed"
            cells = (item.date.isoformat(), status, item.kind.value, item.note or "")
            writer.writerow([csv_cell(cell) for cell in cells])
        return out.getvalue()
    if fmt == "jsonl":
        lines = (
            json.dumps(item.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
            for item in items
        )
        return "".join(f"{line}\n" for line in lines)
    return _export_notice(items)


def notice_text(days: Sequence[Override]) -> tuple[Format, str]:
    """The days a year's notice set as the text to edit and enter again: the notice form,
    or CSV when some day is of a kind the notice form does not hold (entered as CSV)."""
    fmt: Format = "notice" if all(item.kind in _NOTICE_KINDS for item in days) else "csv"
    return fmt, export_overrides(days, fmt) if days else ""


def _content_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if line and not line.startswith("#"):
            yield number, line


def _override(data: object) -> Override:
    try:
        return Override.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None


def _csv_line(line: str) -> list[Override]:
    try:
        cells = next(csv.reader([line]))
    except csv.Error as exc:
        raise ValidationError(csv_problem(exc)) from None
    if not 2 <= len(cells) <= 4:
        raise ValidationError(f"expected date,status[,kind[,note]], got {len(cells)} fields")
    day, status, kind, note = [*(csv_value(cell.strip()) for cell in cells), "", ""][:4]
    if status.lower() not in ("open", "closed"):
        raise ValidationError(f"status must be 'open' or 'closed', got {status!r}", field="status")
    return [
        _override(
            {
                "date": day,
                "open": status.lower() == "open",
                "kind": kind or None,
                "note": note or None,
            }
        )
    ]


def _jsonl_line(line: str) -> list[Override]:
    data = read_json(line)
    if not isinstance(data, dict):
        raise ValidationError(f"expected a JSON object, got {type(data).__name__}")
    return [_override(data)]


def _export_notice(items: Sequence[Override]) -> str:
    odd = [i.date.isoformat() for i in items if i.kind not in _NOTICE_KINDS]
    if odd:
        raise ValidationError(
            "the notice form holds holidays and make-up workdays only; not " + ", ".join(odd[:10]),
            field="format",
        )
    lines: list[str] = []
    run: list[Override] = []
    for item in [*items, None]:
        if run and (
            item is None
            or item.open
            or item.note != run[-1].note
            or item.date != run[-1].date + timedelta(days=1)
        ):
            first, last = run[0].date.isoformat(), run[-1].date.isoformat()
            span = first if first == last else f"{first} 至 {last}"
            lines.append(_with_note(f"放假 {span}", run[0].note))
            run = []
        if item is None:
            break
        if item.open:
            lines.append(_with_note(f"上班 {item.date.isoformat()}", item.note))
        else:
            run.append(item)
    return "".join(f"{line}\n" for line in lines)


_NOTICE_KINDS = frozenset({OverrideKind.HOLIDAY, OverrideKind.MAKEUP_WORKDAY})


def _with_note(text: str, note: str | None) -> str:
    return f"{text} {note}" if note else text
