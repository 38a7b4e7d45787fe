"""Two operators changing one schedule at once (issue #16): the schedule is written
compare-and-set, so one change wins and the other is answered 409, never lost unseen."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, open_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(f"sqlite:///{tmp_path / 'schedkit.db'}")


def test_concurrent_schedule_writes_one_wins_the_other_gets_409(api: Api) -> None:
    scheduler: Any = api.server.server.config.app.state.scheduler
    store = scheduler.store
    original = store.get_schedule
    # The first two reads (one per request) wait for each other: both requests read
    # the schedule before either writes it.
    barrier = asyncio.Barrier(2)
    paired = threading.Lock()
    calls = [0]

    async def read_together(schedule_id: str) -> Any:
        found = await original(schedule_id)
        with paired:
            calls[0] += 1
            first_two = calls[0] <= 2
        if first_two:
            await asyncio.wait_for(barrier.wait(), 10)
        return found

    store.get_schedule = read_together
    bodies = [{"trigger": "interval", "minutes": minutes, "max_instances": 1} for minutes in (5, 7)]
    with ThreadPoolExecutor(2) as pool:
        responses = list(
            pool.map(lambda body: api.admin.post("/tasks/cleanup/schedule", json=body), bodies)
        )
    store.get_schedule = original
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert "re-read" in loser.json()["detail"]
    winner = next(r for r in responses if r.status_code == 200).json()["schedule"]
    stored = api.viewer.get("/schedules/cleanup").json()
    assert stored["trigger"] == winner["trigger"]
    assert stored["version"] == winner["version"]
