"""The firing loop: turns due schedules into runs. Only the scheduler lease holder fires.

Each node runs this loop; one holds the lease (:mod:`~schedkit.engine.leadership`) and
fires, the others stand by. The holder keeps the fires due in the next ``lookahead``
seconds in a :class:`~schedkit.engine.window.FireWindow` and sleeps until the earliest.
A tick then, in order:

1. takes the due entries off the window;
2. plans each schedule's fires (:mod:`~schedkit.engine.planning`, pure);
3. reads the active runs of the schedules whose overlap policy needs them (one query);
4. builds the runs (:mod:`~schedkit.engine.runs`), the ones that can start here at once
   created already claimed on slots reserved from the executor;
5. writes runs and schedule advances in one :meth:`Store.record_fires` — insert-if-absent
   on (schedule_id, scheduled_for), the fencing key that makes a stale or racing leader
   harmless (invariant 1), for schedules still at the version planned from;
6. launches the runs claimed here, publishes events, and only then cancels the runs a
   ``replace`` policy replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schedkit.calendars import CalendarBook, CalendarSet
from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.engine import planning, runs
from schedkit.engine.announce import Announcer, Batch
from schedkit.engine.executor import Executor
from schedkit.engine.health import LoopHealth, failing_of
from schedkit.engine.leadership import Leadership
from schedkit.engine.planning import Fire, NotRun
from schedkit.engine.reaper import Reaper
from schedkit.engine.retries import Backoff
from schedkit.engine.slots import Grant
from schedkit.engine.stale_kwargs import say_stale_kwargs
from schedkit.engine.window import Entry, FireWindow
from schedkit.errors import StoreError
from schedkit.events import EventBus
from schedkit.failing import Failing
from schedkit.models import OverlapPolicy, Run, RunStatus, Schedule, labels_of
from schedkit.registry import TaskRegistry
from schedkit.stopping import cancel_and_wait, wait_for
from schedkit.store.base import Store
from schedkit.store.values import ScheduleAdvance
from schedkit.task import BaseTask

logger = logging.getLogger(__name__)

#: Schedules read per refresh; a larger backlog is worked off in further ticks at once.
WINDOW_LIMIT = 100_000
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    entry: Entry
    run: list[Fire]
    not_run: list[NotRun]
    advance: ScheduleAdvance


def _ended(schedule: Schedule) -> ScheduleAdvance:
    return ScheduleAdvance(
        schedule_id=schedule.id,
        version=schedule.version,
        next_fire_time=None,
        last_fire_time=schedule.last_fire_time,
    )


class SchedulerLoop:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        executor: Executor,
        events: EventBus,
        clock: Clock,
        node_id: str,
        config: SchedkitConfig,
    ) -> None:
        self.store = store
        self.registry = registry
        self.executor = executor
        self.events = events
        self.clock = clock
        self.node_id = node_id
        self.cfg = config.scheduler
        #: The zone of times in log lines and in a lost run's reason (its alerts' zone).
        self.tz = ZoneInfo(config.timezone)
        self.leadership = Leadership(
            store=store,
            clock=clock,
            node_id=node_id,
            ttl=self.cfg.lease_ttl,
            retry_interval=self.cfg.refresh_interval,
        )
        self.reaper = Reaper(
            store=store,
            registry=registry,
            events=events,
            clock=clock,
            lost_after=self.cfg.lost_after,
            node_expiry=self.cfg.node_expiry,
            retry_due=executor.wake_at,
            store_failed_at=lambda: self.leadership.failed_at,
            hold=3 * self.cfg.heartbeat_interval,  # see Reaper._holding
            tz=self.tz,
        )
        self.announcer = Announcer(
            store=store, executor=executor, events=events, clock=clock, node_id=node_id, tz=self.tz
        )
        self.health = LoopHealth("scheduler loop", clock)
        #: The store's calendars, re-read (by version) at each tick firing on a calendar.
        self.calendars = CalendarBook(store)
        self.window = FireWindow()
        self._refresh_at = _LONG_AGO
        #: Counts :meth:`_replan` calls: a read that one overtook must not set the next.
        self._replans = 0
        self._reap_at = _LONG_AGO
        self._sweep_at = _LONG_AGO
        self._sweep: asyncio.Task[None] | None = None
        #: The check of the stored schedules' kwargs, made at the first lease gain.
        self._kwargs_check: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        #: Tick writes that failed: each may have stored its runs all the same (the
        #: MongoDB store writes in steps; any store's answer can be lost after its
        #: commit). Those runs are fired by no later tick (their fencing keys are
        #: taken), so what was stored is looked up once the store answers: the runs
        #: claimed by this node are started here (else the reaper would find them lost
        #: after ``lost_after`` and retry them), and every stored fire is announced
        #: (else a missed fire would raise no alert).
        self._unsettled: list[Batch] = []
        #: (schedule id, exception type) already logged by :meth:`_build_or_skip`.
        self._unbuildable: set[tuple[str, str]] = set()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        # A node started again: the last stop's flag and plan must not carry over, nor
        # an asyncio object of the event loop it ran in before.
        self._stopping = False
        self._wake = asyncio.Event()
        self._kwargs_check = None
        self._replan()
        self._lease_task = asyncio.create_task(
            self.leadership.run(on_gain=self._gained), name="schedkit-lease"
        )
        self._task = asyncio.create_task(self._run(), name="schedkit-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # A tick can wait on the store (a lock, a slow server); stopping must not wait
            # for it without bound. Past the lease's time the tick is cancelled, which is
            # no worse than this node being killed mid-tick: each store call is fenced,
            # and the next lease holder plans what the tick did not write.
            done, _ = await asyncio.wait({self._task}, timeout=self.cfg.lease_ttl)
            if not done:
                logger.warning(
                    "scheduler loop still in a tick %.0f s after stop(): cancelling it",
                    self.cfg.lease_ttl,
                )
                await cancel_and_wait(self._task)
        await cancel_and_wait(self._lease_task, self._sweep, self._kwargs_check)
        await self.leadership.release()

    def wake(self) -> None:
        """Re-read the store now (a schedule was added, changed or removed here), and
        claim: saving or deleting a schedule settles its queued runs (released by a
        limit raised or lifted), which the executor's poll would start only later."""
        self._replan()
        self._wake.set()
        self.executor.wake()

    def _gained(self) -> None:
        """The lease was taken: plan from fresh copies of the schedules. At the first
        gain since the start, check every stored schedule's kwargs in the background:
        one node reads them all, once, not each node at each start; a lease's time
        later, after the start's own work (a node stopped at once reads nothing)."""
        self.window.forget()
        self.wake()
        if self._kwargs_check is None:
            self._kwargs_check = asyncio.create_task(
                say_stale_kwargs(self.store, self.registry, self.cfg.lease_ttl),
                name="schedkit-kwargs-check",
            )

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    @property
    def failing(self) -> list[Failing]:
        """Why this node does not fire: its loop's and its lease's passes that fail;
        empty when they work, or fail only for an outage (readiness pings the store)."""
        return failing_of(self.health, self.leadership.health)

    def _replan(self) -> None:
        """Rebuild the window from the next read (fires taken from it but not written
        are planned again from the store)."""
        self.window.clear()
        self._refresh_at = _LONG_AGO
        self._replans += 1

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            # Cleared before the tick, not after it: a wake-up during the tick (a schedule
            # added here) makes the loop look again instead of sleeping.
            self._wake.clear()
            try:
                if self._unsettled:
                    await self._settle()
                if self.is_leader:
                    await self._tick()
                    await self._reap()
                else:
                    self.window.clear()
                backoff.reset()
                self.health.ok()
            except StoreError as exc:
                self.health.failed(exc)
                await backoff.wait(f"scheduler loop: store error: {exc}", error=exc)
                continue
            except Exception as exc:
                self.health.failed(exc)
                logger.exception("scheduler loop: unexpected error; continuing in 1 s")
                await asyncio.sleep(1)
                continue
            with contextlib.suppress(TimeoutError):
                await wait_for(self._wake.wait(), self._sleep_time())

    def _sleep_time(self) -> float:
        now = self.clock.now()
        if not self.is_leader:
            # A standby has nothing to do until the lease task wakes it on a gain.
            return self.cfg.refresh_interval
        # The last deadline: it stops counting itself leader unless renewed meanwhile.
        deadlines = [self._refresh_at, self._reap_at, self.leadership.steps_down_at]
        if (due := self.window.next_due) is not None:
            deadlines.append(due)
        return max(0.0, min((d - now).total_seconds() for d in deadlines))

    async def _tick(self) -> None:
        now = self.clock.now()
        if now >= self._refresh_at:
            await self._refresh(now)
        # Fires nearly due join this tick: one write for all, each run starting on time
        # (it waits for its time on a slot, so as many are taken as slots allow).
        until = now + timedelta(seconds=self.cfg.fire_ahead)
        due = self.window.pop_due(now, until, ahead=self.executor.slots_to_wait_in)
        if not due:
            return
        try:
            await self._fire(due, now, until)
        except BaseException:
            self._replan()
            raise

    async def _refresh(self, now: datetime) -> None:
        """Re-read which schedules are due within the lookahead (only id, version and
        next fire; whole schedules for versions the window does not hold). An edit made
        on another node is caught at the latest when the tick writes, since the write
        applies only to schedules still at the version read."""
        until = now + timedelta(seconds=self.cfg.lookahead)
        replans = self._replans
        keys = await self.store.due_schedule_keys(until, WINDOW_LIMIT)
        missing = self.window.missing(keys, now)
        if missing:
            self.window.hold(await self.store.get_schedules(missing))
        self.window.refresh(keys)
        if self._replans != replans:
            # A schedule changed here during the read, which may not have seen it: the
            # refresh stays due (read again at once), not one refresh_interval away.
            return
        # A full read may have left due schedules out: read again after this tick's
        # writes have advanced the ones read.
        full = len(keys) >= WINDOW_LIMIT
        self._refresh_at = now if full else now + timedelta(seconds=self.cfg.refresh_interval)

    async def _fire(self, due: dict[str, Entry], now: datetime, until: datetime) -> None:
        names = [ref.name for entry in due.values() if (ref := entry.trigger.calendar) is not None]
        books = await self.calendars.refresh(names) if names else self.calendars.current
        plans = [
            p for entry in due.values() if (p := self._plan(entry, now, until, books)) is not None
        ]
        watched = [
            p.entry.schedule.id
            for p in plans
            if p.run and p.entry.schedule.overlap is not OverlapPolicy.ALLOW
        ]
        active = await self.store.active_runs_of(watched) if watched else {}
        batch = Batch()
        with self.executor.reserve(sum(len(p.run) for p in plans)) as grant:
            for plan in plans:
                self._build_or_skip(plan, active.get(plan.entry.schedule.id, []), now, batch, grant)
            fence = self.leadership.fence()
            if fence is None or not self.is_leader:
                self.wake()
                return
            try:
                record = await self.store.record_fires(
                    batch.runs, batch.advances, fence=fence, now=self.clock.now()
                )
            except Exception:
                self._unsettled.append(batch)
                self.window.drop(sid for sid, e in due.items() if e.schedule.max_runs is not None)
                raise
            if record.fenced:
                # The lease was lost (expired or taken over) before the write: nothing
                # of this tick was written; the next holder plans these fires.
                logger.warning("tick not written: node %s no longer holds the lease", self.node_id)
                self.leadership.step_down()
                self.wake()
                return
            stored = set(record.inserted)
            horizon = self._refresh_at + timedelta(seconds=self.cfg.lookahead)
            recounted = record.recounted
            self.window.advance(
                (
                    (
                        a.schedule_id,
                        a.version,
                        a.next_fire_time,
                        recounted[a.schedule_id]
                        if a.schedule_id in recounted
                        else sum(i in stored for i in a.counted),
                    )
                    for a in batch.advances
                ),
                horizon,
            )
            if record.advanced < len(batch.advances):
                # Changed on another node since the window was read, or counted past the
                # copy planned from (the version unchanged): read them again now.
                self.window.drop(a.schedule_id for a in batch.advances if a.run_count is not None)
                self.wake()
            self.executor.launch(
                grant, (r for r in batch.runs if r.id in stored and r.status is RunStatus.RUNNING)
            )
        await self.announcer.announce(batch, stored)

    def _plan(
        self, entry: Entry, now: datetime, until: datetime, books: CalendarSet
    ) -> _Plan | None:
        """The fate of a schedule's due fires; None for a schedule that cannot be
        planned (a stored trigger this version cannot evaluate), which is reported once
        and must not stop the others from firing."""
        schedule, trigger = entry.schedule, entry.trigger
        if schedule.runs_left == 0:
            # Ended (max_runs lowered under its count on another node): stop the series.
            return _Plan(entry=entry, run=[], not_run=[], advance=_ended(schedule))
        try:
            limit = planning.fire_limit(schedule, self.cfg.max_fires_per_tick)
            fires, next_fire = planning.due_fires(
                trigger, schedule, entry.next_fire, now, limit, until
            )
            if not fires:
                return None
            judged = planning.judge_fires(
                schedule,
                fires,
                registered=self.registry.get_task(schedule.task_name) is not None,
                calendar=planning.calendar_check(trigger, books),
            )
        except Exception:
            self.window.report_broken(schedule)
            return None
        return _Plan(
            entry=entry,
            run=judged.run,
            not_run=judged.not_run,
            advance=ScheduleAdvance(
                schedule_id=schedule.id,
                version=schedule.version,
                next_fire_time=next_fire,
                last_fire_time=fires[-1].nominal,
                run_count=schedule.run_count if schedule.max_runs is not None else None,
            ),
        )

    def _build(
        self, plan: _Plan, active: list[Run], now: datetime, batch: Batch, grant: Grant
    ) -> None:
        """Add a planned schedule's runs to the batch, overlap policy applied."""
        schedule = plan.entry.schedule
        counted: list[str] = []
        task = self.registry.get_task(schedule.task_name)
        for dropped in plan.not_run:
            batch.add(
                runs.not_run(schedule, task, dropped.fire, dropped.status, dropped.reason, now),
                dropped.cause,
            )
        if task is not None and plan.run:
            counted = self._build_runs(plan, task, active, now, batch, grant)
        advance = plan.advance
        batch.advances.append(
            dataclasses.replace(
                advance,
                next_fire_time=planning.next_after(schedule, len(counted), advance.next_fire_time),
                counted=tuple(counted),
            )
        )

    def _build_or_skip(
        self, plan: _Plan, active: list[Run], now: datetime, batch: Batch, grant: Grant
    ) -> None:
        """:meth:`_build`; when building a run raises (a property of the task failing
        now, though its declaration passed registration), what it added is taken back
        and its runnable fires are recorded skipped with the error instead: one broken
        task must not stop the other schedules' fires, nor leave its own unrecorded."""
        mark = len(batch.runs)
        try:
            self._build(plan, active, now, batch, grant)
        except Exception as exc:
            for run in batch.runs[mark:]:
                batch.causes.pop(run.id, None)
                batch.replaces.pop(run.id, None)
            del batch.runs[mark:]
            schedule = plan.entry.schedule
            why = (
                f"task {schedule.task_name!r} failed to build its run: {type(exc).__name__}: {exc}"
            )
            key = (schedule.id, type(exc).__name__)
            if key not in self._unbuildable:
                # Once per kind of error: each skipped fire is announced (and alerted).
                self._unbuildable.add(key)
                logger.exception(
                    "schedule %s: %s; its fires are recorded skipped", schedule.id, why
                )
            skipped = [
                NotRun(
                    fire=fire.nominal,
                    status=RunStatus.SKIPPED,
                    reason=why,
                    cause=planning.CAUSE_TASK_ERROR,
                )
                for fire in plan.run
            ]
            failed = dataclasses.replace(plan, run=[], not_run=[*plan.not_run, *skipped])
            self._build(failed, active, now, batch, grant)

    def _build_runs(
        self,
        plan: _Plan,
        task: BaseTask,
        active: list[Run],
        now: datetime,
        batch: Batch,
        grant: Grant,
    ) -> list[str]:
        """Add the runs of a plan's runnable fires; the ids of those that started (not
        skipped by the overlap policy), which count towards ``max_runs``."""
        schedule = plan.entry.schedule
        counted: list[str] = []
        labels = labels_of([*task.labels, *schedule.labels])
        executor = runs.executor_of(schedule, task)
        for fire in plan.run:
            overlap = planning.decide_overlap(schedule, active)
            catch_up = planning.is_catch_up(fire, self.cfg.lookahead, self.cfg.refresh_interval)
            # Claimed here when it can start here now: decided before the run is built,
            # so that the hot path builds each run once.
            claim = (
                overlap.skip is None
                and overlap.queue_behind is None
                and self.executor.starts_here(executor, labels)
                and grant.take()
            )
            run = runs.fired(
                schedule,
                task,
                fire.nominal,
                now,
                catch_up=catch_up,
                blocked_by=overlap.queue_behind,
                not_before=fire.starts_at(now),
                claimed_by=self.node_id if claim else None,
            )
            if overlap.skip is not None:
                batch.add(runs.skipped(run, overlap.skip, now), planning.CAUSE_OVERLAP)
                continue
            if overlap.replace:
                batch.replaces[run.id] = overlap.replace
                active.clear()
            batch.add(run)
            active.append(run)
            counted.append(run.id)
        return counted

    async def _settle(self) -> None:
        """Start and announce what failed tick writes stored (what they did not store
        is fired again from the store, and announced by that tick)."""
        built = {run.id: run for batch in self._unsettled for run in batch.runs}
        stored = await self.store.get_runs(list(built))
        batches, self._unsettled = self._unsettled, []
        mine = [
            run
            for run in stored
            if run.status is RunStatus.RUNNING
            and run.node_id == self.node_id
            and run.attempt == built[run.id].attempt
        ]
        if mine:
            with self.executor.reserve(len(mine)) as grant:
                started = mine[: grant.count]
                self.executor.launch(grant, started)
            logger.warning(
                "a tick write failed after storing %d run(s) claimed by this node: %d "
                "started now, %d left for the reaper (no free slot)",
                len(mine),
                len(started),
                len(mine) - len(started),
            )
        ids = {run.id for run in stored}
        for batch in batches:
            await self.announcer.announce(batch, ids)

    async def _reap(self) -> None:
        now = self.clock.now()
        if now < self._reap_at:
            return
        self._reap_at = now + timedelta(seconds=self.cfg.heartbeat_interval)
        if await self.reaper.reap():
            self.executor.wake()
            self._sweep_at = now  # a lost step may end its workflow or start a handler
        await self.reaper.expire_nodes()
        if now >= self._sweep_at and (self._sweep is None or self._sweep.done()):
            # Workflow advancements a dead node did not make: as often as lost runs are
            # found, so a workflow stalls no longer than a run of that node would. Off
            # the loop's path, so that many workflow runs never delay a fire.
            self._sweep_at = now + timedelta(seconds=self.cfg.lost_after)
            self._sweep = asyncio.create_task(self._sweep_flows(), name="schedkit-flows")

    async def _sweep_flows(self) -> None:
        try:
            await self.executor.flows.sweep()
        except StoreError as exc:
            logger.warning("workflow sweep: store error: %s (next sweep retries)", exc)
