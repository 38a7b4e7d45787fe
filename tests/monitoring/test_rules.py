"""The rules as pure functions: one alert per change of state, reminders, recovery."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from schedkit.alerts.config import AlertKind, RuleSet
from schedkit.alerts.rules import (
    Alert,
    on_failing_check,
    on_final,
    on_missed,
    on_pending_check,
    on_running_check,
    on_started,
    reminders_moot,
    skipped_is_missed,
)
from schedkit.alerts.state import TaskAlertState
from schedkit.models import Run, RunStatus, ScheduleCounts, TriggerSource

T0 = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
_ids = itertools.count(1)


def run(status: RunStatus, *, at: datetime = T0, duration: float | None = 1.0, **kw: object) -> Run:
    fields: dict[str, object] = {
        "id": f"run-{next(_ids)}",
        "task_name": "t",
        "schedule_id": "t",
        "trigger_source": TriggerSource.SCHEDULE,
        "scheduled_for": at,
        "status": status,
        "started_at": at,
        "finished_at": at + timedelta(seconds=duration) if duration is not None else None,
        "duration": duration,
    }
    if status is RunStatus.FAILED:
        fields["error"] = {"type": "ValueError", "message": "boom"}
    fields.update(kw)
    return Run(**fields)  # type: ignore[arg-type]


def fold(
    state: TaskAlertState, runs: list[Run], rules: RuleSet, step: timedelta = timedelta(minutes=1)
) -> tuple[TaskAlertState, list[Alert]]:
    alerts: list[Alert] = []
    now = T0
    for r in runs:
        now += step
        state, produced = on_final(state, r, rules, now)
        alerts += produced
    return state, alerts


def kinds(alerts: list[Alert]) -> list[tuple[str, bool]]:
    return [(a.kind.value, a.reminder) for a in alerts]


def test_hundred_failures_one_alert_then_one_recovered() -> None:
    state, alerts = fold(TaskAlertState(), [run(RunStatus.FAILED) for _ in range(100)], RuleSet())
    assert kinds(alerts) == [("failed", False)]
    assert state.streak == 100
    state, alerts = fold(state, [run(RunStatus.SUCCESS), run(RunStatus.SUCCESS)], RuleSet())
    assert kinds(alerts) == [("recovered", False)]
    assert alerts[0].count == 100 and alerts[0].last_error is not None
    assert alerts[0].last_error["type"] == "ValueError"
    assert state.streak == 0 and not state.failure_sent


def test_a_retried_step_ending_again_under_its_run_id_is_a_new_outcome() -> None:
    """An audit: a workflow step failed (alerted), was retried by the operator and
    succeeded at attempt 2 under the same run id: no recovery was sent, the streak went
    on, and the task's next failures sent nothing."""
    failed = run(RunStatus.FAILED)
    state, alerts = fold(TaskAlertState(), [failed], RuleSet())
    assert kinds(alerts) == [("failed", False)]
    retried = run(RunStatus.SUCCESS, id=failed.id, attempt=2, max_attempts=2)
    state, alerts = fold(state, [retried, retried], RuleSet())
    assert kinds(alerts) == [("recovered", False)] and state.streak == 0
    _, alerts = fold(state, [run(RunStatus.FAILED)], RuleSet())
    assert kinds(alerts) == [("failed", False)]


def test_timeout_and_lost_count_as_failures_cancel_does_not() -> None:
    state, alerts = fold(
        TaskAlertState(),
        [run(RunStatus.CANCELLED), run(RunStatus.TIMEOUT), run(RunStatus.LOST)],
        RuleSet(),
    )
    assert kinds(alerts) == [("failed", False)] and state.streak == 2


def test_consecutive_failures_escalates_once() -> None:
    rules = RuleSet(consecutive_failures=3)
    _state, alerts = fold(TaskAlertState(), [run(RunStatus.FAILED) for _ in range(10)], rules)
    assert kinds(alerts) == [("failed", False), ("consecutive_failures", False)]
    assert alerts[1].count == 3 and alerts[1].threshold == 3


def test_consecutive_only_when_failed_is_off() -> None:
    rules = RuleSet(failed=False, consecutive_failures=2)
    runs = [
        run(RunStatus.FAILED),
        run(RunStatus.SUCCESS),
        run(RunStatus.FAILED),
        run(RunStatus.FAILED),
        run(RunStatus.FAILED),
        run(RunStatus.SUCCESS),
    ]
    _, alerts = fold(TaskAlertState(), runs, rules)
    # the lone failure is not alerted, so its success is no recovery either
    assert kinds(alerts) == [("consecutive_failures", False), ("recovered", False)]


def test_both_due_at_once_sends_the_escalation_only() -> None:
    _, alerts = fold(TaskAlertState(), [run(RunStatus.FAILED)], RuleSet(consecutive_failures=1))
    assert kinds(alerts) == [("consecutive_failures", False)]


