"""Overrides to and from files: CSV, JSON lines, and the State Council notice form.

* CSV: ``date,status,kind,note`` (``status`` is ``open`` or ``closed``; ``kind`` and
  ``note`` may be empty; a header line is optional). A cell that starts like a
  spreadsheet formula (``=``, ``+``, ``-``, ``@``) is written with a leading ``'`` and
  read back without it: a note is text, never a formula, in the spreadsheet the export
  is opened in.
* JSON lines: one override per line, ``{"date": "2027-01-01", "open": false, "kind":
  "holiday", "note": "元旦"}`` (``kind`` and ``note`` optional).
* Notice: the State Council's notice as typed from it, one line per holiday range or
  make-up workday::

      放假 2027-01-01 至 2027-01-03 元旦         (or: holiday 2027-01-01..2027-01-03 元旦)
      放假 2027-02-05 至 02-13 春节              (end: YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD,
                                                MM-DD, M月D日, D日 or a day number;
                                                joined by 至 到 .. ~ ～ - – — or to)
      上班 2027-02-14 春节调休                   (or: workday 2027-02-14 春节调休)

In every format blank lines and lines starting with ``#`` are skipped, and a file with
bad lines is refused whole with an error for each (:class:`CalendarImportError`).
"""

from __future__ import annotations

import csv
import io
import json
import re
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
from schedkit.errors import ValidationError

Format = Literal["csv", "jsonl", "notice"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "notice")
#: A holiday range longer than this is a typing error (the longest so far: 8 days).
MAX_RANGE_DAYS = 31
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
_CLOSED_WORDS = {"holiday", "放假", "休"}
_OPEN_WORDS = {"workday", "上班", "班"}
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_NOTICE_LINE = re.compile(rf"(?P<verb>\S+)\s+(?P<start>{_DATE})(?!\d)(?P<rest>.*)")
# What joins the dates of a range. A sign of the first group only ever does: the end after
# it must be read, or the line is refused. A dash or "to" also starts a note ("- 元旦",
# "to make up for ..."), so it joins a range only when something like a date follows it.
_JOIN = re.compile(
    r"\s*(?:(?P<sign>至|到|\.\.|~|～|〜)|(?P<dash>[-‐‑–—―－]{1,2}|[Tt][Oo](?![A-Za-z])))\s*"
)
# An end stops before a letter, digit or date sign: "2027-02-13-15" is no end to cut at 13.
_END_STOP = r"(?![\dA-Za-z./~_:-])"
#: The ends of a range as typed from the notice, longest first; without a year (or a
#: month) the end is in the start's year (and month).
_END_FORMS = tuple(
    re.compile(form + _END_STOP)
    for form in (
        r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})[日号]?",
        r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?",
        r"(?P<m>\d{1,2})[-/.](?P<d>\d{1,2})[日号]?",
        r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?",
        r"(?P<d>\d{1,2})\s*[日号]",
    )
)
# A day number alone ends a range after a join ("至 13 春节", "—13 春节"); it must stand
# alone ("- 3天" is no 3rd).
_BARE_DAY = re.compile(r"(?P<d>\d{1,2})(?=\s|$)")
# Dates no form reads: a month by name or in Chinese numerals. After a join they make a
# range that cannot be read (refused), not a note.
_UNREAD_DATE = re.compile(
    r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*\d"
    r"|[〇零一二三四五六七八九十]+\s*[月日号]"
)
# A note that starts with a date (after an English word, a few signs or 至 at most): a
# range written with a join we do not know ("through", "->"), or a second one, which would
# otherwise be cut. A note mentioning a date later on ("调休（补 2027-02-12）") is a note.
_NOTE_PREFIX = re.compile(r"(?:[A-Za-z]{1,10}\s+|(?:[^\s\w]{1,3}|至|到)\s*)?")
_END_EXPECTED = "expected YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, MM-DD, M月D日 or D日"


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
    parse_line = {"csv": _csv_line, "jsonl": _jsonl_line, "notice": _notice_line}[fmt]
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


