"""Backfill: run a schedule's past fires over a range, at most N at once, on request.

The decisions (which fires, how they are chained) are :mod:`schedkit.engine.backfill`;
this part reads the schedule, stores the runs and remembers the schedule's latest request
in the state area (``backfill:<schedule id>``), so that its progress can be read and it
can be cancelled from any node. Progress is counted from the runs themselves, never kept
alongside them, so it cannot drift from what actually ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from schedkit.engine import backfill, runs
from schedkit.engine.planning import CAUSE_CALENDAR, calendar_check
from schedkit.errors import ConflictError, ScheduleNotFoundError
from schedkit.events import EventKind, RunEvent
from schedkit.models import ACTIVE_STATUSES, JSON, RunFilter, RunStatus, StateEntry
from schedkit.service.audit import SYSTEM
from schedkit.service.calendars import CalendarDesk
from schedkit.service.runs import RunControl
from schedkit.triggers import trigger_from_json

logger = logging.getLogger(__name__)

#: Tries of the request record's compare-and-set against a concurrent request.
_RECORD_ATTEMPTS = 5
#: How long a claimed request may take to store its runs before another request takes
#: over the schedule: only a request that died between its claim and its runs' insert
#: (100,000 runs take seconds) stays ``storing`` that long.
STORING_TIMEOUT = timedelta(minutes=2)


def state_key(schedule_id: str) -> str:
    return f"backfill:{schedule_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Backfill:
    """A schedule's latest backfill request and how far it got."""

    schedule_id: str
    #: The range covered, ``[start, end)``, UTC.
    start: datetime
    end: datetime
    concurrency: int
    requested_by: str
    requested_at: datetime
    cancelled_at: datetime | None
    progress: backfill.Progress
    #: Runs this request stored (None when read back later): 0 for a repeated request.
    created: int | None = None
    #: Its runs are being stored (by the request that claimed the schedule).
    storing: bool = False

    @property
    def state(self) -> Literal["running", "done", "cancelled"]:
        """``cancelled``, ``done`` (every run finished) or ``running`` (while its runs
        are being stored too: none stored yet read as every one finished)."""
        if self.cancelled_at is not None:
            return "cancelled"
        return "done" if self.progress.finished and not self.storing else "running"


