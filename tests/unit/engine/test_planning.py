"""The firing path's decisions as pure functions: no store, no clock, no sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schedkit.engine import planning
from schedkit.engine.planning import Fire
from schedkit.models import OverlapPolicy, Run, RunStatus, Schedule, TriggerSource
from schedkit.service.series import ended_by
from schedkit.triggers import trigger_from_json

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
EVERY_MINUTE = {"trigger": "cron", "expression": "* * * * *", "timezone": "UTC"}


def schedule(**changes: object) -> Schedule:
    values: dict[str, object] = {
        "id": "s",
        "task_name": "t",
        "trigger": EVERY_MINUTE,
        "misfire_grace_time": 300.0,
        "coalesce": True,
    }
    values.update(changes)
    return Schedule(**values)  # type: ignore[arg-type]


def fires(*lates: float) -> list[Fire]:
    return [Fire(nominal=T0 + timedelta(minutes=i), late=late) for i, late in enumerate(lates)]


def allow_all(_: datetime) -> str | None:
    return None


def run(run_id: str, *, blocked_by: str | None = None) -> Run:
    return Run(
        id=run_id,
        task_name="t",
        schedule_id="s",
        trigger_source=TriggerSource.SCHEDULE,
        scheduled_for=T0,
        status=RunStatus.RUNNING,
        blocked_by=blocked_by,
    )


class TestDueFires:
    def test_takes_every_fire_due_and_returns_the_next_nominal(self) -> None:
        s = schedule()
        trigger = trigger_from_json(s.trigger)
        now = T0 + timedelta(minutes=2, seconds=30)
        due, nxt = planning.due_fires(trigger, s, T0, now, limit=100)
        assert [f.nominal for f in due] == [T0 + timedelta(minutes=i) for i in range(3)]
        assert [f.late for f in due] == [150.0, 90.0, 30.0]
        assert nxt == T0 + timedelta(minutes=3)

    def test_a_fire_nearly_due_is_taken_ahead_and_starts_at_its_time(self) -> None:
        s = schedule()
        trigger = trigger_from_json(s.trigger)
        now = T0 - timedelta(milliseconds=15)
        due, nxt = planning.due_fires(
            trigger, s, T0, now, limit=100, until=now + timedelta(milliseconds=20)
        )
        assert [f.nominal for f in due] == [T0]
        assert due[0].late == pytest.approx(-0.015)
        assert due[0].starts_at(now) == T0  # not before its time
        assert nxt == T0 + timedelta(minutes=1)
        # Without the look-ahead it is not due yet.
        assert planning.due_fires(trigger, s, T0, now, limit=100)[0] == []

    def test_a_due_fire_starts_now(self) -> None:
        late = Fire(nominal=T0, late=2.5)
        assert late.starts_at(T0 + timedelta(seconds=2.5)) == T0 + timedelta(seconds=2.5)

    def test_a_fire_not_yet_due_is_left_for_later(self) -> None:
        s = schedule()
        due, nxt = planning.due_fires(
            trigger_from_json(s.trigger), s, T0, T0 - timedelta(seconds=1), 10
        )
        assert (due, nxt) == ([], T0)

    def test_limit_bounds_a_long_downtime(self) -> None:
        s = schedule()
        trigger = trigger_from_json(s.trigger)
        due, nxt = planning.due_fires(trigger, s, T0, T0 + timedelta(days=1), limit=5)
        assert len(due) == 5 and nxt == T0 + timedelta(minutes=5)

    def test_jitter_delays_the_fire_time_but_not_the_nominal(self) -> None:
        s = schedule(trigger={**EVERY_MINUTE, "jitter": 30})
        trigger = trigger_from_json(s.trigger)
        at = planning.fire_time(trigger, s, T0)
        assert T0 <= at < T0 + timedelta(seconds=30)
        assert planning.due_fires(trigger, s, T0, at - timedelta(microseconds=1), 10)[0] == []
        due, _ = planning.due_fires(trigger, s, T0, at, 10)
        assert [f.nominal for f in due] == [T0]


class TestJudgeFires:
    def test_an_on_time_fire_runs(self) -> None:
        judged = planning.judge_fires(schedule(), fires(0.5), registered=True, calendar=allow_all)
        assert [f.nominal for f in judged.run] == [T0] and judged.not_run == []

    def test_an_unregistered_task_skips_every_fire(self) -> None:
        judged = planning.judge_fires(schedule(), fires(0, 0), registered=False, calendar=allow_all)
        assert judged.run == []
        assert {(n.status, n.cause) for n in judged.not_run} == {
            (RunStatus.SKIPPED, planning.CAUSE_UNREGISTERED)
        }

    def test_the_calendar_reason_is_recorded(self) -> None:
        def closed(fire: datetime) -> str | None:
            return "cn_workdays: 2027-01-01 is a public holiday"

        judged = planning.judge_fires(schedule(), fires(0), registered=True, calendar=closed)
        assert judged.run == []
        (skip,) = judged.not_run
        assert (skip.status, skip.cause, skip.reason) == (
            RunStatus.SKIPPED,
            planning.CAUSE_CALENDAR,
            "cn_workdays: 2027-01-01 is a public holiday",
        )

    def test_a_fire_later_than_the_grace_is_missed(self) -> None:
        judged = planning.judge_fires(
            schedule(misfire_grace_time=60.0), fires(61, 59), registered=True, calendar=allow_all
        )
        assert [f.late for f in judged.run] == [59]
        (missed,) = judged.not_run
        assert (missed.status, missed.cause) == (RunStatus.MISSED, planning.CAUSE_MISFIRE)
        assert "61.0 s late" in missed.reason

    def test_no_grace_means_no_fire_is_ever_missed(self) -> None:
        judged = planning.judge_fires(
            schedule(misfire_grace_time=None, coalesce=False),
            fires(10**6, 10),
            registered=True,
            calendar=allow_all,
        )
        assert len(judged.run) == 2 and judged.not_run == []

    def test_coalesce_runs_only_the_latest_and_records_the_others(self) -> None:
        judged = planning.judge_fires(
            schedule(), fires(120, 60, 0), registered=True, calendar=allow_all
        )
        assert [f.nominal for f in judged.run] == [T0 + timedelta(minutes=2)]
        assert [(n.fire, n.cause) for n in judged.not_run] == [
            (T0, planning.CAUSE_COALESCED),
            (T0 + timedelta(minutes=1), planning.CAUSE_COALESCED),
        ]

    def test_without_coalesce_every_fire_in_grace_runs(self) -> None:
        judged = planning.judge_fires(
            schedule(coalesce=False), fires(120, 60, 0), registered=True, calendar=allow_all
        )
        assert len(judged.run) == 3

    def test_missed_fires_are_not_coalesced_into_a_run(self) -> None:
        judged = planning.judge_fires(
            schedule(misfire_grace_time=100.0),
            fires(500, 400, 5),
            registered=True,
            calendar=allow_all,
        )
        assert [n.cause for n in judged.not_run] == [planning.CAUSE_MISFIRE] * 2
        assert len(judged.run) == 1


class TestOverlap:
    def test_below_max_instances_the_fire_runs(self) -> None:
        verdict = planning.decide_overlap(schedule(max_instances=2), [run("a")])
        assert verdict == planning.RUN_NOW

    @pytest.mark.parametrize("policy", list(OverlapPolicy))
    def test_with_nothing_active_every_policy_runs(self, policy: OverlapPolicy) -> None:
        assert planning.decide_overlap(schedule(overlap=policy), []) == planning.RUN_NOW

    def test_allow_runs_whatever_is_active(self) -> None:
        verdict = planning.decide_overlap(schedule(overlap=OverlapPolicy.ALLOW), [run("a")] * 5)
        assert verdict == planning.RUN_NOW

    def test_skip_says_why(self) -> None:
        verdict = planning.decide_overlap(schedule(overlap=OverlapPolicy.SKIP), [run("a")])
        assert verdict.skip is not None and "max_instances=1" in verdict.skip

    def test_queue_one_waits_behind_the_newest_active_run(self) -> None:
        verdict = planning.decide_overlap(
            schedule(overlap=OverlapPolicy.QUEUE_ONE, max_instances=2), [run("a"), run("b")]
        )
        assert verdict == planning.Overlap(queue_behind="b")

    def test_queue_one_queues_at_most_one(self) -> None:
        active = [run("a"), run("b", blocked_by="a")]
        verdict = planning.decide_overlap(schedule(overlap=OverlapPolicy.QUEUE_ONE), active)
        assert verdict.skip is not None and "already queued" in verdict.skip

    def test_replace_names_every_active_run_to_cancel(self) -> None:
        verdict = planning.decide_overlap(
            schedule(overlap=OverlapPolicy.REPLACE), [run("a"), run("b")]
        )
        assert verdict == planning.Overlap(replace=("a", "b"))


def test_catch_up_is_a_fire_later_than_the_read_ahead_explains() -> None:
    assert not planning.is_catch_up(Fire(nominal=T0, late=2.9), lookahead=2.0, refresh_interval=1.0)
    assert planning.is_catch_up(Fire(nominal=T0, late=3.1), lookahead=2.0, refresh_interval=1.0)


def test_end_after_max_runs() -> None:
    unlimited = schedule()
    assert unlimited.runs_left is None
    assert planning.fire_limit(unlimited, 50) == 50
    assert planning.next_after(unlimited, 10, T0) == T0
    two_left = schedule(max_runs=5, run_count=3)
    assert two_left.runs_left == 2
    assert planning.fire_limit(two_left, 50) == 2
    assert planning.next_after(two_left, 1, T0) == T0
    assert planning.next_after(two_left, 2, T0) is None  # the second run ends it
    lowered = schedule(max_runs=2, run_count=3)
    assert lowered.runs_left == 0 and planning.fire_limit(lowered, 50) == 0
    assert planning.next_after(lowered, 0, T0) is None


def test_ended_by_names_the_end_condition() -> None:
    assert ended_by(schedule(next_fire_time=T0, max_runs=1)) is None
    assert ended_by(schedule(next_fire_time=None, max_runs=2, run_count=2)) == "max_runs"
    ended_at = {**EVERY_MINUTE, "end_date": "2026-12-31T00:00:00+08:00"}
    assert ended_by(schedule(trigger=ended_at, next_fire_time=None)) == "end_date"
    assert ended_by(schedule(next_fire_time=None)) == "last_fire"