def _notice_line(line: str) -> list[Override]:
    match = _NOTICE_LINE.fullmatch(line)
    if match is None:
        raise ValidationError(
            "expected '放假 <date> [至 <date>] [note]' or '上班 <date> [note]' "
            "(or holiday / workday)"
        )
    verb = match["verb"].lower()
    if verb not in _CLOSED_WORDS | _OPEN_WORDS:
        raise ValidationError(
            f"unknown word {match['verb']!r}: expected 放假/holiday or 上班/workday"
        )
    start = _notice_date(match["start"])
    end, inferred, note = _range_end(match["start"], start, match["rest"])
    if note and _starts_with_a_date(note, in_note=True):
        raise ValidationError(
            f"a second date after {match['start']}: write a range as '<date> 至 <date>' "
            "(or '..', '~', '到', 'to', '-', '–', '—'; the end may be MM-DD, M月D日 or D日)"
        )
    if end < start:
        hint = (
            ": an end without a year is read in the start's year; give the year of an end "
            "in the next year"
            if inferred
            else ""
        )
        raise ValidationError(f"the range ends ({end}) before it starts ({start}){hint}")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValidationError(f"a range of more than {MAX_RANGE_DAYS} days is not a holiday")
    opens = verb in _OPEN_WORDS
    kind = OverrideKind.MAKEUP_WORKDAY if opens else OverrideKind.HOLIDAY
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [_override({"date": day, "open": opens, "kind": kind, "note": note}) for day in days]


def _range_end(typed: str, start: date, rest: str) -> tuple[date, bool, str | None]:
    """The last day of a notice line starting on ``start`` (``typed``), whether its year
    was taken from the start, and the note, from ``rest`` (what follows the start date).
    ValidationError when ``rest`` begins a range that cannot be read: such a line is
    refused, never cut to its first day."""
    join = _JOIN.match(rest)
    if join is not None:
        after = rest[join.end() :]
        found = _read_end(after, start)
        if found is not None:
            end, inferred, length = found
            return end, inferred, after[length:].strip() or None
        if join["sign"] or not after or _starts_with_a_date(after):
            raise ValidationError(
                f"the end of the range after {typed} cannot be read in {rest.strip()!r}: "
                f"{_END_EXPECTED}; the line is refused rather than cut to one day"
            )
    if rest and not rest[0].isspace():
        raise ValidationError(
            f"expected a space, or 至 and the end of a range, after {typed} (got {rest!r})"
        )
    return start, False, rest.strip() or None


def _read_end(text: str, start: date) -> tuple[date, bool, int] | None:
    """The end of a range at the start of ``text``, whether its year was taken from
    ``start``, and how many characters it takes; None if no form reads it."""
    for form in (*_END_FORMS, _BARE_DAY):
        found = form.match(text)
        if found is None:
            continue
        parts = found.groupdict()
        year = int(parts.get("y") or start.year)
        month = int(parts.get("m") or start.month)
        end = _notice_date(f"{year:04d}-{month:02d}-{int(parts['d']):02d}")
        return end, not parts.get("y"), found.end()
    return None


def _starts_with_a_date(text: str, *, in_note: bool = False) -> bool:
    """Whether ``text`` begins like a date: a form of :data:`_END_FORMS`, a month by name
    or in Chinese numerals, or (after a join) a digit. ``in_note``: also after an English
    word or a few signs ("through 2027-01-03"), and a day number standing alone ("13
    春节") unless a word precedes it ("Day 1"); a number with more ("2027年春节") is a note."""
    prefix = _NOTE_PREFIX.match(text) if in_note else None
    rest = text[prefix.end() :] if prefix else text
    if any(form.match(rest) for form in _END_FORMS) or _UNREAD_DATE.match(rest):
        return True
    if not in_note:
        return rest[:1].isdigit()
    after_word = prefix is not None and prefix[0][:1].isalpha()
    return not after_word and _BARE_DAY.match(rest) is not None


def _notice_date(text: str) -> date:
    try:
        year, month, day = (int(part) for part in text.split("-"))
        return date(year, month, day)
    except ValueError as exc:
        raise ValidationError(f"invalid date {text!r}: {exc}") from None


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