class Backfills:
    def __init__(self, run_control: RunControl, calendars: CalendarDesk) -> None:
        # The parts a backfill uses are the run control's: one store, clock, executor...
        self.run_control = run_control
        self.calendars = calendars
        self.store = run_control.store
        self.registry = run_control.registry
        self.clock = run_control.clock
        self.config = run_control.config
        self.executor = run_control.executor
        self.events = run_control.events
        self.audit = run_control.audit

    async def request(
        self,
        schedule_id: str,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        concurrency: int,
        actor: str,
    ) -> Backfill:
        """Store a run for every past fire of the schedule in the range (fires the
        business calendar excludes are recorded ``skipped``) that has none yet; at most
        ``concurrency`` of them run at once."""
        schedule = await self.store.get_schedule(schedule_id)
        if schedule is None:
            raise ScheduleNotFoundError(schedule_id)
        task = self.registry.require(schedule.task_name)
        backfill.check_concurrency(concurrency)
        trigger = trigger_from_json(schedule.trigger, default_timezone=self.config.timezone)
        now = self.clock.now()
        lo, hi = backfill.window(start, end, trigger.timezone, now)
        limit = self.config.limits.max_backfill_fires
        books = await self.calendars.snapshot(
            [] if trigger.calendar is None else [trigger.calendar.name]
        )
        check = calendar_check(trigger, books)
        series = backfill.series_fire(schedule)
        fires = backfill.fires_in(trigger, lo, hi, limit, check, series=series)
        record = {
            "start": lo.isoformat(),
            "end": hi.isoformat(),
            "concurrency": concurrency,
            "requested_by": actor,
            "requested_at": now.isoformat(),
            "cancelled_at": None,
            "storing": True,
        }
        running = await self._claim(schedule_id, record, trigger.timezone)
        if isinstance(running, Backfill):
            return running
        stored = await self.store.list_runs(
            RunFilter(schedule_id=backfill.schedule_key(schedule_id), since=lo, until=hi),
            limit=limit,
        )
        have = {run.scheduled_for for run in stored}
        new = [fire for fire in fires if fire.nominal not in have]
        runnable = [fire.nominal for fire in new if fire.excluded is None]
        after = dict(zip(runnable, backfill.chain(runnable, concurrency), strict=True))
        batch = [
            runs.backfilled(
                schedule, task, fire, now, blocked_by=after.get(fire.nominal), actor=actor
            )
            for fire in new
        ]
        try:
            inserted = set(await self.store.insert_runs(batch))
        finally:
            # Stored (or failed: then nothing holds the schedule). A cancel meanwhile
            # replaced the record, and that one is what it should say: no retry.
            stored_record = {**record, "storing": False}
            await self.store.set_state(state_key(schedule_id), stored_record, running)
        for run in batch:
            if run.id not in inserted:
                continue
            if run.status is RunStatus.SKIPPED:
                cause = {"cause": CAUSE_CALENDAR}
                self.events.publish(RunEvent(kind=EventKind.SKIPPED, run=run, detail=cause))
            else:
                self.events.publish(RunEvent(kind=EventKind.CREATED, run=run))
        self.executor.wake()
        detail = f"{lo.isoformat()} .. {hi.isoformat()}, concurrency {concurrency}: "
        detail += f"{len(inserted)} new run(s) of {len(fires)} fire(s)"
        await self.audit.record(actor, "schedule.backfill", schedule_id, detail=detail)
        logger.info("backfill of %s: %s", schedule_id, detail)
        return await self._status(schedule_id, stored_record, created=len(inserted))

    async def _claim(self, schedule_id: str, record: JSON, tz: tzinfo) -> Backfill | int:
        """Make ``record`` the schedule's backfill before any run is stored (returns the
        version written), unless an earlier backfill of the schedule is unfinished (has
        unfinished runs, or is still storing them): then the same range asked again is
        answered with that backfill, and another range is a ConflictError. One unfinished
        backfill per schedule keeps what an operator can queue bounded
        (``limits.max_backfill_fires``) and keeps every unfinished backfill run within
        reach of cancel, which acts on the latest."""
        key = state_key(schedule_id)
        entry = await self.store.get_state(key)
        if (running := await self._unfinished(schedule_id, entry, record)) is not None:
            return running
        if entry is not None and entry.value.get("cancelled_at") is None:
            earlier = entry.value
            storing = self._storing(earlier)
            flt = self._filter(schedule_id, earlier, ACTIVE_STATUSES)
            if storing or await self.store.list_runs(flt, limit=1):
                lo, hi = (
                    datetime.fromisoformat(earlier[k]).astimezone(tz).isoformat()
                    for k in ("start", "end")
                )
                what = "is being stored" if storing else "is still running"
                raise ConflictError(
                    f"a backfill of {schedule_id!r} {what} ({lo} .. {hi}, "
                    f"requested by {earlier['requested_by']}): wait for it to "
                    f"finish, or cancel it first (POST /schedules/{schedule_id}/backfill/cancel, "
                    f"schedkit backfill {schedule_id} --cancel)"
                )
        # Compare-and-set against the entry just read: of two requests racing here, one
        # stores its runs and the other is told to try again.
        version = entry.version if entry else 0
        if not await self.store.set_state(key, record, version):
            # The same range, asked twice at once, is one request: the loser is answered
            # with the winner's backfill, as it would have been a moment later.
            won = await self.store.get_state(key)
            if (running := await self._unfinished(schedule_id, won, record)) is not None:
                return running
            raise ConflictError(
                f"another backfill of {schedule_id!r} was requested at the same moment; "
                "read its progress and try again"
            )
        return version + 1

    async def _unfinished(
        self, schedule_id: str, entry: StateEntry | None, record: JSON
    ) -> Backfill | None:
        """The backfill ``entry`` records if it covers ``record``'s range and is still
        unfinished (runs stored and not all finished, or being stored)."""
        if entry is None or entry.value.get("cancelled_at") is not None:
            return None
        earlier = entry.value
        if (earlier["start"], earlier["end"]) != (record["start"], record["end"]):
            return None
        flt = self._filter(schedule_id, earlier, ACTIVE_STATUSES)
        if self._storing(earlier) or await self.store.list_runs(flt, limit=1):
            return await self._status(schedule_id, earlier, created=0)
        return None

    async def status(self, schedule_id: str) -> Backfill | None:
        """The schedule's latest backfill request and its progress, or None if it has none."""
        entry = await self.store.get_state(state_key(schedule_id))
        return None if entry is None else await self._status(schedule_id, entry.value)

    async def cancel(self, schedule_id: str, *, actor: str) -> Backfill:
        """Cancel the runs of the latest backfill that have not finished (the latest fire
        first, so none of them is released to start meanwhile). ConflictError when there
        is nothing to cancel: no backfill, one cancelled already, or every run of it
        finished (it stays ``done``, not turned ``cancelled``)."""
        entry = await self.store.get_state(state_key(schedule_id))
        if entry is None:
            raise ConflictError(f"schedule {schedule_id!r} has no backfill to cancel")
        record = dict(entry.value)
        if record.get("cancelled_at") is not None:
            raise ConflictError(
                f"the backfill of {schedule_id!r} was already cancelled, at "
                f"{record['cancelled_at']}"
            )
        flt = self._filter(schedule_id, record, ACTIVE_STATUSES)
        active = await self.store.list_runs(flt, limit=self.config.limits.max_backfill_fires)
        if not active and self._storing(record):
            raise ConflictError(
                f"the backfill of {schedule_id!r} is being stored right now: cancel it "
                "once its runs are stored (in a moment)"
            )
        if not active:
            done = (await self._status(schedule_id, record)).progress
            raise ConflictError(
                f"the backfill of {schedule_id!r} has already finished "
                f"({done.done}/{done.total} runs done): nothing to cancel"
            )
        why = f"backfill cancelled by {actor}"
        for run in active:
            await self.run_control.request_cancel(run.id, why)
        record["cancelled_at"] = self.clock.now().isoformat()
        await self._write(schedule_id, record)
        # A running run is only asked to stop: it may still end otherwise (it finished
        # meanwhile, its code ignores the cancel), so it is not said cancelled.
        running = sum(run.status is RunStatus.RUNNING for run in active)
        detail = f"{len(active)} run(s)"
        if running:
            pending = len(active) - running
            detail += f": {pending} pending cancelled, {running} running asked to stop"
        await self.audit.record(actor, "schedule.backfill.cancel", schedule_id, detail=detail)
        return await self._status(schedule_id, record)

    def _storing(self, record: JSON) -> bool:
        """Whether the request's runs are being stored now (claimed, not yet inserted)."""
        requested = datetime.fromisoformat(record["requested_at"])
        return bool(record.get("storing")) and self.clock.now() - requested < STORING_TIMEOUT

    async def _write(self, schedule_id: str, record: JSON) -> None:
        """Replace the request record (the latest request wins a race)."""
        key = state_key(schedule_id)
        for _ in range(_RECORD_ATTEMPTS):
            entry = await self.store.get_state(key)
            if await self.store.set_state(key, record, entry.version if entry else 0):
                return
        raise ConflictError(f"the backfill record of {schedule_id!r} keeps changing; try again")

    def _filter(
        self, schedule_id: str, record: JSON, statuses: frozenset[RunStatus] | None = None
    ) -> RunFilter:
        return RunFilter(
            schedule_id=backfill.schedule_key(schedule_id),
            since=datetime.fromisoformat(record["start"]),
            until=datetime.fromisoformat(record["end"]),
            statuses=statuses,
        )

    async def _status(
        self, schedule_id: str, record: JSON, *, created: int | None = None
    ) -> Backfill:
        # One read of the runs, counted here: separate counts per status would each see
        # another moment, and a run moving on between them would be counted twice or not.
        found = await self.store.list_runs(
            self._filter(schedule_id, record), limit=self.config.limits.max_backfill_fires
        )
        progress = backfill.progress(run.status for run in found)
        cancelled_at = record.get("cancelled_at")
        return Backfill(
            schedule_id=schedule_id,
            start=datetime.fromisoformat(record["start"]),
            end=datetime.fromisoformat(record["end"]),
            concurrency=int(record["concurrency"]),
            requested_by=str(record["requested_by"]),
            requested_at=datetime.fromisoformat(record["requested_at"]),
            cancelled_at=None if cancelled_at is None else datetime.fromisoformat(cancelled_at),
            progress=progress,
            created=created,
            storing=self._storing(record),
        )


