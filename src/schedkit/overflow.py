"""What a bounded in-memory buffer does when it is full: count what it drops, and warn
once when it starts dropping (again once it has drained and overflows anew).

Buffers that fill while the store is unreachable (run log lines waiting to be written,
listener calls waiting to finish) are bounded so that a long outage cannot exhaust the
node's memory; the counts are exposed as the ``schedkit_buffer_dropped`` metric.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class Overflow:
    def __init__(self, what: str, bound: int) -> None:
        #: What is dropped, for messages and the metric's label (``run_log_lines``).
        self.what = what
        self.bound = bound
        self.dropped = 0
        self._warned = False
        self._lock = threading.Lock()  # log lines are added from any thread

    def drop(self, count: int = 1) -> None:
        with self._lock:
            self.dropped += count
            first = not self._warned
            self._warned = True
        if first:
            logger.warning(
                "%s: buffer full at %d; dropping until it drains (dropped so far: %d)",
                self.what,
                self.bound,
                self.dropped,
            )

    def drained(self) -> None:
        """The buffer is below its bound again: the next overflow warns again."""
        if self._warned:
            with self._lock:
                self._warned = False
            logger.info("%s: buffering again (%d dropped in all)", self.what, self.dropped)
