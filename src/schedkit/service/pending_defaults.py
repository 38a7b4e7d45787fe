"""The tasks' default schedules as a firing node's start will store them, read without
storing them: the calendars they name count for the calendar warnings of commands that
only read (``schedkit check``, ``schedkit calendar warnings``), which run before any node
started on a new store (an audit: a fresh store's check said "no problem found" while
both default schedules used an unconfirmed year of ``cn_workdays``)."""

from __future__ import annotations

from collections.abc import Iterable

from schedkit.errors import ValidationError
from schedkit.models import JSON, Schedule
from schedkit.registry import TaskRegistry
from schedkit.service.schedules import removed_key
from schedkit.store.base import Store
from schedkit.triggers import ScheduleSpec


async def default_triggers(
    store: Store, registry: TaskRegistry, timezone: str, stored: Iterable[Schedule]
) -> list[JSON]:
    """The triggers of the default schedules :meth:`ScheduleBook.sync_defaults` of a
    firing node would write over ``stored``: of each task whose schedule is not stored
    (unless deleted on purpose) or is stored from code (a start rewrites it to the
    code's). A default that does not parse is left out: ``check`` names it, a start
    refuses it."""
    by_id = {s.id: s for s in stored}
    found: list[JSON] = []
    for task in registry:
        config = task.default_schedule
        if config is None:
            continue
        existing = by_id.get(task.task_name)
        if existing is not None and existing.origin != "code":
            continue  # changed at runtime: kept as it is
        if existing is None and await store.get_state(removed_key(task.task_name)):
            continue
        try:
            spec = ScheduleSpec.parse(config, default_timezone=timezone)
        except ValidationError:
            continue
        found.append(spec.to_json()["trigger"])
    return found
