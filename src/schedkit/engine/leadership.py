"""The scheduler lease: only its holder fires schedules (invariant 2).

The holder renews every third of the TTL and counts itself leader only until ``margin``
seconds before its lease could expire, so a holder whose renewals fail stops firing
before anyone else can take over. Standbys try to take the lease every refresh interval.
Renewal runs in a task of its own (:meth:`Leadership.run`), so that a tick waiting on a
slow write never delays it; the writes of a tick carry the lease term
(:meth:`Leadership.fence`), so a holder that lost the lease meanwhile writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from schedkit.clock import Clock
from schedkit.engine.health import LoopHealth
from schedkit.engine.retries import Backoff
from schedkit.errors import StoreError, StoreFileReplacedError
from schedkit.models import Lease
from schedkit.stopping import stop_write
from schedkit.store.base import Store
from schedkit.store.values import LeaseFence

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


class Leadership:
    def __init__(
        self, *, store: Store, clock: Clock, node_id: str, ttl: float, retry_interval: float
    ) -> None:
        self.store = store
        self.clock = clock
        self.node_id = node_id
        self.ttl = ttl
        self.retry_interval = retry_interval
        self.margin = min(2.0, ttl / 4)
        self.lease: Lease | None = None
        #: When :meth:`keep` next talks to the store.
        self.due_at = _LONG_AGO
        #: When the store last failed this node's lease calls (None: not since start);
        #: the reaper holds its verdicts for a while after (see Reaper.reap).
        self.failed_at: datetime | None = None
        self.health = LoopHealth("scheduler lease", clock)

    @property
    def is_leader(self) -> bool:
        """True while this node holds a lease that cannot have expired yet."""
        return self.clock.now() < self.steps_down_at

    @property
    def steps_down_at(self) -> datetime:
        """When this node stops counting itself leader unless the lease is renewed."""
        lease = self.lease
        if lease is None:
            return _LONG_AGO
        return lease.expires_at - timedelta(seconds=self.margin)

    async def run(self, on_gain: Callable[[], None]) -> None:
        """Keep the lease, or try to take it, each time it is due, until cancelled;
        ``on_gain`` is called when this node becomes the holder of a new term. Store
        errors are retried within a third of the TTL (a renewal must not wait longer)."""
        backoff = Backoff(cap=self.ttl / 3)
        while True:
            try:
                gained = await self.keep()
                self.health.ok()
            except StoreError as exc:
                self.health.failed(exc)
                self.failed_at = self.clock.now()
                if isinstance(exc, StoreFileReplacedError):
                    # Its writes go to a file no other node sees: counted leader until
                    # the lease's end, it would fire beside the holder of the new file.
                    self.step_down()
                await backoff.wait(f"scheduler lease: store error: {exc}", error=exc)
                continue
            except Exception as exc:  # a bug must not end the node's part in leadership
                self.health.failed(exc)
                logger.exception("scheduler lease: unexpected error; trying again in 1 s")
                await asyncio.sleep(1)
                continue
            backoff.reset()
            if gained:
                on_gain()
            wait = (self.due_at - self.clock.now()).total_seconds()
            await asyncio.sleep(max(0.0, wait))

    async def keep(self) -> bool:
        """Renew the lease (or try to take it) when due; True when this call made this
        node the holder of a new term (the caller then reads its window afresh)."""
        now = self.clock.now()
        if now < self.due_at:
            return False
        held = self.lease
        lease: Lease | None = None
        if held is not None:
            lease = await self.store.renew_lease(LEASE_NAME, self.node_id, held.term, self.ttl, now)
            if lease is None:
                logger.warning(
                    "node %s lost the scheduler lease (term %d)", self.node_id, held.term
                )
                self.lease = None
        if lease is None:
            lease = await self.store.acquire_lease(LEASE_NAME, self.node_id, self.ttl, now)
        gained = lease is not None and (held is None or held.term != lease.term)
        if gained and lease is not None:
            logger.info("node %s holds the scheduler lease (term %d)", self.node_id, lease.term)
        self.lease = lease
        wait = self.ttl / 3 if lease is not None else min(self.retry_interval, self.ttl / 3)
        self.due_at = now + timedelta(seconds=wait)
        return gained

    def fence(self) -> LeaseFence | None:
        """The condition a leader's writes carry: the lease still held at this term."""
        lease = self.lease
        if lease is None:
            return None
        return LeaseFence(name=lease.name, holder=lease.holder, term=lease.term)

    def step_down(self) -> None:
        """Stop acting as leader at once (the lease may still be held in the store)."""
        self.lease = None

    async def release(self) -> None:
        """Give the lease up so that a standby takes over without waiting for its TTL."""
        if self.lease is not None:
            with contextlib.suppress(StoreError):
                # Past its TTL the lease has expired anyway: a later release changes nothing.
                await stop_write(
                    "the scheduler lease's release",
                    functools.partial(self.store.release_lease, LEASE_NAME, self.node_id),
                    within=self.ttl,
                )
            self.lease = None
        # Started again, the node asks for the lease at once, not a renewal period later.
        self.due_at = _LONG_AGO
