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
#: Seconds a schedule read is held at all: what a store error answers with until then.
#: Past it the copy is dropped, or a process whose app creates and deletes schedules
#: (a one-off date schedule per order) would hold every one it ever alerted on.
SCHEDULE_KEEP_SECONDS = 10 * SCHEDULE_CACHE_SECONDS


class ScheduleCache:
    """Schedules by id, each read at most every :data:`SCHEDULE_CACHE_SECONDS`; a store
    error answers with the copy held (or None), kept :data:`SCHEDULE_KEEP_SECONDS`."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[Schedule | None]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._monotonic = monotonic
        #: In the order read (a read again moves to the end): the oldest come first.
        self._held: dict[str, tuple[Schedule | None, float]] = {}

    async def get(self, schedule_id: str) -> Schedule | None:
        held = self._held.get(schedule_id)
        if held is not None and self._monotonic() - held[1] < SCHEDULE_CACHE_SECONDS:
            return held[0]
        try:
            schedule = await self._read(schedule_id)
        except StoreError as exc:
            logger.warning("monitor: could not read schedule %s: %s", schedule_id, exc)
            return held[0] if held is not None else None
        now = self._monotonic()
        self._held.pop(schedule_id, None)
        self._held[schedule_id] = (schedule, now)
        self._drop_older_than(now - SCHEDULE_KEEP_SECONDS)
        return schedule

    def _drop_older_than(self, cut: float) -> None:
        # Only after a read that succeeded: a store outage keeps every copy it may need.
        # The oldest first, so a pass costs the entries it drops, not the cache's size.
        while self._held:
            oldest = next(iter(self._held))
            if self._held[oldest][1] >= cut:
                return
            del self._held[oldest]


def describe_trigger(schedule: Schedule, language: str) -> str | None:
    """The schedule's trigger in words, or None if it cannot be read."""
    try:
        from schedkit.triggers import trigger_from_json

        return trigger_from_json(schedule.trigger).describe(language)
    except Exception:  # an unreadable trigger must not stop an alert
        logger.debug("cannot describe the trigger of schedule %s", schedule.id, exc_info=True)
        return None
