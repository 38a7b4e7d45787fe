"""repr() of a Run and a Schedule is short and holds no kwargs, result or traceback
(audit: 1,100 characters printing ``'password': 'hunter2'`` the API masks)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime

from schedkit import Run, RunStatus, Schedule, TriggerSource

SECRET = "hunter2"
WHEN = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def _run() -> Run:
    return Run(
        id="r1",
        task_name="login",
        schedule_id="login",
        trigger_source=TriggerSource.SCHEDULE,
        scheduled_for=WHEN,
        status=RunStatus.FAILED,
        kwargs={"user": "bob", "password": SECRET},
        result={"data": {"session": SECRET}},
        error={"type": "RuntimeError", "traceback": f"Traceback ...\n{SECRET}\n" * 40},
        attempt_errors=[{"error": {"message": SECRET}}],
        progress={"note": SECRET},
        finished_at=WHEN,
    )


def _schedule() -> Schedule:
    return Schedule(
        id="nightly",
        task_name="login",
        trigger={"trigger": "cron", "hour": 1},
        kwargs={"user": "bob", "password": SECRET},
        pause_note=SECRET,
        next_fire_time=WHEN,
    )


def test_a_runs_repr_is_short_and_holds_no_secret() -> None:
    text = repr(_run())
    assert SECRET not in text and len(text) < 250
    assert text == (
        "Run(id='r1', task_name='login', status='failed', trigger_source='schedule', "
        "attempt=1, scheduled_for='2026-12-07T09:30:00+00:00', "
        "finished_at='2026-12-07T09:30:00+00:00')"
    )
    assert str(_run()) == text


def test_a_schedules_repr_is_short_and_holds_no_secret() -> None:
    text = repr(_schedule())
    assert SECRET not in text
    assert text == (
        "Schedule(id='nightly', task_name='login', trigger='cron', paused=False, "
        "next_fire_time='2026-12-07T09:30:00+00:00', version=1)"
    )


def test_equality_and_pickling_keep_every_field() -> None:
    for value in (_run(), _schedule()):
        for copied in (pickle.loads(pickle.dumps(value)), copy.deepcopy(value)):
            assert copied == value
    # Fields the repr leaves out still count for equality.
    assert dataclasses.replace(_run(), kwargs={}) != _run()
