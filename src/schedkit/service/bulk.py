"""Many schedules at once: validate every entry first, then write them in one batch.

A bulk import either stores every schedule or none (the store's
:meth:`~schedkit.store.Store.insert_schedules`), and a batch with bad entries is refused
whole with one error per bad entry (:class:`BulkScheduleError`), named by the entry's
line (its line in a file, or its position in an API request). Every kind of fault is
found in the same pass (an item that is no entry at all, a bad trigger, task or kwargs,
an id given twice or stored already): fixing the named lines must not reveal others.

Validation is the costly part (a trigger to check, a next fire to compute, kwargs to
check per entry), so identical schedule configs are validated once per import: files of
many schedules tend to share a handful of triggers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from schedkit.config import SchedkitConfig
from schedkit.errors import ConflictError, SchedkitError, ScheduleLimitError, ValidationError
from schedkit.limits import MAX_SCHEDULE_ID_CHARS, SCHEDULE_ID_PATTERN, check_kwargs_size
from schedkit.models import Schedule
from schedkit.registry import TaskRegistry
from schedkit.triggers import ScheduleSpec, trigger_from_json

__all__ = [
    "BulkScheduleError",
    "EntryError",
    "ScheduleEntry",
    "build_schedules",
    "entry_from_item",
    "entry_id",
    "existing_errors",
    "no_room",
]

#: Bad entries named one by one in an error's message (all are in its ``errors``).
SHOWN_ERRORS = 20
_ID = re.compile(SCHEDULE_ID_PATTERN)
_ITEM_KEYS = ("id", "task", "schedule")
#: What a line of a file may say besides, as ``schedkit schedule export`` writes it: a
#: copy to another store keeps each pause, and a task's default schedule stays in step
#: with its code (``origin``).
FILE_KEYS = (*_ITEM_KEYS, "paused", "pause_note", "origin")


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleEntry:
    """One schedule to create: its task, its config (any form ``add_task`` takes) and its
    id (default: the task name). ``line`` says where it came from, for errors."""

    task_name: str
    config: Any
    schedule_id: str | None = None
    paused: bool = False
    pause_note: str | None = None
    origin: str = "runtime"
    line: int


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryError:
    """What is wrong with the entry at ``line`` (``field``: the dotted path at fault)."""

    line: int
    message: str
    field: str | None = None


class BulkScheduleError(ValidationError):
    """Entries of a bulk import are invalid; nothing was stored. ``entries`` holds one
    error per bad entry; ``what`` names the position (``line`` of a file, ``item`` of a
    request)."""

    def __init__(self, entries: Sequence[EntryError], *, what: str = "line") -> None:
        shown = "; ".join(
            f"{what} {e.line}: " + (f"{e.field}: " if e.field else "") + e.message
            for e in entries[:SHOWN_ERRORS]
        )
        more = f" (and {len(entries) - SHOWN_ERRORS} more)" if len(entries) > SHOWN_ERRORS else ""
        count = f"{len(entries)} bad {what}" + ("s" if len(entries) > 1 else "")
        first = entries[0] if entries else None
        super().__init__(
            f"{count}, nothing was stored: {shown}{more}",
            # The first field at fault, as the API names it: "<position>.<field>".
            field=None if first is None else ".".join(filter(None, [str(first.line), first.field])),
            errors=[
                {"loc": [e.line, *(e.field.split(".") if e.field else [])], "msg": e.message}
                for e in entries
            ],
        )
        self.entries = list(entries)
        self.what = what

    def __str__(self) -> str:
        # The message names every position already; no "field: " prefix before it.
        return self.message


def entry_from_item(
    line: int, item: object, *, from_file: bool = False
) -> ScheduleEntry | EntryError:
    """The entry a JSON item describes (``{"id": ..., "task": ..., "schedule": ...}``: a
    line of a file, an item of a request; ``from_file``: the keys of :data:`FILE_KEYS`
    too), or why it is none; such an error goes to :func:`build_schedules` with the
    entries, to be reported with theirs."""
    if not isinstance(item, Mapping):
        return EntryError(line=line, message='must be an object {"task": ..., "schedule": ...}')
    keys = FILE_KEYS if from_file else _ITEM_KEYS
    unknown = sorted(str(k) for k in set(item) - set(keys))
    if unknown:
        # A listing's JSON (`schedkit --json schedules`) was taken for an export.
        hint = " (`schedkit schedule export` writes schedules in this form)" if from_file else ""
        return EntryError(
            line=line,
            message=f"unknown key(s) {', '.join(unknown)}; known: {', '.join(keys)}{hint}",
        )
    task, schedule, sid = item.get("task"), item.get("schedule"), item.get("id")
    if not isinstance(task, str) or not task:
        return EntryError(line=line, message="a task name is required", field="task")
    if not isinstance(schedule, Mapping | str):
        return EntryError(
            line=line,
            message="a schedule (an object or a crontab string) is required",
            field="schedule",
        )
    if sid is not None and not isinstance(sid, str):
        return EntryError(line=line, message="must be a string", field="id")
    paused, note, origin = item.get("paused", False), item.get("pause_note"), item.get("origin")
    problem = _state_problem(task, sid, paused, note, origin)
    if problem is not None:
        return EntryError(line=line, message=problem[1], field=problem[0])
    return ScheduleEntry(
        task_name=task,
        config=schedule,
        schedule_id=sid,
        paused=paused,
        pause_note=note,
        origin=origin or "runtime",
        line=line,
    )


def _state_problem(
    task: str, sid: str | None, paused: object, note: object, origin: object
) -> tuple[str, str] | None:
    """What is wrong with a line's ``paused``, ``pause_note`` and ``origin`` (the field
    and why), if anything."""
    if not isinstance(paused, bool):
        return "paused", "must be true or false"
    if note is not None and not (isinstance(note, str) and paused):
        return "pause_note", "a string, the note of a paused schedule (with paused: true)"
    if origin not in (None, "code", "runtime"):
        return "origin", "must be code (a task's default schedule) or runtime"
    if origin == "code" and sid not in (None, task):
        return "origin", "only a task's default schedule, whose id is the task name, is code"
    return None


def build_schedules(
    entries: Sequence[ScheduleEntry | EntryError],
    *,
    registry: TaskRegistry,
    config: SchedkitConfig,
    parse: Callable[[Any], ScheduleSpec],
    now: datetime,
    tz: tzinfo,
    deleted: Mapping[str, int],
    what: str = "line",
) -> tuple[dict[int, Schedule], list[EntryError]]:
    """The schedules ``entries`` define (first versions, origin ``runtime``: one above
    the version ``deleted`` holds for their id, if any) by the line
    of their entry, in entry order, and the errors of the bad entries, in line order (an
    :class:`EntryError` among ``entries``, an item its reader could make no entry of, is
    one of them); a pure function of its arguments (the caller runs it off the event
    loop). ``parse`` validates a config (the façade's, with ``job_defaults``); naive
    date-times in kwargs are wall times in ``tz``, the scheduler's zone. ``what`` names
    the positions in messages, as :class:`BulkScheduleError` does."""
    builder = _Builder(
        registry=registry, config=config, parse=parse, now=now, tz=tz, deleted=deleted
    )
    schedules: dict[int, Schedule] = {}
    errors: list[EntryError] = []
    first_line: dict[str, int] = {}
    for entry in entries:
        if isinstance(entry, EntryError):
            errors.append(entry)
            continue
        try:
            schedule = builder.build(entry)
        except SchedkitError as exc:
            errors.append(_entry_error(entry.line, exc))
            continue
        seen = first_line.setdefault(schedule.id, entry.line)
        if seen != entry.line:
            errors.append(
                EntryError(
                    line=entry.line,
                    message=f"schedule id {schedule.id!r} is already given on {what} {seen}",
                    field="id",
                )
            )
            continue
        schedules[entry.line] = schedule
    return schedules, errors


def existing_errors(schedules: Mapping[int, Schedule], existing: set[str]) -> list[EntryError]:
    """An error per schedule (by the line of its entry) whose id the store holds already
    (imports only create)."""
    return [
        EntryError(
            line=line,
            message=f"schedule {s.id!r} exists already (an import only creates schedules)",
            field="id",
        )
        for line, s in schedules.items()
        if s.id in existing
    ]


def no_room(full: ScheduleLimitError) -> ConflictError:
    """What an import the store refused past ``limits.max_schedules`` is told."""
    return ConflictError(
        f"the store holds {full.stored:,} schedules and the import adds {full.adding:,}: "
        f"more than the {full.limit:,} allowed (limits.max_schedules); nothing was stored"
    )


class _Builder:
    """Builds one schedule per entry, validating each distinct config once."""

    def __init__(
        self,
        *,
        registry: TaskRegistry,
        config: SchedkitConfig,
        parse: Callable[[Any], ScheduleSpec],
        now: datetime,
        tz: tzinfo,
        deleted: Mapping[str, int],
    ) -> None:
        self._registry = registry
        self._deleted = deleted
        self._max_kwargs = config.limits.max_kwargs_bytes
        self._parse = parse
        self._now = now
        self._tz = tz
        # repr of a config without its kwargs → (spec, trigger, next fire).
        self._specs: dict[str, tuple[ScheduleSpec, dict[str, Any], datetime | None]] = {}

    def build(self, entry: ScheduleEntry) -> Schedule:
        task = self._registry.require(entry.task_name)
        sid = entry_id(entry)
        _check_id(sid)
        config, kwargs = _split_kwargs(entry.config)
        spec, trigger, next_fire = self._spec(config)
        stored = task.validate_kwargs(kwargs, tz=self._tz)
        check_kwargs_size(stored, self._max_kwargs)
        return Schedule(
            id=sid,
            task_name=task.task_name,
            trigger=trigger,
            kwargs=stored,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            max_instances=spec.max_instances,
            overlap=spec.overlap,
            timeout=spec.timeout,
            labels=tuple(spec.labels),
            executor=spec.executor,
            max_runs=spec.max_runs,
            paused=entry.paused,
            pause_note=entry.pause_note,
            origin=entry.origin,
            next_fire_time=next_fire,
            version=self._deleted.get(sid, 0) + 1,
            created_at=self._now,
            updated_at=self._now,
        )

    def _spec(self, config: Any) -> tuple[ScheduleSpec, dict[str, Any], datetime | None]:
        # repr, not a canonical JSON dump (twice the cost): configs come from JSON, whose
        # values repr faithfully; the same config written in another key order is merely
        # validated again.
        key = repr(config)
        found = self._specs.get(key)
        if found is None:
            spec = self._parse(config)
            trigger = spec.to_json()["trigger"]
            found = (spec, trigger, trigger_from_json(trigger).first_fire(self._now))
            self._specs[key] = found
        return found


def entry_id(entry: ScheduleEntry) -> str:
    """The id of the schedule ``entry`` creates."""
    return entry.schedule_id if entry.schedule_id is not None else entry.task_name


def _check_id(sid: str) -> None:
    if len(sid) > MAX_SCHEDULE_ID_CHARS:
        raise ValidationError(f"longer than {MAX_SCHEDULE_ID_CHARS} characters", field="id")
    if not _ID.match(sid) or sid == "preview":
        raise ValidationError(
            f"{sid!r} is not a schedule id (letters, digits and _.:@-, not 'preview')",
            field="id",
        )


def _split_kwargs(config: Any) -> tuple[Any, Any]:
    """The config without its ``kwargs`` (validated per task, not cached), and them."""
    if isinstance(config, Mapping) and "kwargs" in config:
        kwargs = config["kwargs"]
        if not isinstance(kwargs, Mapping):
            raise ValidationError("must be an object", field="schedule.kwargs")
        return {k: v for k, v in config.items() if k != "kwargs"}, kwargs
    return config, None


def _entry_error(line: int, exc: SchedkitError) -> EntryError:
    if isinstance(exc, ValidationError):
        field = exc.field
        if field is not None and field != "id" and not field.startswith("schedule"):
            field = f"schedule.{field}"
        return EntryError(line=line, message=exc.message, field=field)
    return EntryError(line=line, message=str(exc), field="task")
