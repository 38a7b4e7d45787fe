"""The tasks' default schedules as a firing node's start will store them, read without
storing them: the calendars they name count for the calendar warnings of commands that
only read (``schedkit check``, ``schedkit calendar warnings``), which run before any node
started on a new store (an audit: a fresh store's check said "no problem found" while
both default schedules used an unconfirmed year of ``cn_workdays``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from schedkit.definitions import inherits_default_schedule
from schedkit.errors import ValidationError
from schedkit.models import JSON, Schedule
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.task import BaseTask
from schedkit.triggers import ScheduleSpec
from schedkit.triggers.describe import describe_trigger

logger = logging.getLogger(__name__)


def removed_key(schedule_id: str) -> str:
    """State key remembering that a task's default schedule was deleted on purpose."""
    return f"schedule-removed:{schedule_id}"


async def remember_removed(store: Store, schedule_id: str, actor: str, now: datetime) -> None:
    """Remember that ``actor`` deleted the task's default schedule ``schedule_id``."""
    key = removed_key(schedule_id)
    entry = await store.get_state(key)
    value = {"by": actor, "at": now.isoformat()}
    await store.set_state(key, value, entry.version if entry is not None else 0)


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
        existing = by_id.get(task.task_name)
        if existing is not None and existing.origin != "code":
            continue  # changed at runtime: kept as it is
        if existing is None and await store.get_state(removed_key(task.task_name)):
            continue
        trigger = default_trigger(task, timezone)
        if trigger is not None:
            found.append(trigger)
    return found


async def unstored_default(store: Store, task: BaseTask, timezone: str) -> JSON | None:
    """The trigger of ``task``'s default schedule when none is stored under the task's
    name and it was not deleted on purpose (a node's start will store it); else None."""
    if await store.get_schedule(task.task_name) is not None:
        return None
    if await store.get_state(removed_key(task.task_name)):
        return None
    return default_trigger(task, timezone)


def default_trigger(task: BaseTask, timezone: str) -> JSON | None:
    """The stored form of ``task``'s default schedule's trigger (zones left out read in
    ``timezone``), None without one or when it does not parse."""
    config = task.default_schedule
    if config is None:
        return None
    try:
        trigger: JSON = ScheduleSpec.parse(config, default_timezone=timezone).to_json()["trigger"]
    except ValidationError:
        return None
    return trigger


def inherited_note(spec: ScheduleSpec) -> str:
    """What to say of a task that keeps BaseTask's default schedule ``spec``: a class task
    declaring none got a daily 02:00 schedule without a word (an ``@task`` function
    without ``schedule=`` gets none)."""
    return (
        f"declares no default_schedule, so it gets BaseTask's: {describe_trigger(spec.trigger)}; "
        "set default_schedule = None to run it only on demand, or declare the schedule it needs"
    )


def say_inherited(registry: TaskRegistry, timezone: str) -> None:
    """A warning for each task keeping BaseTask's default schedule, as a firing node
    starts (``schedkit check`` lists them too)."""
    for task in registry:
        if inherits_default_schedule(task) and task.default_schedule is not None:
            spec = ScheduleSpec.parse(task.default_schedule, default_timezone=timezone)
            logger.warning("task %s %s", task.task_name, inherited_note(spec))


def say_stored(task: BaseTask, spec: ScheduleSpec) -> None:
    """Log the default schedule ``spec`` a start stored for ``task``."""
    described = describe_trigger(spec.trigger)
    logger.info("stored the default schedule of task %s: %s", task.task_name, described)
