"""Schedules copied from one store to another: ``schedkit schedule export`` writes each
stored schedule as a line ``schedkit schedule import`` takes, and an import leaves alone
the lines stored already as they say (a copy imported twice, a MongoDB import that a
killed process left half done).

A line carries the schedule's definition (trigger, kwargs as stored, policies, labels,
executor), its pause with its note, and ``"origin": "code"`` for a task's default
schedule, which nodes keep in step with the task's code (imported as a user's, it would
no longer follow the code). Not its state: fire times are computed from the import, and
``max_runs`` is written as the runs left; a schedule that has ended by it is left out.
The listing's JSON (``schedkit --json schedules``) is no export: its kwargs are
redacted, and it has a page's schedules and those a node's start has yet to store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from schedkit.models import Schedule, to_json
from schedkit.service.bulk import EntryError, ScheduleEntry, build_schedules, entry_id
from schedkit.service.schedule_diff import changed_fields

if TYPE_CHECKING:
    from schedkit.service import Scheduler

__all__ = ["schedule_line", "stored_alike"]


def schedule_line(schedule: Schedule) -> dict[str, Any] | None:
    """The import line that creates ``schedule`` again elsewhere; None for one ended by
    its ``max_runs``."""
    left = schedule.runs_left
    if left == 0:
        return None
    line: dict[str, Any] = {
        "id": schedule.id,
        "task": schedule.task_name,
        "schedule": {
            "trigger": schedule.trigger,
            "kwargs": to_json(schedule.kwargs),
            # Every policy, None ones too: left out, the importing store's job_defaults
            # would fill them.
            "misfire_grace_time": schedule.misfire_grace_time,
            "coalesce": schedule.coalesce,
            "max_instances": schedule.max_instances,
            "overlap": schedule.overlap.value,
            "timeout": schedule.timeout,
            "max_runs": left,
            "labels": list(schedule.labels),
            "executor": schedule.executor,
        },
    }
    if schedule.paused:
        line["paused"] = True
        if schedule.pause_note is not None:
            line["pause_note"] = schedule.pause_note
    if schedule.origin == "code":
        line["origin"] = "code"
    return line


async def stored_alike(
    scheduler: Scheduler, entries: Sequence[ScheduleEntry | EntryError]
) -> set[int]:
    """The lines of ``entries`` whose schedule is stored already as the line defines it
    (task, definition, pause and note, origin), compared as the import would store it."""
    ids = {entry_id(e) for e in entries if isinstance(e, ScheduleEntry)}
    stored = {s.id: s for s in await scheduler.store.get_schedules(sorted(ids))}
    candidates = [e for e in entries if isinstance(e, ScheduleEntry) and entry_id(e) in stored]
    if not candidates:
        return set()
    built, _ = await asyncio.to_thread(
        build_schedules,
        candidates,
        registry=scheduler.registry,
        config=scheduler.config,
        parse=scheduler.parse_schedule,
        now=scheduler.clock.now(),
        tz=scheduler.tz,
        deleted={},
    )
    return {line for line, s in built.items() if _alike(stored[s.id], s)}


def _alike(a: Schedule, b: Schedule) -> bool:
    state = ("task_name", "paused", "pause_note", "origin")
    return not changed_fields(a, b) and all(getattr(a, f) == getattr(b, f) for f in state)
