"""The chaos checker on made-up histories: each kind of fault it must catch, it catches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from schedkit.models import Run, RunStatus, TriggerSource

from .checker import Kill, check

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _run(second: int, **fields: Any) -> Run:
    at = T0 + timedelta(seconds=second)
    base = Run(
        id=f"r{second}",
        task_name="chaos_tick",
        schedule_id="chaos_tick",
        trigger_source=TriggerSource.SCHEDULE,
        scheduled_for=at,
        status=RunStatus.SUCCESS,
        created_at=at,
        finished_at=at + timedelta(seconds=1),
    )
    return replace(base, **fields)


def _start(run: Run, attempt: int = 1, pid: int = 100) -> dict[str, Any]:
    return {"event": "start", "run": run.id, "attempt": attempt, "pid": pid}


def test_a_clean_history_passes() -> None:
    runs = [_run(i) for i in range(5)]
    figures = check("sqlite", 5, runs, [_start(r) for r in runs], [], [])
    assert figures.ok and figures.fires == 5 and figures.runs_executed == 5


def test_each_fault_is_caught() -> None:
    kill = Kill(at=(T0 + timedelta(seconds=2)).timestamp(), pid=7, node_id="n7", leader=True)
    lost_record = {
        "attempt": 1,
        "node_id": "n7",
        "status": "lost",
        "finished_at": (T0 + timedelta(seconds=25)).isoformat(),
    }
    runs = [
        _run(0),
        _run(1, attempt=2, attempt_errors=[lost_record]),  # re-run after n7 died: fine
        _run(3, id="dup"),
        _run(3),  # the same fire time twice; second 2 has no record at all
        _run(4, attempt=2, attempt_errors=[{**lost_record, "node_id": "alive"}]),
        _run(5, status=RunStatus.RUNNING),
        _run(6, status=RunStatus.SKIPPED, reason=None),
    ]
    marks = [
        _start(runs[0]),
        _start(runs[0]),  # one attempt executed twice
        _start(runs[1], 1, pid=7),
        _start(runs[1], 2, pid=8),
        _start(runs[4], 1, pid=9),  # re-executed, but its node was not killed
        _start(runs[4], 2, pid=8),
    ]
    figures = check("sqlite", 7, runs, marks, [kill], [])
    assert figures.duplicates == 1
    assert figures.double_executions == 2
    assert figures.false_lost == 1
    assert figures.gaps == 2  # second 2 missing; a skip without its reason
    assert figures.stuck == 1
    assert figures.lost_detection == [23.0]
    assert figures.failover == [1.0]  # the fire created at second 3
    assert not figures.ok


def test_a_lost_detection_across_a_server_restart_is_reported_apart() -> None:
    kill = Kill(at=T0.timestamp(), pid=7, node_id="n7", leader=False)
    record = {
        "attempt": 1,
        "node_id": "n7",
        "status": "lost",
        "finished_at": (T0 + timedelta(seconds=40)).isoformat(),
    }
    runs = [_run(0, attempt=2, attempt_errors=[record])]
    restart = (T0.timestamp() + 10, T0.timestamp() + 25)
    figures = check("mongo", 60, runs, [], [kill], [restart])
    assert (figures.lost_detection, figures.lost_detection_outage) == ([], [40.0])
    assert check("mongo", 60, runs, [], [kill], []).lost_detection == [40.0]
