"""Searches for coming fires made to take their budget on any machine: the search's
clock moved a second per reading, or each calendar day it decides made to cost CPU (a
slow calendar). Without either, four years without a fire end a search for a schedule
that never fires in hundredths of a second, before any budget."""

from __future__ import annotations

import sys
import time
from datetime import date

import pytest

from schedkit.calendars.rules import CalendarRef
from schedkit.triggers.upcoming import OpenDays


class StepClock:
    """A ``time`` whose monotonic clock moves one second per reading: a search with a
    budget of ``b`` seconds examines about ``b`` nominal fires."""

    now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def step_the_search_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # The module: schedkit.triggers exports its function under the same name.
    monkeypatch.setattr(sys.modules["schedkit.triggers.upcoming"], "time", StepClock())


def slow_calendar_days(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.005) -> None:
    """Each day a search decides costs ``seconds`` of CPU (what a caller's preview
    allowance counts), in a search's own thread too."""
    allows = OpenDays.allows

    def slow(days: OpenDays, ref: CalendarRef, day: date) -> bool:
        busy_until = time.perf_counter() + seconds
        while time.perf_counter() < busy_until:
            pass
        return allows(days, ref, day)

    monkeypatch.setattr(OpenDays, "allows", slow)
