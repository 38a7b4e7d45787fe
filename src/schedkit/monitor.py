"""The monitor: run events → metrics, alert rules, alert messages and traces.

``Monitor`` is a scheduler extension (``Scheduler(extensions=[Monitor()])``). On start it

* subscribes to the scheduler's :class:`~schedkit.events.EventBus`. The listener only
  updates metrics and queues the event, so a run never waits for the monitor;
* evaluates the event-driven rules (failed, consecutive failures, recovered, missed,
  late at start, too long at the end) on the node that observed the event, folding each
  task's events into its alert state in the store with compare-and-set, so a restart or
  another node never sends the same alert twice;
* runs a periodic check: store-wide gauges on every node, and — on the scheduler lease
  holder only — ``too_long`` for runs still running, ``late`` for runs still waiting,
  and the reminders of failure streaks;
* sends alerts through :class:`~schedkit.alerts.channels.AlertSender` (apprise, off the
  run path, with timeout, retries, throttle and channel health);
* adds the per-attempt span to ``executor.run_wrappers`` and times store calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from schedkit._controls import escape_controls
from schedkit.alerts.config import (
    AlertKind,
    AlertsSettings,
    RuleOverride,
    RuleSet,
    parse_task_rules,
)
from schedkit.alerts.messages import Message, MessageContext, render
from schedkit.alerts.rules import (
    Alert,
    Decision,
    calendar_alerts,
    lateness,
    on_failing_check,
    on_final,
    on_missed,
    on_pending_check,
    on_running_check,
    on_started,
    reminder_due,
    reminders_moot,
    skipped_is_missed,
    with_missed_count,
)
from schedkit.alerts.running import long_runs
from schedkit.alerts.schedules import ScheduleCache, describe_trigger
from schedkit.alerts.state import TaskAlertState
from schedkit.errors import ConfigError, RunNotFoundError, StoreError
from schedkit.events import EventKind, RunEvent
from schedkit.extension import ExtensionHost
from schedkit.metrics import SchedkitMetrics
from schedkit.models import Run, RunStatus, Schedule, ScheduleCounts
from schedkit.stopping import cancel_and_wait, wait_for
from schedkit.tracing import Tracing, TracingSettings

if TYPE_CHECKING:
    from schedkit.alerts.channels import AlertSender, DeliveryResult
    from schedkit.config import SchedkitConfig

logger = logging.getLogger(__name__)

STATE_PREFIX = "alert:task:"
#: The calendar warnings already alerted: ``{"sent": ["cn_workdays:2027:<code>", ...]}``.
CALENDAR_STATE_KEY = "alert:calendars"
#: Grace time for ``late`` when neither the rule nor the schedule gives one.
DEFAULT_LATE_AFTER = 300.0
#: Runs read per periodic check (running, pending).
CHECK_LIMIT = 1000
EVENT_QUEUE_SIZE = 10_000
BATCH_SIZE = 500
CAS_ATTEMPTS = 20
#: Seconds between two looks for failure streaks owed a reminder (reads every task's state).
REMINDER_CHECK = 60.0

_ALERT_EVENTS = frozenset(
    {EventKind.STARTED, EventKind.FINISHED, EventKind.SKIPPED, EventKind.MISSED, EventKind.LOST}
)

Fold = Callable[[TaskAlertState], Decision]


class Monitor:
    """Metrics, alerts and traces for one :class:`~schedkit.service.Scheduler`.

    ``settings`` default to the scheduler's ``config.alerts``, ``tracing`` to its
    ``config.tracing`` (with the OTEL_* environment), read when the monitor starts."""

    def __init__(
        self,
        settings: AlertsSettings | None = None,
        *,
        tracing: Tracing | TracingSettings | None = None,
        metrics: SchedkitMetrics | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._settings_given = settings
        self.settings = settings or AlertsSettings()
        self.metrics = metrics or SchedkitMetrics()
        self._tracing_given = tracing
        self.tracing = tracing if isinstance(tracing, Tracing) else Tracing(off=True)
        self._environ = environ
        self.sender: AlertSender | None = None
        self.scheduler: ExtensionHost | None = None
        self._queue: asyncio.Queue[RunEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        #: Drops of the node's buffers already counted in the metric, by buffer.
        self._dropped: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._undo: list[Callable[[], None]] = []
        self._remove_listener: Callable[[], None] | None = None
        self._schedules = ScheduleCache(self._read_schedule)
        self._task_rules: dict[str, RuleOverride | None] = {}
        self._secrets: tuple[str, ...] = ()
        self._sampled_at = 0.0
        self._last_check: datetime | None = None
        self._reminders_at: datetime | None = None
        self._dropped_logged = 0.0

    @classmethod
    def from_config(
        cls,
        config: SchedkitConfig,
        *,
        tracing: Tracing | TracingSettings | None = None,
        metrics: SchedkitMetrics | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Monitor:
        """A monitor for ``config``, with its alert channels checked now (ConfigError
        names a bad channel or a missing environment variable)."""
        settings = AlertsSettings.from_config(config)
        if settings.active:
            from schedkit.alerts.channels import AlertSender

            AlertSender(settings.channels, settings.delivery, environ=environ).validate()
        return cls(
            settings,
            tracing=tracing or TracingSettings.from_config(config),
            metrics=metrics,
            environ=environ,
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, scheduler: ExtensionHost) -> None:
        self.scheduler = scheduler
        # A Monitor given to an app's lifespan is started again in each event loop it
        # runs (one per TestClient): a queue of the last one would fail in this one.
        self._queue = asyncio.Queue(EVENT_QUEUE_SIZE)
        if self._settings_given is None:
            self.settings = AlertsSettings.from_config(scheduler.config)
        if not isinstance(self._tracing_given, Tracing):
            self.tracing = Tracing(
                self._tracing_given or TracingSettings.from_config(scheduler.config)
            )
        if self.settings.active:
            # apprise is imported only when alerts are on (metrics-only nodes need not
            # install it).
            from schedkit.alerts.channels import AlertSender

            sender = AlertSender(
                self.settings.channels,
                self.settings.delivery,
                language=self.settings.language,
                on_result=self._on_delivery,
                environ=self._environ,
            )
            sender.validate()
            self._secrets = tuple(sorted(sender.secrets))
            await sender.start()
            self.sender = sender
            for name in sender.channels:
                self.metrics.channel_up.labels(channel=name).set(1)
        if self.tracing.enabled:
            self._undo.append(scheduler.add_run_wrapper(self.tracing.run_span))
        self._undo.append(
            scheduler.observe_store(
                self._observe_store, self.tracing.tracer if self.tracing.enabled else None
            )
        )
        self._remove_listener = scheduler.add_listener(self._on_event)
        self._tasks = [
            asyncio.create_task(self._process(), name="schedkit-monitor-events"),
            asyncio.create_task(self._periodic(), name="schedkit-monitor-check"),
        ]
        logger.info(
            "monitor started: alerts %s (%d channel(s)), tracing %s",
            "on" if self.settings.active else "off",
            len(self.settings.channels) if self.settings.active else 0,
            "on" if self.tracing.enabled else "off",
        )

    async def stop(self) -> None:
        """Process the events already received, send what is queued (bounded), stop."""
        if self.scheduler is None:
            return
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        with contextlib.suppress(TimeoutError):
            await wait_for(self._queue.join(), 5.0)
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        if self.sender is not None:
            await self.sender.stop(grace=min(5.0, self.settings.delivery.timeout))
            self.sender = None
        for undo in reversed(self._undo):
            undo()
        self._undo = []
        await asyncio.to_thread(self.tracing.shutdown)
        self.scheduler = None

    # -- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """For ``/ready``-style endpoints: channel health, queue, last check."""
        channels = self.sender.status() if self.sender is not None else []
        return {
            "alerts_enabled": self.settings.active,
            "healthy": all(c["healthy"] for c in channels),
            "channels": channels,
            "events_queued": self._queue.qsize(),
            "last_check": self._last_check.isoformat() if self._last_check else None,
            "leader": bool(self.scheduler is not None and self.scheduler.is_leader),
            "tracing": self.tracing.enabled,
        }

    async def refresh(self, max_age: float = 1.0) -> None:
        """Re-sample store-wide gauges unless done within ``max_age`` seconds."""
        if time.monotonic() - self._sampled_at >= max_age:
            await self._sample()

    # -- events (called synchronously by the EventBus, inside the publisher) ----------------

    def _on_event(self, event: RunEvent) -> None:
        run = event.run
        kind = event.kind
        m = self.metrics
        task = run.task_name
        if kind is EventKind.STARTED:
            m.child(m.attempts_started, task).inc()
            waited = lateness(run, run.started_at or event.at) if run.attempt == 1 else None
            if waited is not None:
                m.child(m.fire_lateness, task).observe(waited)
        elif kind is EventKind.FINISHED:
            m.child(m.runs, task, run.status.value).inc()
            if run.duration is not None:
                m.child(m.run_duration, task, run.status.value).observe(run.duration)
            self.tracing.end_run_span(run.id, run.attempt, run.status, run.error, run.reason)
        elif kind is EventKind.RETRYING:
            m.child(m.retries, task).inc()
            error = event.detail.get("error")  # run.error: the next attempt's (none yet)
            self.tracing.end_run_span(run.id, run.attempt - 1, "retrying", error)
        elif kind in (EventKind.SKIPPED, EventKind.MISSED):
            m.child(m.runs, task, run.status.value).inc()
        elif kind is EventKind.LOST:
            self.tracing.end_run_span(run.id, run.attempt, RunStatus.LOST, run.error)
            if _lost_is_final(event):
                m.child(m.runs, task, RunStatus.LOST.value).inc()
        if kind not in _ALERT_EVENTS or not self.settings.active:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            m.events_dropped.inc()
            now = time.monotonic()
            if now - self._dropped_logged > 10:
                self._dropped_logged = now
                logger.warning(
                    "monitor is behind: run events dropped (queue of %d full)", EVENT_QUEUE_SIZE
                )
        self._queue.put_nowait(event)

    async def _process(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._handle(batch)
            except Exception:
                logger.exception(
                    "monitor: evaluating alert rules failed for %d event(s)", len(batch)
                )
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _handle(self, events: list[RunEvent]) -> None:
        by_task: dict[str, list[RunEvent]] = {}
        for event in events:
            by_task.setdefault(event.run.task_name, []).append(event)
        for task_name, task_events in by_task.items():
            rules = self.rules_for(task_name)
            now = self._now()
            folds: list[Fold] = []
            for event in task_events:
                fold = await self._fold_for(event, rules, now)
                if fold is not None:
                    folds.append(fold)
            if not folds:
                continue
            try:
                alerts = await self._update(task_name, folds)
            except StoreError as exc:
                logger.warning(
                    "monitor: alert state of %s not updated (%d event(s) skipped): %s",
                    task_name,
                    len(folds),
                    exc,
                )
                continue
            await self._dispatch(alerts)

    async def _fold_for(self, event: RunEvent, rules: RuleSet, now: datetime) -> Fold | None:
        run = event.run
        kind = event.kind
        if kind is EventKind.FINISHED or (kind is EventKind.LOST and _lost_is_final(event)):
            return lambda s: on_final(s, run, rules, now)
        if kind is EventKind.MISSED or (
            kind is EventKind.SKIPPED and skipped_is_missed(run, event.detail)
        ):
            return lambda s: on_missed(s, run, rules, now)
        if kind is EventKind.STARTED and rules.late:
            late_after = await self._late_after(run, rules)
            return lambda s: on_started(s, run, rules, now, late_after)
        return None

    async def _update(self, task_name: str, folds: list[Fold]) -> list[Alert]:
        """Apply ``folds`` to the task's stored state by compare-and-set; the alerts of
        the write that wins (and only those) are returned for sending."""
        assert self.scheduler is not None
        host = self.scheduler
        key = STATE_PREFIX + task_name
        for attempt in range(CAS_ATTEMPTS):
            entry = await host.get_state(key)
            state = TaskAlertState.from_json(entry.value if entry is not None else None)
            new, alerts = state, []
            for fold in folds:
                new, produced = fold(new)
                alerts += produced
            if new is state:
                return alerts
            if await host.set_state(key, new.to_json(), entry.version if entry else 0):
                return with_missed_count(alerts, new)
            await asyncio.sleep(0.005 * (attempt + 1))
        logger.error(
            "monitor: alert state of %s kept changing under us; %d fold(s) dropped",
            task_name,
            len(folds),
        )
        return []

    # -- periodic checks -----------------------------------------------------------------

    async def _periodic(self) -> None:
        while True:
            try:
                await self.check()
            except StoreError as exc:
                logger.warning("monitor check: store error: %s", exc)
            except Exception:
                logger.exception("monitor check failed")
            await asyncio.sleep(self.settings.check_interval)

    async def check(self) -> None:
        """One periodic round: gauges, orphan spans, and (leader only) too_long / late."""
        await self._sample()
        self.tracing.sweep()
        scheduler = self.scheduler
        if scheduler is not None and self.settings.active and scheduler.is_leader:
            await self._check_running()
            await self._check_pending()
            await self._check_failing()
            if self.settings.rules.calendar:
                await self._check_calendars()
        self._last_check = self._now()
        self.metrics.last_check.set(time.time())

    async def _sample(self) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        self._sampled_at = time.monotonic()
        m = self.metrics
        m.node_running.set(scheduler.running_count)
        for buffer, dropped in scheduler.dropped.items():
            counted = self._dropped.get(buffer, 0)
            if dropped > counted:
                m.child(m.buffer_dropped, buffer).inc(dropped - counted)
                self._dropped[buffer] = dropped
        m.is_leader.set(1 if scheduler.is_leader else 0)
        m.pending.set(await scheduler.count_runs(status=RunStatus.PENDING))
        m.running.set(await scheduler.count_runs(status=RunStatus.RUNNING))
        lease = await scheduler.leader_lease()
        m.set_lease(lease.holder if lease else None, lease.term if lease else None)

    async def _check_running(self) -> None:
        assert self.scheduler is not None
        now = self._now()
        by_task = await long_runs(self.scheduler, self.rules_for, now, CHECK_LIMIT)
        for task_name, runs in by_task.items():
            rules = self.rules_for(task_name)
            alerts = await self._update(
                task_name,
                [functools.partial(on_running_check, long_runs=runs, rules=rules, now=now)],
            )
            await self._dispatch(alerts)

    async def _check_pending(self) -> None:
        assert self.scheduler is not None
        now = self._now()
        runs = await self.scheduler.list_runs(status=RunStatus.PENDING, limit=CHECK_LIMIT)
        # A run no live node can take says so in its alert (its reason, for messages).
        waiting = await self.scheduler.waiting_reasons(runs)
        by_task: dict[str, list[tuple[Run, float, float]]] = {}
        for run in runs:
            if run.blocked_by is not None:
                continue
            if run.id in waiting:
                run = dataclasses.replace(run, reason=waiting[run.id])
            rules = self.rules_for(run.task_name)
            if not rules.late:
                continue
            waited = lateness(run, now)
            if waited is None:
                continue
            threshold = await self._late_after(run, rules)
            if waited > threshold:
                by_task.setdefault(run.task_name, []).append((run, waited, threshold))
        for task_name, late_runs in by_task.items():
            late_runs.sort(key=lambda item: -item[1])
            rules = self.rules_for(task_name)
            alerts = await self._update(
                task_name,
                [functools.partial(on_pending_check, late_runs=late_runs, rules=rules, now=now)],
            )
            await self._dispatch(alerts)

    async def _check_failing(self) -> None:
        """Reminders of alerted failure streaks that no failing run ends to remind with."""
        assert self.scheduler is not None
        now = self._now()
        if self._reminders_at and (now - self._reminders_at).total_seconds() < REMINDER_CHECK:
            return
        self._reminders_at = now
        counts: dict[str, ScheduleCounts] | None = None
        for entry in await self.scheduler.list_state(STATE_PREFIX):
            task_name = entry.key.removeprefix(STATE_PREFIX)
            rules = self.rules_for(task_name)
            state = TaskAlertState.from_json(entry.value)
            run_id = (state.last_error or {}).get("run_id")
            if not run_id or not reminder_due(state, rules, now):
                continue
            if counts is None:
                counts = {c.task_name: c for c in await self.scheduler.schedule_counts()}
            with contextlib.suppress(RunNotFoundError):  # purged since
                last = await self.scheduler.get_run(str(run_id))
                if reminders_moot(last, counts.get(task_name)):
                    continue  # paused (acknowledged) or its schedules removed
                fold = functools.partial(on_failing_check, last_failed=last, rules=rules, now=now)
                await self._dispatch(await self._update(task_name, [fold]))

    async def _check_calendars(self) -> None:
        """One alert per calendar warning when it appears ("calendar cn_workdays for 2027
        not confirmed"). The warnings already sent are kept in the store, so a restart or
        a new leader does not send them again; a warning that went away (the year was
        entered) and comes back is sent again."""
        assert self.scheduler is not None
        warnings = await self.scheduler.calendars.warnings()
        entry = await self.scheduler.get_state(CALENDAR_STATE_KEY)
        sent = set(entry.value.get("sent", [])) if entry is not None else set()
        keys, alerts = calendar_alerts(warnings, sent, self._now())
        if set(keys) == sent:
            return
        version = entry.version if entry is not None else 0
        # Another node sending the same alerts won the compare-and-set: it sends them.
        if await self.scheduler.set_state(CALENDAR_STATE_KEY, {"sent": keys}, version):
            await self._dispatch(alerts)

    # -- sending -------------------------------------------------------------------------

    async def _dispatch(self, alerts: list[Alert]) -> None:
        sender = self.sender
        if not alerts or sender is None:
            return
        for alert in alerts:
            self.metrics.alerts.labels(task=alert.task_name, kind=alert.kind.value).inc()
            # "alert failed for task X" read as a failed delivery ("could not deliver")
            # when grepped; a recovery is good news, not a warning.
            logger.log(
                logging.INFO if alert.kind is AlertKind.RECOVERED else logging.WARNING,
                "raised alert %r%s for %s",
                alert.kind.value,
                " (reminder)" if alert.reminder else "",
                escape_controls(alert.subject),
            )
            rules = self.rules_for(alert.task_name)
            ctx = await self._context(alert)
            for channel in self.settings.channels:
                name = channel.name or channel.scheme
                if rules.channels is not None and name not in rules.channels:
                    continue
                if channel.kinds is not None and alert.kind not in channel.kinds:
                    continue
                message = render(alert, ctx, channel.body_format, sender.destination(name))
                sender.submit(name, message)

    async def _context(self, alert: Alert) -> MessageContext:
        description = None
        scheduler = self.scheduler
        if scheduler is not None:
            task = scheduler.find_task(alert.task_name)
            description = task.task_description if task is not None else None
        schedule_text = None
        run = alert.run
        if run is not None and run.schedule_id is not None:
            schedule = await self._schedules.get(run.schedule_id)
            if schedule is not None:
                schedule_text = describe_trigger(schedule, self.settings.language)
        return MessageContext(
            language=self.settings.language,
            timezone=self.settings.timezone,
            base_url=self.settings.base_url,
            link_template=self.settings.link_template,
            task_description=description,
            schedule=schedule_text,
            secrets=self._secrets,
        )

    def _on_delivery(self, channel: str, message: Message, result: DeliveryResult) -> None:
        self.metrics.alert_deliveries.labels(
            channel=channel, kind=message.kind.value, result=result
        ).inc()
        if self.sender is not None and channel in self.sender.health:
            healthy = self.sender.health[channel].healthy
            self.metrics.channel_up.labels(channel=channel).set(1 if healthy else 0)

    def _observe_store(self, operation: str, seconds: float, error: BaseException | None) -> None:
        self.metrics.child(self.metrics.store_latency, operation).observe(seconds)
        if error is not None and not isinstance(error, asyncio.CancelledError):
            self.metrics.store_errors.labels(operation=operation, error=type(error).__name__).inc()

    # -- lookups -------------------------------------------------------------------------

    def rules_for(self, task_name: str) -> RuleSet:
        """The effective rules of a task: global, task class ``alert_rules``, config."""
        if task_name not in self._task_rules:
            task_rules = None
            if self.scheduler is not None:
                task = self.scheduler.find_task(task_name)
                if task is not None:
                    try:
                        task_rules = parse_task_rules(getattr(task, "alert_rules", None), task_name)
                    except ConfigError as exc:
                        logger.error("%s; using the configured rules", exc)
            self._task_rules[task_name] = task_rules
        return self.settings.rules_for(task_name, self._task_rules[task_name])

    async def _late_after(self, run: Run, rules: RuleSet) -> float:
        if rules.late_after is not None:
            return rules.late_after
        if run.schedule_id is not None:
            schedule = await self._schedules.get(run.schedule_id)
            if schedule is not None and schedule.misfire_grace_time is not None:
                return schedule.misfire_grace_time
        return DEFAULT_LATE_AFTER

    async def _read_schedule(self, schedule_id: str) -> Schedule | None:
        assert self.scheduler is not None
        return await self.scheduler.get_schedule(schedule_id)

    def _now(self) -> datetime:
        assert self.scheduler is not None
        return self.scheduler.clock.now()


def _lost_is_final(event: RunEvent) -> bool:
    """The reaper says whether a retry follows a lost attempt (``detail.final``)."""
    return bool(event.detail.get("final", True))


def find_monitor(scheduler: Any) -> Monitor | None:
    """The Monitor among a scheduler's extensions, if any."""
    for extension in getattr(scheduler, "extensions", ()):
        if isinstance(extension, Monitor):
            return extension
    return None


__all__ = ["Monitor", "find_monitor"]
