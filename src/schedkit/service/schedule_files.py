"""Schedules in files, for ``schedkit schedule import``: JSON lines and CSV.

* JSON lines: one schedule per line, ``{"id": "meter-0001", "task": "read_meter",
  "schedule": {"trigger": "cron", "minute": "*/15", "kwargs": {"meter": "0001"}}}``.
  ``schedule`` takes every form ``add_task`` takes (the document's flat dict, the nested
  spec, a crontab string); ``id`` is optional (default: the task name); ``task_name`` is
  accepted for ``task``.
* CSV: a header line naming the columns ``task`` and ``schedule`` (required) and
  ``id``, ``kwargs``, ``timezone`` (optional). ``schedule`` is a crontab string or a JSON
  object (as in JSON lines); ``kwargs`` a JSON object; ``timezone`` the zone of a
  crontab string.

Blank lines and lines starting with ``#`` are skipped in JSON lines. A file with bad
lines is refused whole, with an error per bad line (:class:`BulkScheduleError`).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from schedkit.errors import ValidationError
from schedkit.service.bulk import BulkScheduleError, EntryError, ScheduleEntry

__all__ = ["FORMATS", "Format", "format_for", "parse_schedule_file"]

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
_SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_JSON_KEYS = frozenset({"id", "task", "task_name", "schedule"})
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


def parse_schedule_file(text: str, fmt: Format) -> list[ScheduleEntry]:
    """The entries of a file, in file order, each with its line number;
    BulkScheduleError listing each line that is not an entry at all (what the entries
    say is validated later, with the rest)."""
    entries: list[ScheduleEntry] = []
    errors: list[EntryError] = []
    lines = _jsonl_entries(text) if fmt == "jsonl" else _csv_entries(text)
    for _, parsed in lines:
        if isinstance(parsed, EntryError):
            errors.append(parsed)
        else:
            entries.append(parsed)
    if errors:
        raise BulkScheduleError(errors)
    return entries


def _jsonl_entries(text: str) -> list[tuple[int, ScheduleEntry | EntryError]]:
    found: list[tuple[int, ScheduleEntry | EntryError]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            found.append((number, EntryError(line=number, message=f"not JSON ({exc.msg})")))
            continue
        found.append((number, _json_entry(number, item)))
    return found


def _json_entry(number: int, item: Any) -> ScheduleEntry | EntryError:
    if not isinstance(item, dict):
        return EntryError(line=number, message='must be an object {"task": ..., "schedule": ...}')
    unknown = sorted(set(item) - _JSON_KEYS)
    if unknown:
        return EntryError(
            line=number,
            message=f"unknown key(s) {', '.join(unknown)}; known: id, task, schedule",
        )
    task = item.get("task", item.get("task_name"))
    problem = _missing(task, item.get("schedule"), item.get("id"))
    if problem is not None:
        return EntryError(line=number, message=problem[1], field=problem[0])
    return ScheduleEntry(
        task_name=str(task), config=item["schedule"], schedule_id=item.get("id"), line=number
    )


def _missing(task: Any, schedule: Any, sid: Any) -> tuple[str, str] | None:
    if not isinstance(task, str) or not task:
        return "task", "a task name is required"
    if schedule is None or not isinstance(schedule, dict | str):
        return "schedule", "a schedule (an object or a crontab string) is required"
    if sid is not None and not isinstance(sid, str):
        return "id", "must be a string"
    return None


def _csv_entries(text: str) -> list[tuple[int, ScheduleEntry | EntryError]]:
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    columns = {c.strip() for c in reader.fieldnames or ()}
    if not {"task", "schedule"} <= columns or not columns <= _CSV_COLUMNS:
        message = (
            "the first line must name the columns: task, schedule (required), id, kwargs, "
            f"timezone; found {', '.join(sorted(columns)) or 'nothing'}"
        )
        return [(1, EntryError(line=1, message=message))]
    found: list[tuple[int, ScheduleEntry | EntryError]] = []
    start = reader.line_num + 1
    for row in reader:
        number, start = start, reader.line_num + 1
        cells = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        found.append((number, _csv_entry(number, cells)))
    return found


def _csv_entry(number: int, cells: dict[str, str]) -> ScheduleEntry | EntryError:
    text, kwargs_text, zone = (
        cells.get("schedule", ""),
        cells.get("kwargs", ""),
        cells.get("timezone", ""),
    )
    config: Any
    try:
        if text.startswith("{"):
            config = json.loads(text)
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
            kwargs = _json_cell(kwargs_text, "kwargs")
            if "kwargs" in config:
                return EntryError(
                    line=number, message="kwargs given twice (column and schedule)", field="kwargs"
                )
            config = {**config, "kwargs": kwargs}
    except json.JSONDecodeError as exc:
        return EntryError(line=number, message=f"not JSON ({exc.msg})", field="schedule")
    except ValidationError as exc:
        return EntryError(line=number, message=exc.message, field=exc.field)
    sid = cells.get("id") or None
    problem = _missing(cells.get("task"), config, sid)
    if problem is not None:
        return EntryError(line=number, message=problem[1], field=problem[0])
    return ScheduleEntry(task_name=cells["task"], config=config, schedule_id=sid, line=number)


def _json_cell(text: str, column: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not JSON ({exc.msg})", field=column) from None
