"""The API's schedule-preview gate as a pure object: a caller's previews in turn, paid
for in CPU seconds of search (api/ratelimit.py), on an injected clock."""

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


def _gate(clock: Clock) -> PreviewGate:
    return PreviewGate(TokenBuckets(3.0, 3.0, clock=clock))  # 3 s in hand, 3 s a minute


async def test_a_caller_s_previews_are_searched_one_at_a_time() -> None:
    gate = _gate(Clock())
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


async def test_search_seconds_are_charged_and_refill() -> None:
    clock = Clock()
    gate = _gate(clock)
    async with gate.turn("token:viewer") as meter:
        meter.add(2.0)  # from the searching thread
        meter.add(1.5)  # a second search in the same turn: a never-firing one overdraws
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
        pass  # a turn without a search costs nothing
    async with gate.turn("token:viewer"):
        pass
    assert gate._turns == {}


async def test_the_preview_of_a_saved_change_is_charged_not_refused() -> None:
    """A re-audit: saving a schedule whose validating search overdrew the caller answered
    429 after the schedule was saved (its answer's preview was refused); a retry then met
    a 409. That preview is charged and never refused."""
    clock = Clock()
    gate = _gate(clock)
    async with gate.turn("token:admin") as meter:
        meter.add(4.0)  # the validating search overdraws
    async with gate.turn("token:admin", refuse=False) as meter:
        meter.add(0.5)  # the saved schedule's preview
    with pytest.raises(ApiProblem):
        async with gate.turn("token:admin"):
            pytest.fail("still overdrawn")