class BackfillMethods:
    """The backfill methods of the façade, :class:`schedkit.Scheduler` (kept here, beside
    what they call, so that the façade's module stays readable)."""

    backfills: Backfills

    def _require_started(self) -> None:
        raise NotImplementedError  # the Scheduler's

    async def backfill(
        self,
        schedule_id: str,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        concurrency: int = 1,
        actor: str = SYSTEM,
    ) -> Backfill:
        """Run the schedule's past fires in ``[start, end)`` (a date alone is that whole
        day; a text is read as the API reads it: ``"2026-11-01"``,
        ``"2026-11-01T09:00+08:00"``), at most ``concurrency`` at once, each run marked
        ``backfill``. Repeating a request creates nothing twice. See docs/backfill.md."""
        self._require_started()
        return await self.backfills.request(
            schedule_id, start, end, concurrency=concurrency, actor=actor
        )

    async def backfill_status(self, schedule_id: str) -> Backfill | None:
        """The schedule's latest backfill and its progress (None: never backfilled)."""
        return await self.backfills.status(schedule_id)

    async def cancel_backfill(self, schedule_id: str, *, actor: str = SYSTEM) -> Backfill:
        """Cancel the unfinished runs of the schedule's latest backfill."""
        self._require_started()
        return await self.backfills.cancel(schedule_id, actor=actor)
