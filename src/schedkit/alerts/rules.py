"""Alert rules as pure functions: (state, observation, rules, now) → (new state, alerts).

One :class:`TaskAlertState` per task lives in the store (``alert:task:<name>``, written
by compare-and-set), so every node and every restart sees what was already sent. The
functions here never touch the store or the clock: the monitor reads the state, folds the
observations of one task through these functions, writes the result with CAS and only
the winner of the write sends the alerts it produced.

Semantics (one alert per change of state, never one per run):

* failure streak — a run ending ``failed`` / ``timeout`` / ``lost`` after its last retry
  extends the streak. ``failed`` alerts once when the streak starts;
  ``consecutive_failures = N`` alerts once when it reaches N (both due at once: one
  alert, the escalation). Further failures only remind, every ``reminder_interval``.
  A success ends the streak; ``recovered`` is sent if a failure alert had been sent.
* ``too_long`` — a run's attempt running longer than the threshold alerts once (while
  running, from the periodic check, or at its end if it finished between checks);
  reminders while it keeps running.
* ``missed`` — a fire recorded ``missed`` or skipped (overlap policy, unregistered task)
  opens an episode with one alert; further misses remind; the episode closes silently
  when a run of the task finishes with no miss since it started.
* ``late`` — a run not started within its grace time opens an episode with one alert
  (seen either while it waits, by the periodic check, or when it starts late); the
  episode closes silently when a run of the task starts on time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from schedkit.alerts.config import AlertKind, RuleSet
from schedkit.alerts.state import TaskAlertState
from schedkit.calendars import CalendarWarning
from schedkit.models import JSON, Run, RunStatus, ScheduleCounts, TriggerSource

#: Final statuses that count as a failure of the task.
FAILURE_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.LOST})
#: Run ids remembered per task to make observations idempotent.
SEEN_LIMIT = 64
#: Runs remembered per task for ``too_long``.
TOO_LONG_LIMIT = 50


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.FAILED: Severity.ERROR,
    AlertKind.CONSECUTIVE_FAILURES: Severity.CRITICAL,
    AlertKind.TOO_LONG: Severity.WARNING,
    AlertKind.MISSED: Severity.WARNING,
    AlertKind.LATE: Severity.WARNING,
    AlertKind.RECOVERED: Severity.INFO,
    AlertKind.CALENDAR: Severity.WARNING,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    """One message-worthy change of state of a task."""

    kind: AlertKind
    task_name: str
    at: datetime
    #: The run that caused it (the oldest late run for ``late``).
    run: Run | None = None
    reminder: bool = False
    #: Failures in the streak / fires missed / runs late, as of this alert.
    count: int = 1
    #: The threshold crossed: N for consecutive failures, seconds for too_long / late.
    threshold: float | None = None
    #: Seconds running (too_long) or waiting (late).
    elapsed: float | None = None
    #: When the condition began (failure streak / episode start).
    since: datetime | None = None
    #: The last failure's error, for ``recovered``.
    last_error: JSON | None = None
    #: For ``calendar_unconfirmed``: the warning (``task_name`` is the calendar's name).
    calendar_warning: CalendarWarning | None = None

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]

    @property
    def subject(self) -> str:
        """What the alert is about, for the log: a calendar alert's ``task_name`` is the
        calendar's name and it has no run, so "for task cn_workdays (run -)" misled."""
        warning = self.calendar_warning
        if warning is not None:
            year = f" ({warning.year})" if warning.year is not None else ""
            return f"calendar {warning.calendar}{year}"
        return f"task {self.task_name} (run {self.run.id if self.run is not None else '-'})"

    @property
    def key(self) -> str:
        """A stable id of this alert (for logs and message de-duplication downstream)."""
        run_id = self.run.id if self.run is not None else "-"
        suffix = f":reminder@{self.at.isoformat()}" if self.reminder else ""
        return f"{self.task_name}:{self.kind.value}:{run_id}{suffix}"


Decision = tuple[TaskAlertState, list[Alert]]


def error_summary(run: Run) -> JSON:
    """The part of a run's error that alerts may show: type, message, status, run id."""
    error = run.error or {}
    message = error.get("message") or run.reason or ""
    return {
        "run_id": run.id,
        "status": run.status.value,
        "type": str(error.get("type") or run.status.value),
        "message": str(message),
    }


