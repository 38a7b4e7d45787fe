"""Whether a loop of this node works: what readiness reports besides the store's ping,
what ``/health`` says, and what the node's heartbeat carries to the other nodes (as
:class:`~schedkit.failing.Failing`).

A node whose scheduler loop failed at every tick (a table its role may not write) went
on answering ``/ready`` 200, the store answering its ping; nothing fired for as long.
"""

from __future__ import annotations

from schedkit.clock import Clock
from schedkit.errors import StoreRefusedError, StoreUnavailableError, StoreUnwritableError
from schedkit.failing import Failing
from schedkit.limits import MAX_ERROR_MESSAGE_CHARS
from schedkit.redaction import redact


def failing_of(*loops: LoopHealth) -> list[Failing]:
    """The failures of ``loops``, in their order."""
    return [f for f in (loop.failing for loop in loops) if f is not None]


class LoopHealth:
    """The last outcome of a loop's passes (:meth:`ok` and :meth:`failed` from it)."""

    def __init__(self, loop: str, clock: Clock) -> None:
        self.loop = loop
        self.clock = clock
        self._failing: Failing | None = None
        self._outage = False

    @property
    def failing(self) -> Failing | None:
        """The loop's failure, unless it is an outage: the store's ping tells that one,
        while the loop, backing off, would keep a node whose store is back unready for
        up to its backoff's cap. A store refusing writes (a full disk) is no outage here:
        its ping, a read, passes, and the loops that write are all that can tell it."""
        return None if self._outage else self._failing

    def ok(self) -> None:
        self._failing = None
        self._outage = False

    def failed(self, exc: BaseException) -> None:
        previous = self._failing
        unwritable = isinstance(exc, StoreUnwritableError)
        self._outage = isinstance(exc, StoreUnavailableError) and not unwritable
        self._failing = Failing(
            loop=self.loop,
            since=previous.since if previous is not None else self.clock.now(),
            # Shown to other nodes' viewers too (the heartbeat stores it): no secret.
            error=redact(str(exc) or type(exc).__name__, limit=MAX_ERROR_MESSAGE_CHARS),
            refused=isinstance(exc, StoreRefusedError),
            unwritable=unwritable,
        )
