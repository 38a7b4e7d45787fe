"""How fast one caller may create runs through the API: a token bucket per caller.

Each caller (an API token, or a host app's user) has ``api.run_burst`` runs in hand,
refilled at ``api.run_rate`` per minute; a run creation without one is a 429 with
``Retry-After``. The buckets live in this process's memory: with several nodes behind a
load balancer, each node allows the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from schedkit.api.auth import Principal, current_principal
from schedkit.api.deps import get_scheduler
from schedkit.api.problems import ApiProblem

__all__ = ["RunRateDep", "TokenBuckets"]

#: Buckets kept before full ones (callers idle long enough) are forgotten.
MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """``take(key)``: None when the caller may go on, else the seconds until it may."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), at=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

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


def limit_run_creation(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> None:
    """A dependency of the routes that create runs: 429 when the caller is over its rate."""
    wait = _buckets(request).take(f"{principal.kind}:{principal.name}")
    if wait is not None:
        raise ApiProblem(
            429,
            f"{principal.name!r} creates runs faster than allowed (api.run_rate per minute, "
            f"api.run_burst at once); retry in {math.ceil(wait)} s",
            slug="too-many-requests",
            title="Too many requests",
            headers={"Retry-After": str(math.ceil(wait))},
        )


RunRateDep = Annotated[None, Depends(limit_run_creation)]
