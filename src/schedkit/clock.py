"""Where "now" comes from. Tests inject a clock to move time without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """The system clock shifted by an adjustable offset (for tests of time travel)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class StoreClock:
    """A node's clock set to its store's: ``base`` (the system clock) plus the offset
    :class:`schedkit.service.clock_sync.ClockSync` measured against the store server.

    Nodes compare times other nodes wrote (heartbeats, lease expiries), so they must
    agree on "now"; one reference, the store server's clock, makes them agree however
    far their own clocks drift. The offset is only followed beyond a second (see
    ClockSync): a cluster with synchronised clocks runs on its own clocks.
    """

    def __init__(self, base: Clock | None = None) -> None:
        self.base: Clock = base or SystemClock()
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return self.base.now() + self.offset
