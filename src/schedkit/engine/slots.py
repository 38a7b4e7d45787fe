"""This node's capacity: how many runs execute here at once (``max_concurrent_runs``).

The one owner of slot accounting. A slot is taken by a run claimed from the store, or
reserved before a run is created already claimed by this node (a fire or a manual run
that starts here without a claim round trip); it is freed when the run's task returns
(its end is then written in a batch, which no longer needs a slot).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Slots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._reserved = 0
        self._executing = 0
        self._closed = False

    @property
    def free(self) -> int:
        if self._closed:
            return 0
        return max(0, self.capacity - self._executing - self._reserved)

    @property
    def to_wait_in(self) -> int | None:
        """Free slots that runs taken ahead of their time may wait in; None when this
        node executes nothing (runs it creates are stored pending, holding no slot
        here). A fifth of the capacity is kept for runs due meanwhile: without a slot
        those are stored pending, and start later, through a claim."""
        if not self.capacity:
            return None
        return self.free - self.capacity // 5

    @property
    def executing(self) -> int:
        return self._executing

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Take no more runs (shutdown)."""
        self._closed = True

    def open(self) -> None:
        """Take runs again (the node is started again)."""
        self._closed = False

    def reserve(self, wanted: int) -> Grant:
        """Reserve up to ``wanted`` slots; use the grant as a context manager so that
        what is not launched is given back whatever happens."""
        granted = min(wanted, self.free)
        self._reserved += granted
        return Grant(self, granted)

    def occupy(self, from_reserved: bool) -> None:
        """A run starts executing here (on a reserved slot, or on a free one)."""
        if from_reserved:
            self._reserved -= 1
        self._executing += 1

    def vacate(self) -> None:
        """A run's task has returned (or never started)."""
        self._executing -= 1

    def _unreserve(self, count: int) -> None:
        self._reserved -= count


class Grant:
    """Slots reserved for runs about to be created already claimed by this node."""

    def __init__(self, slots: Slots, count: int) -> None:
        self._slots = slots
        self.count = count
        self._promised = 0
        self._launched = 0

    def take(self) -> bool:
        """Promise one reserved slot to a run being built; False when none is left."""
        if self._promised >= self.count:
            return False
        self._promised += 1
        return True

    def launch(self) -> None:
        """A promised run was stored and starts now on its slot."""
        self._launched += 1
        self._slots.occupy(from_reserved=True)

    def close(self) -> None:
        """Give back every slot not launched (runs fenced out, or an error)."""
        self._slots._unreserve(self.count - self._launched)
        self.count = self._launched

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
