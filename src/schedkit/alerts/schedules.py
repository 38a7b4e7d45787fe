"""What alert messages and rules read of a run's schedule: the schedule itself, cached a
little (an alert storm of one task reads it once), and its trigger in words."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from schedkit.errors import StoreError
from schedkit.models import Schedule

logger = logging.getLogger("schedkit.monitor")

#: Seconds a schedule read for alerts is reused.
SCHEDULE_CACHE_SECONDS = 30.0


class ScheduleCache:
    """Schedules by id, each read at most every :data:`SCHEDULE_CACHE_SECONDS`; a store
    error answers with the copy held (or None)."""

    def __init__(self, read: Callable[[str], Awaitable[Schedule | None]]) -> None:
        self._read = read
        self._held: dict[str, tuple[Schedule | None, float]] = {}

    async def get(self, schedule_id: str) -> Schedule | None:
        held = self._held.get(schedule_id)
        if held is not None and time.monotonic() - held[1] < SCHEDULE_CACHE_SECONDS:
            return held[0]
        try:
            schedule = await self._read(schedule_id)
        except StoreError as exc:
            logger.warning("monitor: could not read schedule %s: %s", schedule_id, exc)
            return held[0] if held is not None else None
        self._held[schedule_id] = (schedule, time.monotonic())
        return schedule


def describe_trigger(schedule: Schedule, language: str) -> str | None:
    """The schedule's trigger in words, or None if it cannot be read."""
    try:
        from schedkit.triggers import trigger_from_json

        return trigger_from_json(schedule.trigger).describe(language)
    except Exception:  # an unreadable trigger must not stop an alert
        logger.debug("cannot describe the trigger of schedule %s", schedule.id, exc_info=True)
        return None
