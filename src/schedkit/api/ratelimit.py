"""How much one caller may ask of a node through the API: token buckets per caller.

Runs: each caller (an API token, or a host app's user) has ``api.run_burst`` runs in
hand, refilled at ``api.run_rate`` per minute; a run creation without one is a 429 with
``Retry-After``. Schedule previews: a caller's previews are searched one at a time, and
their search time is drawn from ``api.preview_seconds`` per minute (a schedule that never
fires costs its whole search budget, a second of CPU, where a common one costs
microseconds); a preview with the caller's seconds spent is a 429. The buckets live in
this process's memory: with several nodes behind a load balancer, each node allows the
rate.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from schedkit.api.auth import Principal, current_principal
from schedkit.api.deps import get_scheduler
from schedkit.api.problems import too_many

__all__ = ["PreviewGate", "PreviewTurnDep", "RunRateDep", "SearchMeter", "TokenBuckets"]

#: Buckets kept before full ones (callers idle long enough) are forgotten.
MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """``take(key)``: None when the caller may go on, else the seconds until it may."""

    def __init__(
        self, per_minute: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        bucket = self._refilled(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def owing(self, key: str) -> float | None:
        """None while the caller has anything in hand, else the seconds until it has."""
        bucket = self._refilled(key)
        return None if bucket.tokens > 0.0 else (1e-3 - bucket.tokens) / self.rate

    def charge(self, key: str, amount: float) -> None:
        """Spend ``amount`` after the fact: a cost known only once paid may overdraw."""
        self._refilled(key).tokens -= amount

    def _refilled(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), at=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at) * self.rate >= self.burst:
                del self._buckets[key]


_STATE_KEY = "schedkit_run_buckets"


def _buckets(request: Request) -> TokenBuckets:
    """The app's buckets, made from its scheduler's ``api`` settings on first use."""
    state: Any = request.app.state
    buckets = getattr(state, _STATE_KEY, None)
    if buckets is None:
        api = get_scheduler(request).config.api
        buckets = TokenBuckets(api.run_rate, api.run_burst)
        setattr(state, _STATE_KEY, buckets)
    return buckets


async def limit_run_creation(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> None:
    """A dependency of the routes that create runs: 429 when the caller is over its rate."""
    wait = _buckets(request).take(f"{principal.kind}:{principal.name}")
    if wait is not None:
        raise too_many(
            f"{principal.name!r} creates runs faster than allowed (api.run_rate per minute, "
            "api.run_burst at once)",
            wait,
        )


RunRateDep = Annotated[None, Depends(limit_run_creation)]


class SearchMeter:
    """The CPU seconds of the searches one turn ran; ``add`` is called from the worker
    thread that searched, and the turn charges the total on the event loop."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass(slots=True)
class PreviewGate:
    """Callers' schedule previews: each caller's searched one at a time (a console form
    sends one per change: they wait their turn rather than fail), paid for in CPU
    seconds of search (not the store reads around it)."""

    seconds: TokenBuckets
    #: Per caller: its lock, and how many requests hold or wait for it.
    _turns: dict[str, tuple[asyncio.Lock, list[int]]] = field(default_factory=dict)

    @classmethod
    def per_minute(cls, seconds: float) -> PreviewGate:
        return cls(TokenBuckets(seconds, seconds))

    @asynccontextmanager
    async def turn(self, caller: str, *, refuse: bool = True) -> AsyncIterator[SearchMeter]:
        """Raises a 429 when ``caller`` has spent its seconds (unless not to ``refuse``:
        the preview answering a change already saved); else searches in turn, charged
        what the meter it yields adds up."""
        lock, users = self._turns.setdefault(caller, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                wait = self.seconds.owing(caller) if refuse else None
                if wait is not None:
                    raise too_many(
                        f"{caller.partition(':')[2]!r} used its schedule-preview search time "
                        "(api.preview_seconds per minute)",
                        wait,
                    )
                meter = SearchMeter()
                try:
                    yield meter
                finally:
                    self.seconds.charge(caller, meter.seconds)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._turns[caller]


_GATE_KEY = "schedkit_preview_gate"


async def preview_turns(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Callable[..., AbstractAsyncContextManager[SearchMeter]]:
    """A dependency of the routes that search for fire times: a turn of the caller's
    (``async with turn() as meter:``; ``turn(refuse=False)`` after a change is saved) to
    hold around each search, passing ``meter.add`` as the search's ``spent``."""
    state: Any = request.app.state
    gate = getattr(state, _GATE_KEY, None)
    if gate is None:
        gate = PreviewGate.per_minute(get_scheduler(request).config.api.preview_seconds)
        setattr(state, _GATE_KEY, gate)
    caller = f"{principal.kind}:{principal.name}"
    return functools.partial(gate.turn, caller)


PreviewTurnDep = Annotated[
    Callable[..., AbstractAsyncContextManager[SearchMeter]], Depends(preview_turns)
]