def on_final(state: TaskAlertState, run: Run, rules: RuleSet, now: datetime) -> Decision:
    """A run reached its final outcome (no retry follows)."""
    seen_as = _final_key(run)
    if seen_as in state.seen or _nothing_to_do(state, run, rules):
        return state, []
    new = state.copy()
    _remember(new, seen_as)
    alerts: list[Alert] = []
    alerts += _too_long_at_end(new, run, rules, now)
    if run.schedule_id is not None and new.missed_open:
        started = run.started_at or run.created_at
        if new.missed_last_at is None or new.missed_last_at < started:
            _close_missed(new)
    if run.status is RunStatus.SUCCESS:
        if new.failure_sent and rules.recovered:
            alerts.append(
                Alert(
                    kind=AlertKind.RECOVERED,
                    task_name=run.task_name,
                    at=now,
                    run=run,
                    count=new.streak,
                    since=new.failing_since,
                    last_error=new.last_error,
                )
            )
        new.streak = 0
        new.failing_since = None
        new.failure_sent = []
        new.failure_sent_at = None
        new.last_error = None
        return new, alerts
    if run.status not in FAILURE_STATUSES:
        return new, alerts
    new.streak += 1
    new.failing_since = new.failing_since or run.finished_at or now
    new.last_error = error_summary(run)
    opening: list[AlertKind] = []
    if rules.failed and AlertKind.FAILED.value not in new.failure_sent:
        opening.append(AlertKind.FAILED)
    n = rules.consecutive_failures
    if n and new.streak >= n and AlertKind.CONSECUTIVE_FAILURES.value not in new.failure_sent:
        opening.append(AlertKind.CONSECUTIVE_FAILURES)
    if opening:
        kind = opening[-1]  # both at once: send the escalation only
        new.failure_sent.extend(k.value for k in opening)
        new.failure_sent_at = now
        alerts.append(_failure_alert(kind, new, run, rules, now, reminder=False))
    elif new.failure_sent and _due(new.failure_sent_at, rules, now):
        new.failure_sent_at = now
        alerts.append(_failure_alert(_streak_kind(new), new, run, rules, now, reminder=True))
    return new, alerts


def reminder_due(state: TaskAlertState, rules: RuleSet, now: datetime) -> bool:
    """Whether a failure streak that was alerted is owed its reminder."""
    return bool(state.failure_sent) and _due(state.failure_sent_at, rules, now)


def reminders_moot(last_failed: Run, counts: ScheduleCounts | None) -> bool:
    """Whether a failure streak's periodic reminders stop: every schedule of the task is
    paused (an operator has acknowledged it), or the streak came from a schedule and the
    task has none left (removed: the incident is over). A task run only by hand keeps
    being reminded of until it succeeds. Reminders come back when a schedule does."""
    if counts is None or counts.total == 0:
        return last_failed.schedule_id is not None
    return counts.paused >= counts.total


def on_failing_check(
    state: TaskAlertState, last_failed: Run, rules: RuleSet, now: datetime
) -> Decision:
    """The periodic check, for a task whose last run failed (``last_failed``): a streak
    alerted ``reminder_interval`` ago is reminded of even when no run ends (a daily job
    that failed once stays broken all day without another failure to remind with)."""
    if not reminder_due(state, rules, now):
        return state, []
    new = state.copy()
    new.failure_sent_at = now
    return new, [_failure_alert(_streak_kind(new), new, last_failed, rules, now, reminder=True)]


def on_missed(state: TaskAlertState, run: Run, rules: RuleSet, now: datetime) -> Decision:
    """A fire of the task did not run (recorded missed, or skipped for a bad reason)."""
    if run.id in state.seen:
        return state, []
    new = state.copy()
    _remember(new, run.id)
    if not rules.missed:
        return new, []
    new.missed_count += 1
    new.missed_last_at = now
    if not new.missed_open:
        new.missed_open = True
        new.missed_since = now
        new.missed_sent_at = now
        return new, [
            Alert(
                kind=AlertKind.MISSED, task_name=run.task_name, at=now, run=run, count=1, since=now
            )
        ]
    if _due(new.missed_sent_at, rules, now):
        new.missed_sent_at = now
        return new, [
            Alert(
                kind=AlertKind.MISSED,
                task_name=run.task_name,
                at=now,
                run=run,
                reminder=True,
                count=new.missed_count,
                since=new.missed_since,
            )
        ]
    return new, []


def with_missed_count(alerts: list[Alert], state: TaskAlertState) -> list[Alert]:
    """``alerts`` of one batch of observations, a missed alert counting every fire the
    batch found missed (fires missed together, a node back after an outage, are one
    alert: it said nothing of how many)."""
    n = state.missed_count
    return [
        replace(a, count=n) if a.kind is AlertKind.MISSED and n > a.count else a for a in alerts
    ]


