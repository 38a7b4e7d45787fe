"""Where "now" comes from (tests inject a clock to move time without sleeping), and how
a moment is written in a zone."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

#: Seconds the system clock may differ from its course since the last measure (by the
#: monotonic clock) before it counts as stepped: see StoreClock.now.
STEP = 1.0


class Clock(Protocol):
    """Where a scheduler reads "now": anything with a ``now()`` returning an aware UTC
    datetime (``Scheduler(clock=...)``; tests pass one to move time without sleeping)."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """This machine's clock, as it is: a node's with ``scheduler.clock = "local"``, and
    the base of the :class:`StoreClock` that ``"store"`` (the default) gives it."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
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

    def __init__(
        self, base: Clock | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.base: Clock = base or SystemClock()
        self.offset = timedelta(0)
        self.monotonic = monotonic
        #: The system clock's time (POSIX seconds) and the monotonic clock's at the last
        #: measure.
        self.anchor: tuple[float, float] | None = None

    def now(self) -> datetime:
        return self.course() + self.offset

    def course(self) -> datetime:
        """The system clock, or, when it was stepped by more than :data:`STEP` since the
        last measure, where it would be without the step: until the next measure (a
        heartbeat) finds the new offset, the node keeps its time (an audit: a leader's
        clock stepped 90 s forward recorded 90 fires at once, ran one 89 s early and
        judged a live node's run lost, all before its next measure)."""
        base = self.base.now()
        if self.anchor is None:
            return base
        wall, mono = self.anchor
        # Float seconds: this runs for every "now" of the fire path.
        drift = base.timestamp() - wall - (self.monotonic() - mono)
        return base if -STEP <= drift <= STEP else base - timedelta(seconds=drift)


def zoned(moment: datetime, tz: tzinfo) -> str:
    """``2026-12-07 11:38:27 +08:00`` (``… UTC`` in UTC): a time in words read next to
    times in the configured zone, where a UTC one read as a wrong local one, says its
    offset."""
    local = moment.astimezone(tz)
    if not local.utcoffset():
        return local.strftime("%Y-%m-%d %H:%M:%S UTC")
    z = local.strftime("%z")  # +0800; %:z needs Python 3.12
    return f"{local:%Y-%m-%d %H:%M:%S} {z[:3]}:{z[3:]}"
