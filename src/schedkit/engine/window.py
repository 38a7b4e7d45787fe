"""The fire window: schedules due within the lookahead, and a heap of their exact fire
times, held in memory between reads of the store.

The scheduler reads only (id, version, next fire) of the due schedules each refresh and
asks :meth:`FireWindow.missing` which whole schedules it must read; everything else comes
from here. A schedule whose stored trigger cannot be built is reported once per version
and left out until it changes. No I/O happens here.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from schedkit.engine.planning import fire_time
from schedkit.models import Schedule
from schedkit.triggers import Trigger, trigger_from_json

logger = logging.getLogger(__name__)

#: How long a schedule read stays held without being due (then it is read again).
GENERATION = timedelta(minutes=10)

#: (schedule id, version, next nominal fire), as ``Store.due_schedule_keys`` gives them.
DueKey = tuple[str, int, datetime]


@dataclass(frozen=True, slots=True)
class Entry:
    schedule: Schedule
    trigger: Trigger
    #: The next nominal fire: the schedule's as read, then as this node advanced it.
    next_fire: datetime | None


class FireWindow:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._window: dict[str, Entry] = {}
        # Schedules held at their latest version read, in two generations: an entry
        # unused for a whole generation is dropped (deleted schedules with it).
        self._known: dict[str, Entry] = {}
        self._known_old: dict[str, Entry] = {}
        self._generation_at: datetime | None = None
        self._broken: set[tuple[str, int]] = set()

    def clear(self) -> None:
        """Forget the window and its timers (fires taken but not written are planned
        again from the next read)."""
        self._window.clear()
        self._heap.clear()

    @property
    def next_due(self) -> datetime | None:
        """The earliest fire time queued, if any."""
        return self._heap[0][0] if self._heap else None

    def missing(self, keys: Iterable[DueKey], now: datetime) -> list[str]:
        """The ids among ``keys`` whose schedule must be read whole: changed since the
        window held them, not held at that version, and not known to be broken."""
        if self._generation_at is None or now >= self._generation_at:
            self._known_old, self._known = self._known, {}
            self._generation_at = now + GENERATION
        return [
            sid
            for sid, version, nominal in keys
            if not self._unchanged(sid, version, nominal)
            and self._held(sid, version) is None
            and (sid, version) not in self._broken
        ]

    def hold(self, schedules: Iterable[Schedule]) -> None:
        """Keep whole schedules read from the store, with their triggers built."""
        for schedule in schedules:
            try:
                trigger = trigger_from_json(schedule.trigger)
            except Exception:
                self.report_broken(schedule)
                continue
            self._known[schedule.id] = Entry(schedule, trigger, schedule.next_fire_time)

    def refresh(self, keys: Sequence[DueKey]) -> None:
        """Make the window the schedules of ``keys``. Entries unchanged since the last
        read keep their place in the heap; new or changed ones are queued (a stale heap
        entry fires nothing: its schedule moved on, or left the window)."""
        window: dict[str, Entry] = {}
        for sid, version, nominal in keys:
            if self._unchanged(sid, version, nominal):
                window[sid] = self._window[sid]
                continue
            held = self._held(sid, version)
            if held is None:  # broken, deleted or changed since: the next read sees it
                continue
            try:
                at = fire_time(held.trigger, held.schedule, nominal)
            except Exception:
                self.report_broken(held.schedule)
                continue
            window[sid] = Entry(held.schedule, held.trigger, nominal)
            heapq.heappush(self._heap, (at, sid))
        self._window = window

    def pop_due(self, now: datetime, until: datetime, ahead: int | None) -> dict[str, Entry]:
        """Take the entries whose fire time has come, and those whose fire time comes
        by ``until``: all of them, or at most ``ahead`` (the rest stay queued)."""
        due: dict[str, Entry] = {}
        heap, window = self._heap, self._window
        while heap and (at := heap[0][0]) <= until:
            if at > now and ahead is not None:
                if ahead <= 0:
                    break
                ahead -= 1
            _, sid = heapq.heappop(heap)
            entry = window.get(sid)
            if entry is not None:
                due[sid] = entry
        return due

    def forget(self) -> None:
        """Drop every schedule held as well (on gaining the lease: while another node
        fired, the copies' ``run_count`` may have fallen behind at an unchanged version)."""
        self.clear()
        self._known.clear()
        self._known_old.clear()

    def advance(
        self, moves: Iterable[tuple[str, int, datetime | None, int]], horizon: datetime
    ) -> None:
        """Move entries on to their next nominal fire and count the runs started, as the
        store was told (moves of schedule id, version planned from, next nominal fire,
        runs started), and queue each one due before ``horizon`` (later ones are read
        back by a later refresh)."""
        for sid, version, nominal, started in moves:
            if started:
                self._count(sid, version, started)
            entry = self._window.get(sid)
            if entry is None:
                continue
            if nominal is not None:
                at = fire_time(entry.trigger, entry.schedule, nominal)
                if at <= horizon:
                    self._window[sid] = Entry(entry.schedule, entry.trigger, nominal)
                    heapq.heappush(self._heap, (at, sid))
                    continue
            del self._window[sid]

    def _count(self, sid: str, version: int, started: int) -> None:
        """Count ``started`` more runs in every copy of the schedule at ``version``: the
        window's entry and the held copies of both generations. The leader's advances
        keep the version, so a copy missed here would not be read again: the window
        cleared while the write was in flight (an edit on this node), or the copy aged
        into the old generation, and the next plan would read a count short by these
        runs and fire past ``max_runs``."""
        for copies in (self._window, self._known, self._known_old):
            entry = copies.get(sid)
            # Only max_runs reads the count (planning.runs_left); for the others the
            # copy of the schedule (5 us per fire) bought nothing.
            if (
                entry is None
                or entry.schedule.version != version
                or entry.schedule.max_runs is None
            ):
                continue
            schedule = replace(entry.schedule, run_count=entry.schedule.run_count + started)
            copies[sid] = Entry(schedule, entry.trigger, entry.next_fire)

    def drop(self, schedule_ids: Iterable[str]) -> None:
        """Forget the held copies of ``schedule_ids`` (read again when next due): a tick
        write that failed may have stored its count all the same (an answer lost after
        the commit), which no copy held here can show at the unchanged version."""
        for sid in schedule_ids:
            self._known.pop(sid, None)
            self._known_old.pop(sid, None)

    def report_broken(self, schedule: Schedule) -> None:
        """Log (once per version, with the traceback being handled) that a schedule
        cannot be fired; it is left out until it changes."""
        key = (schedule.id, schedule.version)
        if key not in self._broken:
            self._broken.add(key)
            logger.exception(
                "schedule %s (version %d) cannot be fired; it is skipped until changed",
                schedule.id,
                schedule.version,
            )

    def _unchanged(self, sid: str, version: int, nominal: datetime) -> bool:
        entry = self._window.get(sid)
        return (
            entry is not None and entry.schedule.version == version and entry.next_fire == nominal
        )

    def _held(self, sid: str, version: int) -> Entry | None:
        entry = self._known.get(sid)
        if entry is None:
            entry = self._known_old.pop(sid, None)
            if entry is None:
                return None
            self._known[sid] = entry
        return entry if entry.schedule.version == version else None