def on_started(
    state: TaskAlertState, run: Run, rules: RuleSet, now: datetime, late_after: float
) -> Decision:
    """A run (attempt) started: late if it waited longer than ``late_after`` seconds."""
    waited = lateness(run, run.started_at or now)
    if rules.late and waited is not None and waited > late_after:
        return _late(state, run, rules, now, waited, late_after, count=1)
    if state.late_open:
        new = state.copy()
        new.late_open = False
        new.late_count = 0
        new.late_since = None
        new.late_sent_at = None
        new.late_runs = []
        return new, []
    return state, []


def on_pending_check(
    state: TaskAlertState,
    late_runs: list[tuple[Run, float, float]],
    rules: RuleSet,
    now: datetime,
) -> Decision:
    """The periodic check found runs of the task still waiting past their grace time
    (each with its seconds waited and its threshold), oldest first."""
    if not late_runs or not rules.late:
        return state, []
    run, waited, threshold = late_runs[0]
    return _late(
        state,
        run,
        rules,
        now,
        waited,
        threshold,
        count=len(late_runs),
        run_ids=[r.id for r, _, _ in late_runs],
    )


def on_running_check(
    state: TaskAlertState,
    long_runs: list[tuple[Run, float]],
    rules: RuleSet,
    now: datetime,
) -> Decision:
    """The periodic check found runs of the task running (each with seconds running)."""
    if not rules.too_long:
        return state, []
    new: TaskAlertState | None = None
    alerts: list[Alert] = []
    for run, elapsed in long_runs:
        if elapsed <= rules.too_long:
            continue
        # By attempt: a retry of a lost run is a new attempt, whose first too_long is a
        # first alert (keyed by run id, it came as a "(Reminder)" of the lost attempt's).
        key = _attempt_key(run)
        sent = (new or state).too_long.get(key)
        if sent is not None and not _due(sent, rules, now):
            continue
        new = new or state.copy()
        new.too_long[key] = now
        alerts.append(
            Alert(
                kind=AlertKind.TOO_LONG,
                task_name=run.task_name,
                at=now,
                run=run,
                reminder=sent is not None,
                threshold=rules.too_long,
                elapsed=elapsed,
                since=run.started_at,
            )
        )
    if new is None:
        return state, []
    _prune_too_long(new)
    return new, alerts


#: First attempts whose start is due at their fire time: lateness counts from it.
_FIRES = frozenset({TriggerSource.SCHEDULE, TriggerSource.CATCH_UP})


def lateness(run: Run, started: datetime) -> float | None:
    """Seconds between when a run could start and when it started (or ``started``=now);
    None for a run that is not judged late.

    Fires of a schedule (first attempts) count from their nominal fire time; retries from
    their ``not_before``; other first attempts (manual, dependency, workflow step) from
    when they were created, since they may carry an older fire's time (a run started by
    a backfilled one, a step of a workflow started hours ago). Backfill runs are not
    judged: they are past fires asked for, waiting their turn on purpose (the
    request's ``concurrency``), not late.
    """
    if run.attempt > 1:
        reference = run.not_before
    elif run.trigger_source is TriggerSource.BACKFILL:
        return None
    elif run.trigger_source in _FIRES:
        reference = run.scheduled_for
    else:
        reference = run.created_at
    return max(0.0, (started - reference).total_seconds())


_NOT_MISSED_REASONS = ("business calendar", "calendar ", "unknown calendar", "coalesced")


def skipped_is_missed(run: Run, detail: dict[str, Any] | None = None) -> bool:
    """Whether a ``skipped`` fire is worth a ``missed`` alert.

    Skips by the business calendar (on purpose) and fires coalesced into a later one
    (the work still runs) are not; overlap skips and unregistered tasks are.
    """
    cause = (detail or {}).get("cause")
    if isinstance(cause, str):
        return cause not in ("calendar", "coalesced")
    reason = (run.reason or "").lower()
    # Runs stored before causes were recorded: calendar skips read "business calendar: ..."
    # (older releases) or "calendar <name>: ..." / "unknown calendar ..." (since).
    return not reason.startswith(_NOT_MISSED_REASONS)


# -- helpers ----------------------------------------------------------------------------


def _late(
    state: TaskAlertState,
    run: Run,
    rules: RuleSet,
    now: datetime,
    waited: float,
    threshold: float,
    *,
    count: int,
    run_ids: list[str] | None = None,
) -> Decision:
    ids = run_ids or [run.id]
    if (
        state.late_open
        and set(ids) <= set(state.late_runs)
        and not _due(state.late_sent_at, rules, now)
    ):
        return state, []
    new = state.copy()
    fresh = [i for i in ids if i not in new.late_runs]
    new.late_runs = (new.late_runs + fresh)[-SEEN_LIMIT:]
    new.late_count += len(fresh)
    if not new.late_open:
        new.late_open = True
        new.late_since = now
        new.late_sent_at = now
        return new, [
            Alert(
                kind=AlertKind.LATE,
                task_name=run.task_name,
                at=now,
                run=run,
                count=count,
                threshold=threshold,
                elapsed=waited,
                since=now,
            )
        ]
    if _due(new.late_sent_at, rules, now):
        new.late_sent_at = now
        return new, [
            Alert(
                kind=AlertKind.LATE,
                task_name=run.task_name,
                at=now,
                run=run,
                reminder=True,
                count=max(count, new.late_count),
                threshold=threshold,
                elapsed=waited,
                since=new.late_since,
            )
        ]
    return new, []


