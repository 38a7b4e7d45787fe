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


def _cron(expression: str) -> dict[str, Any]:
    return {"trigger": "cron", "expression": expression, "kwargs": {"count": 1}}


def test_an_edit_based_on_an_older_version_is_a_409(api: Api) -> None:
    """The version read with the schedule, sent back as ``expected_version``: a change
    saved by someone else after the read is a 409 rather than overwritten (the two
    requests need not overlap, as a console dialog left open shows)."""
    path = "/tasks/echo/schedule"
    made = api.admin.post(
        path, params={"schedule_id": "e1", "expected_version": 0}, json=_cron("0 9 * * *")
    )
    assert made.status_code == 200, made.text
    read = made.json()["schedule"]["version"]
    again = api.admin.post(
        path, params={"schedule_id": "e1", "expected_version": 0}, json=_cron("0 8 * * *")
    )
    assert again.status_code == 409, again.text
    # Not "changed concurrently": the schedule simply exists (a migration audit).
    assert again.json()["detail"] == (
        "schedule 'e1' exists already (version 1) and expected_version=0 asks to create it "
        "only if it does not: nothing was changed; leave expected_version out to replace it"
    )
    other = api.admin.post(path, params={"schedule_id": "e1"}, json=_cron("0 7 * * *"))
    assert other.status_code == 200, other.text
    late = api.admin.post(
        path, params={"schedule_id": "e1", "expected_version": read}, json=_cron("0 11 * * *")
    )
    assert late.status_code == 409, late.text
    assert late.json()["type"] == "urn:schedkit:problem:conflict"
    assert f"was expected at version {read}" in late.json()["detail"]
    kept = api.viewer.get("/schedules/e1").json()
    assert kept["trigger"]["expression"] == "0 7 * * *"
    current = kept["version"]
    fresh = api.admin.post(
        path, params={"schedule_id": "e1", "expected_version": current}, json=_cron("0 11 * * *")
    )
    assert fresh.status_code == 200 and fresh.json()["schedule"]["version"] == current + 1
