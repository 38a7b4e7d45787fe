"""Fires coalesced after a node was down are one log line per schedule and tick (an
audit: 2,000 schedules down 70 s logged 4,058 lines "fire of sN at ... skipped:
coalesced into ...", while missed fires were already grouped)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from schedkit import OffsetClock, RunStatus, task

from .conftest import MakeScheduler


async def test_fires_coalesced_while_down_are_one_line_per_schedule(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    @task(
        "relaxed",
        category="test",
        schedule={"trigger": "cron", "minute": "*", "misfire_grace_time": None, "coalesce": True},
    )
    async def relaxed() -> None:
        return None

    clock = OffsetClock()
    first = await make_scheduler(relaxed, clock=clock)
    await first.stop()
    clock.advance(timedelta(minutes=30))
    caplog.set_level(logging.INFO, logger="schedkit.engine.scheduler")
    second = await make_scheduler(relaxed, clock=clock)

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]

    def counted(said: list[str]) -> int:
        return sum(int(m.split()[0]) if m[0].isdigit() else 1 for m in said)

    for _ in range(200):
        skipped = await second.count_runs("relaxed", status=RunStatus.SKIPPED)
        if skipped >= 29 and counted(lines()) == skipped:
            break
        await asyncio.sleep(0.05)
    assert skipped >= 29
    said = lines()
    assert 1 <= len(said) <= 3, said  # one per tick that recorded some
    assert counted(said) == skipped, said
    assert any(m.split(" ", 1)[1].startswith("fires of relaxed skipped, from") for m in said)
    assert "coalesced into" in said[0], said
