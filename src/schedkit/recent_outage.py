"""Whether this node found its store unavailable a moment ago, for answers that need not
wait for it: a read admitted on its token's outage grace (:mod:`schedkit.token_trust`),
a scrape served the last sample (``GET /metrics``).

A store that hangs (a firewall or a partition dropping its packets: nothing refuses)
fails a call only after the driver's timeouts (PostgreSQL's ``command_timeout``: 60 s).
Such answers wait for it a short while only; once one of them has found the store
unavailable, the following ones do not each wait again for :data:`DOWN_FOR` seconds,
unless the store answers meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds a finding holds unless the store answers meanwhile.
DOWN_FOR = 5.0


class RecentOutage:
    """The last finding that the store is unavailable, while it holds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = float("-inf")
        self._why = ""

    @property
    def why(self) -> str | None:
        """Why the store counts as unavailable now; None: ask it."""
        return self._why if self._clock() < self._until else None

    def found(self, why: str) -> None:
        """A call found the store unavailable (``why``: its error)."""
        self._until = self._clock() + DOWN_FOR
        self._why = why

    def answered(self) -> None:
        """The store answered a call."""
        self._until = float("-inf")
