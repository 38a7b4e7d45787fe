"""What a queued run waits for once the run it waited for ended (``_common.waits_next``,
applied by every store in the step that ends that run)."""

from __future__ import annotations

from schedkit.store._common import waits_next


def test_released_when_no_other_run_is_active() -> None:
    assert waits_next([("q", "s")], {"s": 1}, {}) == {"q": None}


def test_queued_behind_the_newest_other_run_at_the_limit() -> None:
    assert waits_next([("q", "s")], {"s": 1}, {"s": ["older", "newer"]}) == {"q": "newer"}
    assert waits_next([("q", "s")], {"s": 2}, {"s": ["a", "b"]}) == {"q": "b"}


def test_released_below_the_limit() -> None:
    assert waits_next([("q", "s")], {"s": 2}, {"s": ["a"]}) == {"q": None}


def test_a_schedule_without_a_limit_releases() -> None:
    """Gone, ``allow``, a backfill's key space, a manual run: nothing to keep."""
    active = {"s": ["a", "b"], "s:backfill": ["c"]}
    waiting = [("q", "s"), ("r", "s:backfill"), ("m", None)]
    assert waits_next(waiting, {}, active) == {"q": None, "r": None, "m": None}


def test_runs_released_together_count_for_each_other() -> None:
    waiting = [("q1", "s"), ("q2", "s"), ("q3", "t")]
    assert waits_next(waiting, {"s": 1, "t": 1}, {}) == {"q1": None, "q2": "q1", "q3": None}


def test_the_run_itself_is_not_counted() -> None:
    assert waits_next([("q", "s")], {"s": 1}, {"s": ["q"]}) == {"q": None}
