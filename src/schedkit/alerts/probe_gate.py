"""How often a node sends test messages: one at a time per channel, some seconds apart.

A test goes out at once, past the channel's throttle and ``kinds``
(:mod:`schedkit.alerts.probe`). Unlimited, an operator's token paged people and spent
SMS at will (an audit: 40 tests in 0.9 s, 40 messages delivered). So a node lets a
channel take a test only once its previous one has ended (the thread that sent it
returned, not merely the wait for it given up) and ``alerts.delivery.test_interval``
seconds have passed since. The limit is the channel's, not the caller's: it is people's
phones and the SMS bill it protects, which more tokens must not multiply. A request
naming a channel that cannot take a test now is refused whole, nothing sent, saying when
to come back. Each node keeps its own: behind a load balancer each allows the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from schedkit.errors import TooManyRequestsError

__all__ = ["ProbeGate"]


class ProbeGate:
    """The channels sending a test now, and when each one's last test ended.

    ``release`` is called from the thread that sent the test: the state is locked."""

    def __init__(
        self, interval: float, longest: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        #: Seconds a test is waited for: when one under way is expected to be over.
        self.longest = longest
        self.clock = clock
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._ended: dict[str, float] = {}

    def claim(self, names: Sequence[str]) -> None:
        """Mark ``names`` as sending a test, all or none. TooManyRequestsError naming the
        channels that cannot take one now, with the seconds until all of them can."""
        with self._lock:
            now = self.clock()
            waits = {name: self._wait(name, now) for name in names}
            refused = [name for name, wait in waits.items() if wait > 0]
            if refused:
                raise TooManyRequestsError(
                    _refusal(refused, self.interval), retry_after=max(waits.values())
                )
            for name in names:
                self._started[name] = now

    def release(self, name: str) -> None:
        """The test of ``name`` has ended (sent, failed, or never started)."""
        with self._lock:
            self._started.pop(name, None)
            self._ended[name] = self.clock()

    def _wait(self, name: str, now: float) -> float:
        started = self._started.get(name)
        if started is not None:
            # Under way: refused however long ago it started. A send can outlive its
            # wait (its thread blocks until its socket times out): the retry this says
            # then comes early and is refused again.
            return max(started + self.longest + self.interval - now, 1.0)
        ended = self._ended.get(name)
        return 0.0 if ended is None else ended + self.interval - now


def _refusal(names: Sequence[str], interval: float) -> str:
    quoted = ", ".join(repr(name) for name in names)
    said = f"channel {quoted} takes" if len(names) == 1 else f"channels {quoted} take"
    return f"{said} one test alert at a time, {interval:g} s apart (alerts.delivery.test_interval)"
