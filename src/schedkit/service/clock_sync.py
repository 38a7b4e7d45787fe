"""A node's clock against its store server's: measured at every heartbeat, reported
with the node, and followed (through :class:`schedkit.clock.StoreClock`) once the two
differ by more than a second.

Other nodes judge this node by the times it writes: a heartbeat written by a clock 20 s
behind looks 20 s old, so its runs were judged lost and run again elsewhere while it
still ran them, and a lease written by a clock ahead outlived its holder by as much.
The store server is the one clock every node talks to, so its time is the reference.
The measure is NTP's: the server's time against the midpoint of the round trip, within
half of it; a sample whose round trip took longer than a second is not used.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from schedkit.clock import STEP, Clock, StoreClock
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

#: A node follows the store's clock once they differ by more than this ...
FOLLOW_ABOVE = 1.0
#: ... and goes back to its own once they differ by less than this (NTP stepped it).
RETURN_BELOW = 0.5
#: While following, a new measure moves the offset only if it differs by more than this
#: from the one in use: each step is a jump of this node's time.
STEP_ABOVE = 0.25
#: Samples whose round trip took longer say too little (the error is half of it).
MAX_ROUND_TRIP = 1.0


def follows(offset: float, following: bool) -> bool:
    """Whether a node whose clock is ``offset`` seconds behind the store's (negative:
    ahead) should use the store's time, given whether it does now."""
    return abs(offset) > (RETURN_BELOW if following else FOLLOW_ABOVE)


class ClockSync:
    """Measures the offset of this node's clock to the store's and sets ``clock``'s
    (when it is a StoreClock: an injected test clock is left alone)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        #: The last measured offset, seconds (store time minus this node's); None until
        #: measured, or when the store has no clock of its own (SQLite).
        self.measured: float | None = None

    @property
    def following(self) -> bool:
        return isinstance(self.clock, StoreClock) and bool(self.clock.offset)

    async def measure(self) -> None:
        own = self.clock.base if isinstance(self.clock, StoreClock) else self.clock
        sent, started = own.now(), time.monotonic()
        server = await self.store.server_time()
        round_trip = time.monotonic() - started
        if server is None or round_trip > MAX_ROUND_TRIP:
            return
        midpoint = sent + timedelta(seconds=round_trip / 2)
        offset = (server.astimezone(UTC) - midpoint).total_seconds()
        self.measured = offset
        if isinstance(self.clock, StoreClock):
            self._stepped(self.clock, sent)
            self._follow(self.clock, offset)
            self.clock.anchor = (own.now().timestamp(), self.clock.monotonic())

    def _stepped(self, clock: StoreClock, sent: datetime) -> None:
        if clock.anchor is None:
            return
        course = clock.course()
        step = (sent - course).total_seconds()
        if abs(step) > STEP:
            logger.warning(
                "this node's clock was stepped %+.1f s since the last measure: schedkit "
                "kept its time meanwhile, and now follows the store server's",
                step,
            )

    def _follow(self, clock: StoreClock, offset: float) -> None:
        following = self.following
        if not follows(offset, following):
            if following:
                clock.offset = timedelta(0)
                logger.info("node clock within %.1f s of the store's again: using it", offset)
            return
        current = clock.offset.total_seconds()
        if following and abs(offset - current) <= STEP_ABOVE:
            return
        clock.offset = timedelta(seconds=offset)
        side = "behind" if offset > 0 else "ahead of"
        logger.warning(
            "this node's clock is %.1f s %s the store server's: schedkit uses the store's "
            "time (nodes judge each other by the times they write); fix the clock (NTP)",
            abs(offset),
            side,
        )

    def report(self) -> dict[str, object]:
        """What the node row shows: the measured offset, and whether it is followed."""
        if self.measured is None:
            return {}
        return {"clock_offset": round(self.measured, 3), "store_time": self.following}
