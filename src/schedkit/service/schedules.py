"""Schedule definitions: validated, versioned, persisted, audited.

Every change of a schedule goes through :class:`ScheduleBook`: the spec is validated
(and filled from ``job_defaults``) before anything is stored (invariant 8), the version
goes up by one, the change is audited and the scheduler is told to re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schedkit.calendars import CalendarSet
from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.definitions import default_schedule_error
from schedkit.engine import planning
from schedkit.errors import (
    ConflictError,
    ScheduleConflictError,
    ScheduleLimitError,
    ScheduleNotFoundError,
    ValidationError,
)
from schedkit.events import EventBus
from schedkit.limits import MAX_SCHEDULE_BATCH, check_kwargs_size
from schedkit.models import JSON, RunFilter, Schedule, to_json
from schedkit.placement import LOCAL_EXECUTOR
from schedkit.redaction import secret_parameters, unmask
from schedkit.registry import TaskRegistry
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.service.bulk import (
    BulkScheduleError,
    EntryError,
    ScheduleEntry,
    build_schedules,
    existing_errors,
    no_room,
)
from schedkit.service.deleted_schedules import deleted_version, deleted_versions, remember_deleted
from schedkit.service.dropped_fires import record_dropped
from schedkit.service.past_dates import (
    FireRecorded,
    ScheduleNote,
    fire_recorded,
    naive_run_date,
    note,
    past_end_date,
    past_run_date,
)
from schedkit.service.pending_defaults import (
    remember_removed,
    removed_key,
    say_stored,
    unstored_default,
)
from schedkit.service.schedule_diff import changed_fields
from schedkit.service.series import kept_series, paused_or_resumed
from schedkit.store.base import Store
from schedkit.task import BaseTask
from schedkit.triggers import AllowedFire, ScheduleSpec, preview, trigger_from_json
from schedkit.triggers.gaps import gap_field, smallest_gap
from schedkit.triggers.upcoming import PREVIEW_BUDGET

#: The smallest span of time: a ``since``/``until`` pair around one instant.
_INSTANT = timedelta(microseconds=1)

#: Tries of a write racing others: a default schedule's sync against nodes starting at
#: the same time, a pause, resume or deletion against users changing the schedules.
SYNC_ATTEMPTS = 5

logger = logging.getLogger(__name__)


def _past(schedule: Schedule, given: Any, now: datetime) -> list[ScheduleNote]:
    """What to say of a schedule stored with nothing left to run (``given``: its config as
    given): a one-off already past its misfire grace, a recurring one past its end date
    (accepted: it may be meant, but is a mistake more often)."""
    found: list[ScheduleNote] = []
    if (past := past_run_date(schedule, now, naive=naive_run_date(given))) is not None:
        found.append(past)
    if (ended := past_end_date(schedule)) is not None:
        found.append(ended)
    return found


def _say(found: ScheduleNote) -> None:
    """Log a note on a schedule saved (the record carries it as ``schedule_note``, for an
    adapter to keep it out of its log lines) and hand it to the caller collecting it."""
    logger.warning("%s", found.message(), extra={"schedule_note": found})
    note(found)


class ScheduleBook:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        clock: Clock,
        config: SchedkitConfig,
        audit: Auditor,
        events: EventBus,
        changed: Callable[[], None],
    ) -> None:
        self.store = store
        self.events = events
        self.registry = registry
        self.clock = clock
        self.config = config
        self.tz = ZoneInfo(config.timezone)
        self.audit = audit
        #: Called after every change, so that this node's scheduler re-reads at once.
        self._changed = changed
        #: Whether :meth:`sync_defaults` ran: every default not deleted on purpose is stored.
        self._defaults_stored = False

    # -- validation ------------------------------------------------------------------------

    def parse(self, schedule_config: Any) -> ScheduleSpec:
        """Validate a schedule config (document dict, nested spec or crontab string);
        policies it leaves out come from ``job_defaults``."""
        spec = ScheduleSpec.parse(schedule_config, default_timezone=self.config.timezone)
        self._check_gap(spec)
        defaults = self.config.job_defaults.model_dump()
        missing = {k: v for k, v in defaults.items() if k not in spec.model_fields_set}
        return spec.model_copy(update=missing) if missing else spec

    def _check_gap(self, spec: ScheduleSpec) -> None:
        """Refuse triggers that may fire closer together than ``limits.min_interval``."""
        minimum = self.config.limits.min_interval
        gap = smallest_gap(spec.trigger)
        if gap is None or gap >= minimum:
            return
        raise ValidationError(
            f"the schedule may fire every {gap:g} s, more often than the minimum of "
            f"{minimum:g} s (limits.min_interval)",
            field=f"trigger.{gap_field(spec.trigger)}",
        )

    def preview(
        self, schedule_config: Any, n: int = 5, calendars: CalendarSet | None = None
    ) -> list[datetime]:
        spec = self.parse(schedule_config)
        return preview(
            spec,
            n,
            now=self.clock.now(),
            default_timezone=self.config.timezone,
            calendars=calendars,
            budget=PREVIEW_BUDGET,
        )

    # -- reads -----------------------------------------------------------------------------

    async def get(self, schedule_id: str) -> Schedule | None:
        return await self.store.get_schedule(schedule_id)

    async def require(self, schedule_id: str) -> Schedule:
        schedule = await self.store.get_schedule(schedule_id)
        if schedule is None:
            raise ScheduleNotFoundError(schedule_id)
        return schedule

    async def of_task(
        self, task_name: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Schedule]:
        """The task's schedules (every schedule without ``task_name``), in id order,
        ``limit`` of them from ``offset`` on if given."""
        return await self.store.list_schedules(task_name, limit=limit, offset=offset)

    async def count(self, task_name: str | None = None) -> int:
        return await self.store.count_schedules(task_name)

    async def pending_default(self, task: BaseTask) -> JSON | None:
        """The trigger of ``task``'s default schedule a node's start will store (none is
        stored and it was not deleted on purpose), else None."""
        return await unstored_default(self.store, task, self.config.timezone)

    async def pending_defaults(self, tasks: Iterable[BaseTask]) -> list[Schedule]:
        """The default schedules of ``tasks`` a node's start will store (:meth:`pending_default`)
        as it will store them, their next fire from now; none once :meth:`sync_defaults`
        ran here. One the start refuses is left out (``schedkit check`` names it)."""
        found = []
        for task in [] if self._defaults_stored else tasks:
            if task.default_schedule is not None and await self.pending_default(task):
                with contextlib.suppress(ValidationError):
                    found.append(self._default(task, None))
        return found

    def job_info(
        self, schedules: Sequence[Schedule], allowed: Mapping[str, AllowedFire]
    ) -> list[dict[str, Any]]:
        """The document's job listing of ``schedules``: id, name, next_run_time (their
        ``allowed`` fire), trigger, executor, max_instances (plus paused and
        pause_note)."""
        infos = []
        for s in schedules:
            task = self.registry.get_task(s.task_name)
            fire = allowed[s.id].fire if s.id in allowed else None
            infos.append(
                {
                    "id": s.id,
                    "name": task.task_description if task else s.task_name,
                    "next_run_time": None if fire is None else fire.astimezone(self.tz).isoformat(),
                    "trigger": trigger_from_json(s.trigger).describe("en"),
                    "executor": _executor_of(s, task),
                    "max_instances": s.max_instances,
                    "paused": s.paused,
                    "pause_note": s.pause_note,
                }
            )
        return infos

    # -- changes ---------------------------------------------------------------------------

    async def put(
        self,
        task_name: str,
        schedule_config: Any,
        *,
        schedule_id: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> Schedule:
        """Create or replace a schedule of a task (default id: the task name); with
        ``expected_version``, only the version the caller's edit was based on."""
        task = self.registry.require(task_name)
        spec = self.parse(schedule_config)
        sid = schedule_id or task_name
        before = await self.store.get_schedule(sid)
        held = before.version if before is not None else 0
        if expected_version is not None and expected_version != held:
            raise ScheduleConflictError(sid, expected_version, held or None)
        given = spec.kwargs
        if before is not None:
            # Read models show kwargs redacted; a value sent back as shown keeps its own.
            given = unmask(given, to_json(before.kwargs), secret_parameters(before.task_name))
        kwargs = task.validate_kwargs(given, tz=self.tz)
        check_kwargs_size(kwargs, self.config.limits.max_kwargs_bytes)
        if before is not None:
            _check_owner(before, task_name)
        deleted = await deleted_version(self.store, sid) if before is None else 0
        schedule = self._define(sid, task, spec, kwargs, "runtime", before, deleted)
        recorded = await self._recorded([schedule])
        try:
            await self._save(schedule, before, bounded=True)
        except ScheduleLimitError as full:
            raise ConflictError(
                f"the store already holds {full.stored:,} schedules, the most allowed "
                "(limits.max_schedules); delete schedules or raise the limit"
            ) from None
        self._warn_if_past(schedule, schedule_config)
        for found in recorded:
            _say(found)
        if sid == task_name:
            # Only a task's default schedule is remembered as removed (see _delete).
            await self.store.delete_state(removed_key(sid))
        await self.audit.record(actor, "schedule.put", sid, before, schedule)
        self._changed()
        return schedule

    async def put_many(
        self, entries: Sequence[ScheduleEntry | EntryError], *, actor: str, what: str = "line"
    ) -> list[Schedule]:
        """Create many schedules, all or nothing: every entry is validated first (an
        error per bad entry, BulkScheduleError naming positions by ``what``; an
        EntryError among ``entries`` is one), then all are written in one batch. Only
        creates: an id already stored is an error."""
        now = self.clock.now()
        build = functools.partial(
            build_schedules,
            registry=self.registry,
            config=self.config,
            parse=self.parse,
            now=now,
            tz=self.tz,
            deleted=await deleted_versions(self.store),
            what=what,
        )
        # Thousands of entries are seconds of CPU: off the event loop that fires schedules.
        by_line, errors = await asyncio.to_thread(build, entries)
        if errors:
            # The stored ids too, though the insert would find them for free: one pass
            # names every bad line, or fixing those named reveals the others.
            errors += await self._existing(by_line)
            raise BulkScheduleError(sorted(errors, key=lambda e: e.line), what=what)
        built = list(by_line.values())
        recorded = await self._recorded(built)
        try:
            await self.store.insert_schedules(built, max_schedules=self.config.limits.max_schedules)
        except ScheduleLimitError as full:
            raise no_room(full) from None
        except ScheduleConflictError:
            existing = await self._existing(by_line)
            if not existing:  # deleted again meanwhile
                raise
            raise BulkScheduleError(existing, what=what) from None
        for schedule in built:
            if schedule.id == schedule.task_name:
                await self.store.delete_state(removed_key(schedule.id))
        given = {e.line: e.config for e in entries if isinstance(e, ScheduleEntry)}
        # 100,000 schedules are a tenth of a second of CPU: off the event loop too.
        past = await asyncio.to_thread(
            lambda: [f for n, s in by_line.items() for f in _past(s, given[n], now)]
        )
        for found in [*past, *recorded]:
            _say(found)
        # Every id of an API batch; of a larger import (the CLI's, up to 100,000) the
        # first ones and the count: all of them would weigh megabytes on each audit page
        # listing the event. One event, not one per schedule: the store writes audit
        # events one at a time, and the batch is written in one.
        ids = [schedule.id for schedule in built]
        await self.audit.record(
            actor,
            "schedule.import",
            "schedules",
            after={"count": len(ids), "ids": ids[:MAX_SCHEDULE_BATCH]},
            detail=f"{len(built)} schedule(s)",
        )
        self._changed()
        return built

    async def _existing(self, by_line: dict[int, Schedule]) -> list[EntryError]:
        """An error per schedule whose id is stored already (all of them: one read)."""
        found = await self.store.get_schedules([s.id for s in by_line.values()])
        return existing_errors(by_line, {s.id for s in found})

    async def remove_task(self, task_name: str, *, actor: str) -> bool:
        """Delete every schedule of the task (its history stays)."""
        removed = False
        for schedule in await self.store.list_schedules(task_name):
            removed |= await self._delete_latest(schedule, actor)
        return removed

    async def delete(
        self,
        schedule_id: str,
        *,
        task_name: str | None,
        actor: str,
        expected_version: int | None = None,
    ) -> None:
        """Delete a schedule (with ``task_name``: only one of that task's, as in put).
        ``expected_version``: only at that version (ScheduleConflictError otherwise);
        without it, a schedule changed meanwhile (paused, edited) is deleted as changed."""
        schedule = await self.require(schedule_id)
        if task_name is not None:
            _check_owner(schedule, task_name)
        if expected_version is None:
            await self._delete_latest(schedule, actor)
        elif schedule.version != expected_version:
            raise ScheduleConflictError(schedule_id, expected_version, schedule.version)
        else:
            await self._delete(schedule, actor)

    async def _delete_latest(self, schedule: Schedule, actor: str) -> bool:
        """Delete the schedule at whatever version it has now: the deletion compares
        versions (:meth:`_delete` remembers the version deleted), so one racing a change
        reads the schedule again and deletes it as changed; gone meanwhile, False."""
        for _ in range(SYNC_ATTEMPTS - 1):
            try:
                return await self._delete(schedule, actor)
            except ScheduleConflictError:
                latest = await self.store.get_schedule(schedule.id)
                if latest is None:
                    return False
                schedule = latest
        return await self._delete(schedule, actor)

    async def set_paused(
        self, task_name: str, paused: bool, note: str | None, *, actor: str
    ) -> list[Schedule]:
        """Pause (with a note for operators) or resume every schedule of a task, all or
        nothing. A resumed schedule's next fire is computed from now: fires in the pause
        were paused on purpose and are not run. On a conflict the task is read again: a
        schedule deleted meanwhile is left out, one changed is paused as changed. A task no
        longer registered is paused by its stored schedules all the same (they fire
        ``skipped`` until removed); a name with none of either is unknown."""
        for attempt in range(SYNC_ATTEMPTS):
            schedules = await self.store.list_schedules(task_name)
            if not schedules:
                self.registry.require(task_name)
                raise ConflictError(f"task {task_name!r} has no schedule to pause or resume")
            if not paused and not any(s.paused for s in schedules):
                raise ConflictError(f"task {task_name!r} is not paused")
            now = self.clock.now()
            after = [paused_or_resumed(s, paused, note, now) for s in schedules]
            changed = [
                (old, new) for old, new in zip(schedules, after, strict=True) if new is not old
            ]
            try:
                await self.store.replace_schedules([new for _, new in changed])
                break
            except ScheduleConflictError:
                if attempt == SYNC_ATTEMPTS - 1:
                    raise
        action = "schedule.pause" if paused else "schedule.resume"
        for old, new in changed:
            await self.audit.record(actor, action, old.id, old, new, detail=note)
        self._changed()
        return after

    async def sync_defaults(self, *, create_only: bool = False) -> None:
        """Give each task its default schedule, keeping runtime changes and the pending
        series (so fires missed while down are still due on the first tick). Nodes
        starting together race for it: the loser reads the winner's and decides again.
        ``create_only``: store missing ones only, never change one (a node not firing)."""
        for task in self.registry:
            for attempt in range(SYNC_ATTEMPTS):
                try:
                    await self._sync_default(task, create_only)
                    break
                except ScheduleConflictError:
                    if attempt == SYNC_ATTEMPTS - 1:
                        raise
        self._defaults_stored = True

    async def _sync_default(self, task: BaseTask, create_only: bool) -> None:
        config = task.default_schedule
        existing = await self.store.get_schedule(task.task_name)
        if config is None or (existing is not None and (create_only or existing.origin != "code")):
            return
        if existing is None and await self.store.get_state(removed_key(task.task_name)):
            return
        deleted = await deleted_version(self.store, task.task_name) if existing is None else 0
        try:
            schedule = self._default(task, existing, deleted)
        except ValidationError as exc:
            raise default_schedule_error(task, task.task_name, exc) from None
        if existing is not None:
            changed = changed_fields(existing, schedule)
            if not changed:
                return
            # Nodes whose code or configuration (the timezone) differ rewrite it at each
            # start, each shifting the fire times: said, not only audited.
            logger.warning(
                "default schedule of %s changed by this node (%s): if nodes run "
                "different code or configuration, each start rewrites it",
                task.task_name,
                ", ".join(changed),
            )
        await self._save(schedule, existing)
        if existing is None:
            say_stored(task, self.parse(task.default_schedule))
        self._warn_if_past(schedule, config)
        await self.audit.record(SYSTEM, "schedule.default", schedule.id, existing, schedule)

    # -- internals -------------------------------------------------------------------------

    def _default(self, task: BaseTask, existing: Schedule | None, deleted: int = 0) -> Schedule:
        """``task``'s default schedule as the next version of ``existing`` (ValidationError:
        registration checked it but for limits.min_interval and the configured timezone)."""
        spec = self.parse(task.default_schedule)
        kwargs = task.validate_kwargs(spec.kwargs, tz=self.tz)
        return self._define(task.task_name, task, spec, kwargs, "code", existing, deleted)

    def _warn_if_past(self, schedule: Schedule, given: Any) -> None:
        for found in _past(schedule, given, self.clock.now()):
            _say(found)

    async def _recorded(self, schedules: Sequence[Schedule]) -> list[FireRecorded]:
        """The schedules about to be written whose fire due at once a run holds already
        (an earlier schedule of the same id fired it): the tick will pass it by without
        a word. Read before the write: after it, a tick could have fired the new
        schedule, and its own run would be taken for an earlier one. Only due fires are
        looked up, one read each: a later one is free but for a run taken ahead, and the
        bulk form's thousands of schedules must not cost a read each."""
        now = self.clock.now()
        found: list[FireRecorded] = []
        for schedule in schedules:
            fire = schedule.next_fire_time
            if fire is None or fire > now:
                continue
            flt = RunFilter(schedule_id=schedule.id, since=fire, until=fire + _INSTANT)
            runs = await self.store.list_runs(flt, limit=1)
            if runs:
                found.append(fire_recorded(schedule, runs[0]))
        return found

    async def _save(
        self, schedule: Schedule, before: Schedule | None, *, bounded: bool = False
    ) -> None:
        """Write the next version of ``before`` (compare-and-set: a change made meanwhile
        anywhere raises ScheduleConflictError instead of being overwritten); ``bounded``:
        a create within ``limits.max_schedules`` (ScheduleLimitError past it), counted
        by the store in the same step as the insert, whatever other nodes create."""
        expected = before.version if before is not None else 0
        limit = self.config.limits.max_schedules if bounded else None
        await self.store.put_schedule(schedule, expected_version=expected, max_schedules=limit)
        # After the write: from then on no tick can fire the old series' due fire.
        task = self.registry.get_task(schedule.task_name)
        await record_dropped(self.store, self.events, task, before, schedule, self.clock.now())

    async def _delete(self, schedule: Schedule, actor: str) -> bool:
        """Delete a schedule (its version remembered first: see deleted_schedules); a task's
        default one is remembered as removed: no start restores it (until ``add_task``)."""
        await remember_deleted(self.store, schedule, self.clock.now())
        deleted = await self.store.delete_schedule(schedule.id, expected_version=schedule.version)
        if schedule.id == schedule.task_name:
            await remember_removed(self.store, schedule.id, actor, self.clock.now())
        await self.audit.record(actor, "schedule.delete", schedule.id, schedule, None)
        self._changed()
        return deleted

    def _define(
        self,
        schedule_id: str,
        task: BaseTask,
        spec: ScheduleSpec,
        kwargs: dict[str, Any],
        origin: str,
        existing: Schedule | None,
        deleted: int = 0,
    ) -> Schedule:
        """The schedule a spec defines, as the next version of ``existing`` or else of
        ``deleted`` (see deleted_schedules). An unchanged trigger keeps its pending series."""
        now = self.clock.now()
        trigger_json = spec.to_json()["trigger"]
        next_fire = kept_series(existing, trigger_json) or trigger_from_json(
            trigger_json
        ).first_fire(now)
        schedule = Schedule(
            id=schedule_id,
            task_name=task.task_name,
            trigger=trigger_json,
            kwargs=kwargs,
            paused=existing.paused if existing is not None else False,
            pause_note=existing.pause_note if existing is not None else None,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            max_instances=spec.max_instances,
            overlap=spec.overlap,
            timeout=spec.timeout,
            labels=tuple(spec.labels),
            executor=spec.executor,
            origin=origin,
            max_runs=spec.max_runs,
            run_count=existing.run_count if existing is not None else 0,
            next_fire_time=next_fire,
            last_fire_time=existing.last_fire_time if existing is not None else None,
            version=(existing.version if existing is not None else deleted) + 1,
            created_at=existing.created_at if existing is not None else now,
            updated_at=now,
        )
        # Ended after max_runs (raising it resumes the series from now, as set above).
        return dataclasses.replace(
            schedule, next_fire_time=planning.next_after(schedule, 0, next_fire)
        )


def _check_owner(schedule: Schedule, task_name: str) -> None:
    """ConflictError unless ``schedule`` is one of ``task_name``'s."""
    if schedule.task_name != task_name:
        raise ConflictError(f"schedule {schedule.id!r} belongs to task {schedule.task_name!r}")


def _executor_of(schedule: Schedule, task: BaseTask | None) -> str:
    """The document's ``executor`` field: where the schedule's runs execute."""
    chosen = schedule.executor or (task.executor if task is not None else LOCAL_EXECUTOR)
    if chosen != LOCAL_EXECUTOR:
        return chosen
    return "asyncio" if task is None or task.is_async else "threadpool"
