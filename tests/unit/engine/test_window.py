"""The fire window's timer heap: which fires a tick takes, without a store or a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schedkit.engine.window import GENERATION, DueKey, FireWindow
from schedkit.models import Schedule

T0 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
SEC = timedelta(seconds=1)


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


def counting_window() -> FireWindow:
    """A window holding a schedule ending after 5 runs, its first fire due at T0."""
    window = FireWindow()
    schedule = Schedule(
        id="s",
        task_name="t",
        trigger={"trigger": "interval", "seconds": 1, "start_date": T0.isoformat()},
        next_fire_time=T0,
        max_runs=5,
    )
    keys: list[DueKey] = [("s", schedule.version, T0)]
    assert window.missing(keys, T0) == ["s"]
    window.hold([schedule])
    window.refresh(keys)
    return window


def fire(window: FireWindow, at: datetime, clear_meanwhile: bool = False) -> int:
    """Take the fire due at ``at`` and count its run as the tick's write did; the count
    the plan read."""
    planned = window.pop_due(at, at, ahead=None)["s"].schedule
    if clear_meanwhile:
        window.clear()  # an edit on this node while the write was in flight
    window.advance([("s", planned.version, at + SEC, 1)], at + timedelta(minutes=1))
    return planned.run_count


def reread(window: FireWindow, nominal: datetime, now: datetime) -> int:
    """Clear the window and refresh it from the store's keys; the count then held."""
    window.clear()
    keys: list[DueKey] = [("s", 1, nominal)]
    assert window.missing(keys, now) == []  # the copy held is used, not read again
    window.refresh(keys)
    return window.pop_due(nominal, nominal, ahead=None)["s"].schedule.run_count


def test_a_run_counted_while_the_window_was_cleared_stays_counted() -> None:
    window = counting_window()
    assert fire(window, T0, clear_meanwhile=True) == 0
    assert reread(window, T0 + SEC, T0 + SEC) == 1


def test_a_run_counted_on_a_copy_of_the_old_generation_stays_counted() -> None:
    window = counting_window()
    assert fire(window, T0) == 0
    # A generation later the held copy is old; the entry, unchanged, stays in place.
    later = T0 + GENERATION
    moved: list[DueKey] = [("s", 1, T0 + SEC)]
    assert window.missing(moved, later) == []
    window.refresh(moved)
    assert fire(window, T0 + SEC) == 1
    assert reread(window, T0 + 2 * SEC, later) == 2