def test_reminders_at_the_interval() -> None:
    rules = RuleSet(reminder_interval=300)
    # one failure a minute for 11 minutes: alert at 1, reminders at 6 and 11
    _, alerts = fold(TaskAlertState(), [run(RunStatus.FAILED) for _ in range(11)], rules)
    assert kinds(alerts) == [("failed", False), ("failed", True), ("failed", True)]
    assert [a.count for a in alerts] == [1, 6, 11]


def test_a_failing_task_is_reminded_of_at_the_interval_without_a_run() -> None:
    rules = RuleSet(reminder_interval=300)
    last = run(RunStatus.FAILED)
    state, _ = fold(TaskAlertState(), [last], rules)  # the alert went out at T0 + 1 min
    sent = T0 + timedelta(minutes=1)
    assert on_failing_check(state, last, rules, sent + timedelta(seconds=299)) == (state, [])
    state, alerts = on_failing_check(state, last, rules, sent + timedelta(seconds=300))
    assert kinds(alerts) == [("failed", True)] and alerts[0].run == last
    assert on_failing_check(state, last, rules, sent + timedelta(seconds=301))[1] == []
    assert on_failing_check(state, last, RuleSet(), sent + timedelta(days=1))[1] == []


def test_recovered_can_be_switched_off() -> None:
    _, alerts = fold(
        TaskAlertState(), [run(RunStatus.FAILED), run(RunStatus.SUCCESS)], RuleSet(recovered=False)
    )
    assert kinds(alerts) == [("failed", False)]


def test_same_run_observed_twice_counts_once() -> None:
    r = run(RunStatus.FAILED)
    state, alerts = fold(TaskAlertState(), [r, r, r], RuleSet(consecutive_failures=2))
    assert state.streak == 1 and kinds(alerts) == [("failed", False)]


def test_healthy_success_writes_nothing() -> None:
    state = TaskAlertState()
    new, alerts = on_final(state, run(RunStatus.SUCCESS), RuleSet(), T0)
    assert new is state and alerts == []


def test_too_long_while_running_once_then_reminders() -> None:
    rules = RuleSet(too_long=60, reminder_interval=600)
    long_run = run(RunStatus.RUNNING, duration=None)
    state = TaskAlertState()
    sent: list[Alert] = []
    for minute in range(0, 25):
        now = T0 + timedelta(minutes=minute)
        elapsed = (now - T0).total_seconds()
        state, alerts = on_running_check(state, [(long_run, elapsed)], rules, now)
        sent += alerts
    assert kinds(sent) == [("too_long", False), ("too_long", True), ("too_long", True)]
    assert sent[0].elapsed == 120 and sent[0].threshold == 60
    # it ends: no further too_long alert at its end
    done = run(RunStatus.SUCCESS, duration=1500, id=long_run.id)
    state, alerts = on_final(state, done, rules, T0 + timedelta(minutes=25))
    assert alerts == []


def test_too_long_of_a_retried_attempt_is_a_first_alert() -> None:
    # An audit: a run lost with its node was retried, and its next attempt's first
    # too_long came as "(Reminder)" of the lost attempt's, then reminded as due.
    rules = RuleSet(too_long=60, reminder_interval=300)
    first = run(RunStatus.RUNNING, duration=None)
    state, alerts = on_running_check(TaskAlertState(), [(first, 120)], rules, T0)
    assert kinds(alerts) == [("too_long", False)]
    retry_start = T0 + timedelta(minutes=5)
    second = run(RunStatus.RUNNING, duration=None, id=first.id, attempt=2, started_at=retry_start)
    now = retry_start + timedelta(minutes=2)
    state, alerts = on_running_check(state, [(second, 120)], rules, now)
    assert kinds(alerts) == [("too_long", False)]
    # then once, not every check, until its reminder is due
    state, alerts = on_running_check(state, [(second, 180)], rules, now + timedelta(minutes=1))
    assert alerts == []
    # a retry that ended between checks alerts at its end, too
    third = run(RunStatus.SUCCESS, duration=4000, id=first.id, attempt=3)
    _, alerts = on_final(state, third, rules, now + timedelta(hours=2))
    assert kinds(alerts) == [("too_long", False)]


def test_too_long_at_end_when_it_finished_between_checks() -> None:
    _, alerts = on_final(TaskAlertState(), run(RunStatus.SUCCESS, duration=4000), RuleSet(), T0)
    assert kinds(alerts) == [("too_long", False)] and alerts[0].elapsed == 4000
    _, alerts = on_final(
        TaskAlertState(), run(RunStatus.SUCCESS, duration=4000), RuleSet(too_long=0), T0
    )
    assert alerts == []


