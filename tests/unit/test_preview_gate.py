"""The API's schedule-preview gate as a pure object: a caller's previews in turn, paid
for in seconds of search (api/ratelimit.py), on an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from schedkit.api.problems import ApiProblem
from schedkit.api.ratelimit import PreviewGate, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _gate(clock: Clock, per_minute: float = 3.0) -> PreviewGate:
    return PreviewGate(TokenBuckets(per_minute, 3, clock=clock), clock=clock)


async def test_a_caller_s_previews_are_searched_one_at_a_time() -> None:
    clock = Clock()
    gate = _gate(clock)
    inside: list[str] = []
    peak = 0

    async def preview(name: str) -> None:
        nonlocal peak
        async with gate.turn("token:viewer"):
            inside.append(name)
            peak = max(peak, len(inside))
            await asyncio.sleep(0.01)
            inside.remove(name)

    async def other() -> None:
        async with gate.turn("token:ops"):
            assert inside, "another caller's preview does not wait for this one"

    await asyncio.gather(preview("a"), preview("b"), preview("c"), other())
    assert peak == 1
    assert gate._turns == {}  # nobody waits: no lock kept per caller


async def test_search_time_is_charged_and_refills() -> None:
    clock = Clock()
    gate = _gate(clock)  # 3 s in hand, 3 s more per minute
    async with gate.turn("token:viewer"):
        clock.now += 3.5  # a never-firing schedule overdraws
    with pytest.raises(ApiProblem) as refused:
        async with gate.turn("token:viewer"):
            pytest.fail("a caller with its seconds spent searches no more")
    assert refused.value.status == 429
    # Overdrawn by 0.5 s at 0.05 s per second: 10 s to be back in credit.
    assert refused.value.headers == {"Retry-After": "11"}
    async with gate.turn("token:other"):
        pass
    clock.now += 11
    async with gate.turn("token:viewer"):
        pass
    assert gate._turns == {}