def _nothing_to_do(state: TaskAlertState, run: Run, rules: RuleSet) -> bool:
    """A success (or cancel) of a healthy task: no write needed (the common case)."""
    if run.status in FAILURE_STATUSES or state.streak or state.missed_open:
        return False
    duration = _duration(run)
    return not (rules.too_long and duration is not None and duration > rules.too_long)


def _duration(run: Run) -> float | None:
    if run.duration is not None:
        return run.duration
    if run.started_at is not None and run.finished_at is not None:
        return (run.finished_at - run.started_at).total_seconds()
    return None


def _too_long_at_end(state: TaskAlertState, run: Run, rules: RuleSet, now: datetime) -> list[Alert]:
    if not rules.too_long or _attempt_key(run) in state.too_long:
        return []
    duration = _duration(run)
    if duration is None or duration <= rules.too_long:
        return []
    state.too_long[_attempt_key(run)] = now
    _prune_too_long(state)
    return [
        Alert(
            kind=AlertKind.TOO_LONG,
            task_name=run.task_name,
            at=now,
            run=run,
            threshold=rules.too_long,
            elapsed=duration,
            since=run.started_at,
        )
    ]


def _failure_alert(
    kind: AlertKind,
    state: TaskAlertState,
    run: Run,
    rules: RuleSet,
    now: datetime,
    *,
    reminder: bool,
) -> Alert:
    threshold = (
        float(rules.consecutive_failures) if kind is AlertKind.CONSECUTIVE_FAILURES else None
    )
    return Alert(
        kind=kind,
        task_name=run.task_name,
        at=now,
        run=run,
        reminder=reminder,
        count=state.streak,
        threshold=threshold,
        since=state.failing_since,
    )


def _streak_kind(state: TaskAlertState) -> AlertKind:
    if AlertKind.CONSECUTIVE_FAILURES.value in state.failure_sent:
        return AlertKind.CONSECUTIVE_FAILURES
    return AlertKind.FAILED


def _close_missed(state: TaskAlertState) -> None:
    state.missed_open = False
    state.missed_count = 0
    state.missed_since = None
    state.missed_last_at = None
    state.missed_sent_at = None


def _due(sent_at: datetime | None, rules: RuleSet, now: datetime) -> bool:
    if not rules.reminder_interval or sent_at is None:
        return False
    return (now - sent_at).total_seconds() >= rules.reminder_interval


def _final_key(run: Run) -> str:
    """How a final outcome is remembered: a workflow step retried by an operator ends
    again under its run id, at a later attempt (remembered by id alone, its success was
    ignored: no recovery, and the streak it ended went on, silencing later failures)."""
    return _attempt_key(run)


def _attempt_key(run: Run) -> str:
    """A run's attempt, as remembered: by id alone for the first (as before attempts
    were told apart, so a state written then still reads the same)."""
    return run.id if run.attempt == 1 else f"{run.id}@{run.attempt}"


def _remember(state: TaskAlertState, run_id: str) -> None:
    state.seen.append(run_id)
    if len(state.seen) > SEEN_LIMIT:
        del state.seen[: len(state.seen) - SEEN_LIMIT]


def _prune_too_long(state: TaskAlertState) -> None:
    if len(state.too_long) > TOO_LONG_LIMIT:
        keep = sorted(state.too_long.items(), key=lambda kv: kv[1])[-TOO_LONG_LIMIT:]
        state.too_long = dict(keep)


def calendar_alerts(
    warnings: list[CalendarWarning], sent: set[str], now: datetime
) -> tuple[list[str], list[Alert]]:
    """The keys of the calendar warnings standing now (what the store keeps as sent), and
    an alert for each not ``sent`` before: one per calendar, year and kind of warning."""
    current = {f"{w.calendar}:{w.year}:{w.code.value}": w for w in warnings}
    alerts = [
        Alert(kind=AlertKind.CALENDAR, task_name=w.calendar, at=now, calendar_warning=w)
        for key, w in sorted(current.items())
        if key not in sent
    ]
    return sorted(current), alerts