def test_missed_episode_opens_once_and_closes_after_a_clean_run() -> None:
    rules = RuleSet()
    state = TaskAlertState()
    sent: list[Alert] = []
    for i in range(30):
        missed = run(RunStatus.MISSED, at=T0 + timedelta(minutes=i), reason="late")
        state, alerts = on_missed(state, missed, rules, T0 + timedelta(minutes=i))
        sent += alerts
    assert kinds(sent) == [("missed", False)] and state.missed_count == 30
    # a run that started after the last miss and finished closes the episode silently
    ok = run(RunStatus.SUCCESS, at=T0 + timedelta(minutes=31))
    state, alerts = on_final(state, ok, rules, T0 + timedelta(minutes=32))
    assert alerts == [] and not state.missed_open
    state, alerts = on_missed(state, run(RunStatus.MISSED), rules, T0 + timedelta(minutes=40))
    assert kinds(alerts) == [("missed", False)]


def test_skip_causes() -> None:
    def skipped(reason: str) -> Run:
        return run(RunStatus.SKIPPED, reason=reason)

    assert skipped_is_missed(skipped("overlap policy skip: 1 run(s) still active"))
    assert skipped_is_missed(skipped("task 'x' is not registered on the scheduling node"))
    assert not skipped_is_missed(skipped("business calendar: not a run day"))
    assert not skipped_is_missed(skipped("coalesced into the fire at 2024-05-01T02:00"))
    assert not skipped_is_missed(skipped("whatever"), {"cause": "calendar"})


def test_late_open_by_check_then_closed_by_an_on_time_start() -> None:
    rules = RuleSet(late_after=60)
    waiting = run(RunStatus.PENDING, started_at=None, duration=None)
    state, alerts = on_pending_check(TaskAlertState(), [(waiting, 90, 60)], rules, T0)
    assert kinds(alerts) == [("late", False)] and alerts[0].elapsed == 90
    state, again = on_pending_check(state, [(waiting, 150, 60)], rules, T0 + timedelta(minutes=1))
    assert again == []
    # when that run finally starts (late) nothing new is sent
    started = run(RunStatus.RUNNING, id=waiting.id, started_at=T0 + timedelta(seconds=200))
    state, again = on_started(state, started, rules, T0, 60)
    assert again == [] and state.late_open
    # a later run starting on time closes the episode; the next late one alerts again
    on_time = run(RunStatus.RUNNING, at=T0 + timedelta(hours=1))
    state, alerts = on_started(state, on_time, rules, T0 + timedelta(hours=1), 60)
    assert alerts == [] and not state.late_open
    late = run(
        RunStatus.RUNNING, at=T0 + timedelta(hours=2), started_at=T0 + timedelta(hours=2, minutes=5)
    )
    _, alerts = on_started(state, late, rules, T0 + timedelta(hours=2, minutes=5), 60)
    assert kinds(alerts) == [("late", False)] and alerts[0].elapsed == 300


def test_retries_are_late_from_their_not_before() -> None:
    retry = run(
        RunStatus.RUNNING,
        attempt=2,
        not_before=T0 + timedelta(minutes=10),
        started_at=T0 + timedelta(minutes=10, seconds=5),
    )
    _, alerts = on_started(TaskAlertState(), retry, RuleSet(), T0, 60)
    assert alerts == []


def test_state_round_trips_through_json() -> None:
    state, _ = fold(TaskAlertState(), [run(RunStatus.FAILED), run(RunStatus.FAILED)], RuleSet())
    state, _ = on_missed(state, run(RunStatus.MISSED), RuleSet(), T0)
    state, _ = on_running_check(state, [(run(RunStatus.RUNNING), 5000)], RuleSet(), T0)
    assert TaskAlertState.from_json(state.to_json()) == state
    assert TaskAlertState.from_json(None) == TaskAlertState()


def test_alert_kinds_cover_the_issue() -> None:
    assert {k.value for k in AlertKind} == {
        "failed",
        "consecutive_failures",
        "too_long",
        "missed",
        "late",
        "recovered",
        "calendar_unconfirmed",  # issue #14
        "test",  # a test message asked for; no rule raises it (schedkit.alerts.probe)
    }


def test_reminders_stop_for_a_paused_task_or_one_whose_schedules_are_gone() -> None:
    """An on-call audit: reminders kept coming for paused tasks (acknowledged by the
    operator) and for a task whose schedules had been removed (the incident is over)."""
    scheduled = run(RunStatus.FAILED)
    manual = run(RunStatus.FAILED, schedule_id=None, trigger_source=TriggerSource.MANUAL)

    def counts(total: int, paused: int) -> ScheduleCounts:
        return ScheduleCounts(task_name="t", total=total, paused=paused, next_fire_time=None)

    assert not reminders_moot(scheduled, counts(2, 1))  # still fires on one schedule
    assert reminders_moot(scheduled, counts(2, 2))  # paused
    assert reminders_moot(scheduled, None)  # its schedules removed
    assert reminders_moot(scheduled, counts(0, 0))
    assert not reminders_moot(manual, None)  # run by hand only: broken until a success
    assert reminders_moot(manual, counts(1, 1))
