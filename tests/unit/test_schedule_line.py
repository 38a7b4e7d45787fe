"""The line ``schedkit schedule export`` writes for a schedule with ``max_runs``: the
runs it has left (an import starts counting again), and none once it has ended."""

from __future__ import annotations

from datetime import UTC, datetime

from schedkit.models import Schedule
from schedkit.service.schedule_copy import schedule_line


def test_max_runs_is_exported_as_the_runs_left() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    trigger = {"trigger": "interval", "hours": 1, "timezone": "UTC"}
    made = {"id": "s", "task_name": "t", "trigger": trigger, "created_at": at, "updated_at": at}
    line = schedule_line(Schedule(**made, max_runs=5, run_count=3))
    assert line is not None and line["schedule"]["max_runs"] == 2
    assert schedule_line(Schedule(**made, max_runs=5, run_count=5)) is None
