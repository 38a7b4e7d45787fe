"""A channel's throttle and the pure decision of what it sends next.

A reminder says again what the on-call already knows; a first alert (a new incident, a
recovery) is news. A strictly first-in-first-out queue let a round of reminders spend the
channel's budget and held a new failure back for a minute, then sent it only as a title
line of a summary. So each channel keeps two lines, and :func:`next_step` decides:

* first alerts go before any reminder, one by one, as soon as the window has a slot;
* reminders use only the slots of the window left above :func:`reminder_reserve` (kept
  for first alerts), and reminders held back are folded into one summary;
* only a storm of first alerts larger than a whole window's budget is folded into a
  summary (sending each would page for minutes after the fact).
"""

from __future__ import annotations

from collections import deque
from typing import Literal

#: What a channel's worker does next.
Step = Literal["first", "reminder", "fold_first", "fold_reminders", "wait"]


class Throttle:
    """At most ``limit`` messages per ``window`` seconds (sliding window)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()

    def allow(self, now: float) -> bool:
        """Take a slot if one is free."""
        if self.limit <= 0:
            return True
        self._expire(now)
        if len(self._sent) >= self.limit:
            return False
        self._sent.append(now)
        return True

    def free(self, now: float) -> int:
        """Slots free now (``limit`` when the throttle is off)."""
        if self.limit <= 0:
            return 0
        self._expire(now)
        return self.limit - len(self._sent)

    def free_at(self, now: float, slots: int = 1) -> float:
        """When ``slots`` slots are free (``now`` if they are)."""
        if self.limit <= 0:
            return now
        self._expire(now)
        expire = len(self._sent) - (self.limit - slots)
        if expire <= 0:
            return now
        return self._sent[expire - 1] + self.window


def reminder_reserve(limit: int) -> int:
    """Slots of each window reminders may not use: half, kept for first alerts."""
    return limit // 2


def next_step(*, first: int, reminders: int, free: int, limit: int) -> Step:
    """What to send next, given the messages waiting (first alerts, reminders), the
    slots ``free`` in the window and its ``limit`` (0 = throttle off)."""
    if limit <= 0:
        return "first" if first else "reminder" if reminders else "wait"
    if first:
        if free <= 0:
            return "wait"
        return "fold_first" if first > limit else "first"
    if not reminders or free <= reminder_reserve(limit):
        return "wait"
    return "reminder" if reminders == 1 else "fold_reminders"


def slots_needed(*, first: int, limit: int) -> int:
    """Free slots the waiting messages need before :func:`next_step` sends one."""
    return 1 if first else reminder_reserve(limit) + 1
