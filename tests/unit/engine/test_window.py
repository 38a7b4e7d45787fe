"""The fire window's timer heap: which fires a tick takes, without a store or a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schedkit.engine.window import FireWindow
from schedkit.models import Schedule

T0 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


def window_of(offsets_ms: dict[str, int]) -> FireWindow:
    """A window holding one date schedule per id, due ``offsets_ms`` after T0."""
    window = FireWindow()
    schedules = [
        Schedule(
            id=sid,
            task_name="t",
            trigger={
                "trigger": "date",
                "run_date": (at := T0 + timedelta(milliseconds=ms)).isoformat(),
            },
            next_fire_time=at,
        )
        for sid, ms in offsets_ms.items()
    ]
    window.hold(schedules)
    window.refresh([(s.id, s.version, s.next_fire_time) for s in schedules if s.next_fire_time])
    return window


def test_fires_due_are_taken_whatever_the_bound_on_fires_taken_ahead() -> None:
    window = window_of({"late": -30, "due": 0, "soon": 10, "later": 40, "beyond": 80})
    assert set(window.pop_due(T0, T0 + timedelta(milliseconds=50), ahead=0)) == {"late", "due"}
    # What was not taken stays queued, in order.
    assert window.next_due == T0 + timedelta(milliseconds=10)


def test_fires_taken_ahead_are_the_earliest_up_to_the_bound() -> None:
    window = window_of({"due": 0, "soon": 10, "later": 40, "latest": 45, "beyond": 80})
    until = T0 + timedelta(milliseconds=50)
    assert set(window.pop_due(T0, until, ahead=2)) == {"due", "soon", "later"}
    assert set(window.pop_due(T0, until, ahead=-3)) == set()
    assert set(window.pop_due(T0, until, ahead=None)) == {"latest"}
    assert window.next_due == T0 + timedelta(milliseconds=80)
