"""Shared shape of the peers' test vectors ported to schedkit (test_vectors_*.py).

A :class:`Vector` is one expectation of a peer's own test suite: a schedule, a start and
the fires the peer's test expects. schedkit must give the same fires, except where the
peer's expectation is not Debian cron's: then ``debian`` holds what schedkit gives and
``why`` says why they differ. Each vector file also runs the peer itself on its vectors,
so that a transcription slip shows up as a failure rather than as a wrong expectation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.errors import ValidationError
from schedkit.triggers import build_trigger


@dataclass(frozen=True)
class Vector:
    """``expected``: the peer's fires as ISO strings in ``zone`` (naive ones for UTC when
    the peer used naive datetimes); ``after``: fires strictly after ``start`` (cronsim,
    croniter, APScheduler with a previous fire), else at or after it."""

    test: str
    spec: str | dict[str, Any]
    start: datetime
    expected: list[str]
    zone: str = "UTC"
    after: bool = True
    debian: list[str] | None = None
    why: str = ""
    peer: dict[str, Any] = field(default_factory=dict)

    @property
    def schedkit_expects(self) -> list[str]:
        return self.expected if self.debian is None else self.debian

    def id(self) -> str:
        return self.test


@dataclass(frozen=True)
class Rejected:
    """A schedule the peer's test expects to be refused; schedkit refuses it too unless
    ``accepted_because`` says why Debian cron accepts it."""

    test: str
    spec: str | dict[str, Any]
    accepted_because: str = ""


def schedkit_fires(vector: Vector) -> list[str]:
    spec = (
        {"trigger": "cron", "expression": vector.spec}
        if isinstance(vector.spec, str)
        else {
            "trigger": "cron",
            **vector.spec,
        }
    )
    trigger = build_trigger({**spec, "timezone": vector.zone})
    zone = ZoneInfo(vector.zone)
    naive = vector.start.tzinfo is None
    start = vector.start.replace(tzinfo=zone) if naive else vector.start
    out: list[str] = []
    previous = start if vector.after else None
    # An empty expectation means "no fire": ask once and expect None.
    for _ in vector.expected or [None]:
        fire = trigger.next_fire_time(previous, start)
        if fire is None:
            break
        local = fire.astimezone(zone)
        out.append((local.replace(tzinfo=None) if naive else local).isoformat())
        previous = fire
    return out


def rejects(spec: str | dict[str, Any]) -> bool:
    data = (
        {"trigger": "cron", "expression": spec}
        if isinstance(spec, str)
        else {
            "trigger": "cron",
            **spec,
        }
    )
    try:
        build_trigger({**data, "timezone": "UTC"})
    except ValidationError:
        return True
    return False


def params(vectors: Iterable[Vector | Rejected]) -> list[Any]:
    return [pytest.param(v, id=v.test) for v in vectors]
