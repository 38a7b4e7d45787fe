"""The throttle puts a new incident before reminders.

Pins the decision (:func:`next_step`, pure) and, end to end with a real HTTP receiver,
that a first alert submitted behind a round of reminders goes out at once, by itself,
while the reminders over their share of the window are folded into one summary.
"""

from __future__ import annotations

import dataclasses

import pytest

from schedkit.alerts.messages import Message
from schedkit.alerts.throttle import Throttle, next_step, reminder_reserve, slots_needed

from .conftest import Receiver
from .test_channels import message, sender


@pytest.mark.parametrize(
    ("first", "reminders", "free", "limit", "step"),
    [
        (0, 0, 20, 20, "wait"),
        (1, 0, 20, 20, "first"),
        (1, 5, 20, 20, "first"),  # the new incident before any reminder
        (1, 5, 1, 20, "first"),  # even on the window's last slot
        (3, 0, 0, 20, "wait"),
        (21, 0, 5, 20, "fold_first"),  # a storm larger than a window: one summary
        (20, 0, 1, 20, "first"),  # held back but fits: each goes out by itself
        (0, 1, 11, 20, "reminder"),
        (0, 1, 10, 20, "wait"),  # half the window is kept for first alerts
        (0, 7, 11, 20, "fold_reminders"),
        (0, 7, 0, 0, "reminder"),  # throttle off
        (2, 7, 0, 0, "first"),
        (0, 1, 1, 1, "reminder"),  # a limit of 1 keeps nothing back
    ],
)
def test_next_step(first: int, reminders: int, free: int, limit: int, step: str) -> None:
    assert next_step(first=first, reminders=reminders, free=free, limit=limit) == step


def test_reserve_and_slots_needed() -> None:
    assert [reminder_reserve(n) for n in (1, 2, 3, 20)] == [0, 1, 1, 10]
    assert slots_needed(first=2, limit=20) == 1
    assert slots_needed(first=0, limit=20) == 11


def test_throttle_free_at_counts_slots() -> None:
    t = Throttle(3, 10.0)
    for now in (0.0, 1.0, 2.0):
        assert t.allow(now)
    assert t.free(2.5) == 0
    assert t.free_at(2.5) == 10.0
    assert t.free_at(2.5, 2) == 11.0
    assert t.free(11.0) == 2


def _msg(title: str, *, reminder: bool) -> Message:
    return dataclasses.replace(message("en", "text"), title=title, reminder=reminder)


async def test_a_first_alert_is_not_held_behind_reminders(receiver: Receiver) -> None:
    s = sender([f"json://127.0.0.1:{receiver.port}/t"], throttle_per_minute=4, throttle_window=1.0)
    results: list[tuple[str, str]] = []
    s.on_result = lambda channel, msg, result: results.append((msg.title, result))
    await s.start()
    try:
        for i in range(5):
            s.submit("json", _msg(f"reminder {i}", reminder=True))
        s.submit("json", _msg("new failure", reminder=False))
        got = await receiver.wait("/t", 3, timeout=0.8)  # well inside the 1 s window
        assert [r.json()["title"] for r in got] == ["reminder 0", "reminder 1", "new failure"]
        requests = await receiver.wait("/t", 4, timeout=3)
    finally:
        await s.stop()
    summary = requests[3].json()
    assert summary["title"] == "[schedkit] 3 alert(s) held back by the throttle"
    assert all(f"reminder {i}" in summary["message"] for i in (2, 3, 4))
    assert ("new failure", "throttled") not in results
    assert [t for t, r in results if r == "throttled"] == [f"reminder {i}" for i in (2, 3, 4)]


async def test_a_held_first_alert_goes_out_by_itself_when_the_window_has_room(
    receiver: Receiver,
) -> None:
    s = sender([f"json://127.0.0.1:{receiver.port}/t"], throttle_per_minute=2, throttle_window=0.5)
    await s.start()
    try:
        for i in range(3):
            s.submit("json", _msg(f"failure {i}", reminder=False))
        requests = await receiver.wait("/t", 3, timeout=3)
    finally:
        await s.stop()
    # Two fit the window, the third waits for a slot and is sent whole (not a summary).
    assert [r.json()["title"] for r in requests] == ["failure 0", "failure 1", "failure 2"]
