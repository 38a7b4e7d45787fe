"""Schedules in files, for ``schedkit schedule import``: JSON lines and CSV.

* JSON lines: one schedule per line, ``{"id": "meter-0001", "task": "read_meter",
  "schedule": {"trigger": "cron", "minute": "*/15", "kwargs": {"meter": "0001"}}}``.
  ``schedule`` takes every form ``add_task`` takes (the document's flat dict, the nested
  spec, a crontab string); ``id`` is optional (default: the task name); ``task_name`` is
  accepted for ``task``; ``paused``, ``pause_note`` and ``origin`` as ``schedkit schedule
  export`` writes them (:mod:`schedkit.service.schedule_copy`).
* CSV: a header line naming the columns ``task`` and ``schedule`` (required) and
  ``id``, ``kwargs``, ``timezone`` (optional). ``schedule`` is a crontab string or a JSON
  object (as in JSON lines); ``kwargs`` a JSON object; ``timezone`` the zone of a
  crontab string.

Blank lines and lines starting with ``#`` are skipped in JSON lines. A line that is no
schedule at all (not JSON, nested too deep, a key missing, a CSV field too long)
becomes an :class:`EntryError` among the entries: the bulk import reports it with the
errors of the other lines, and a file with bad lines is refused whole
(:class:`~schedkit.service.bulk.BulkScheduleError`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

from schedkit._filetext import JsonTextError, csv_problem, read_json
from schedkit.errors import ValidationError
from schedkit.service.bulk import EntryError, ScheduleEntry, entry_from_item

__all__ = ["FORMATS", "Format", "format_for", "parse_schedule_file"]

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
_SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_CSV_COLUMNS = frozenset({"id", "task", "schedule", "kwargs", "timezone"})


def format_for(filename: str) -> Format:
    """The format a file name's suffix means; ValidationError for another suffix."""
    lowered = filename.lower()
    for suffix, fmt in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    raise ValidationError(
        f"cannot tell the format of {filename!r}: expected {', '.join(_SUFFIXES)} "
        "(or give the format)",
        field="file",
    )


def parse_schedule_file(text: str, fmt: Format) -> list[ScheduleEntry | EntryError]:
    """The entries of a file, in file order, each with its line number, and an
    EntryError for each line that is not an entry at all (what the entries say is
    validated later, and these errors are reported with the rest: pass the whole list
    to the bulk import)."""
    return _jsonl_entries(text) if fmt == "jsonl" else _csv_entries(text)


def _jsonl_entries(text: str) -> list[ScheduleEntry | EntryError]:
    found: list[ScheduleEntry | EntryError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            item = read_json(line)
        except JsonTextError as exc:
            found.append(EntryError(line=number, message=exc.message))
            continue
        if isinstance(item, dict) and "task_name" in item:
            # The files' other name of "task" (which wins when both are given).
            task = item.get("task", item["task_name"])
            item = {**{k: v for k, v in item.items() if k != "task_name"}, "task": task}
        found.append(entry_from_item(number, item, from_file=True))
    return found


def _csv_entries(text: str) -> list[ScheduleEntry | EntryError]:
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    try:
        columns = {c.strip() for c in reader.fieldnames or ()}
    except csv.Error as exc:
        return [EntryError(line=reader.reader.line_num, message=csv_problem(exc))]
    if not {"task", "schedule"} <= columns or not columns <= _CSV_COLUMNS:
        message = (
            "the first line must name the columns: task, schedule (required), id, kwargs, "
            f"timezone; found {', '.join(sorted(columns)) or 'nothing'}"
        )
        return [EntryError(line=1, message=message)]
    found: list[ScheduleEntry | EntryError] = []
    for number, row in _rows(reader):
        if isinstance(row, EntryError):
            found.append(row)
            continue
        # csv puts the fields past the header's columns in a list under the key None.
        extra = row.pop(None, None)
        if extra:
            more = f"{len(extra)} field{'s' if len(extra) > 1 else ''}"
            message = (
                f"{more} more than the {len(reader.fieldnames or ())} columns of the header "
                '(quote a value holding a comma: "0 2 * * 1,3")'
            )
            found.append(EntryError(line=number, message=message))
            continue
        cells = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        found.append(_csv_entry(number, cells))
    return found


def _rows(
    reader: csv.DictReader[str],
) -> Iterator[tuple[int, dict[str | Any, str | Any] | EntryError]]:
    """The rows after the header, each with the line it starts on, and an EntryError at
    the line the reader reached where it cannot read on (a field over the csv module's
    size limit); it reads on from the next line, to name the other bad lines too."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reached = reader.reader.line_num
            yield reached, EntryError(line=reached, message=csv_problem(exc))
            continue
        # The reader is on the row's last line (after the blank lines DictReader skips
        # before it): back over the line breaks its quoted fields hold (the fields past
        # the header's columns are a list under the key None).
        fields = [v for k, v in row.items() if k is not None] + list(row.get(None) or ())
        breaks = sum(field.count("\n") for field in fields if isinstance(field, str))
        yield reader.reader.line_num - breaks, row


def _csv_entry(number: int, cells: dict[str, str]) -> ScheduleEntry | EntryError:
    text, kwargs_text, zone = (
        cells.get("schedule", ""),
        cells.get("kwargs", ""),
        cells.get("timezone", ""),
    )
    config: Any
    try:
        if text.startswith("{"):
            config = read_json(text, field="schedule")
            if zone:
                return EntryError(
                    line=number, message="give the zone inside a JSON schedule", field="timezone"
                )
        elif text:
            trigger = {"trigger": "cron", "expression": text}
            config = {"trigger": {**trigger, "timezone": zone} if zone else trigger}
        else:
            config = None
        if kwargs_text and config is not None:
            kwargs = read_json(kwargs_text, field="kwargs")
            if "kwargs" in config:
                return EntryError(
                    line=number, message="kwargs given twice (column and schedule)", field="kwargs"
                )
            config = {**config, "kwargs": kwargs}
    except ValidationError as exc:
        return EntryError(line=number, message=exc.message, field=exc.field)
    item = {"id": cells.get("id") or None, "task": cells.get("task"), "schedule": config}
    return entry_from_item(number, item)
