"""A task removed from the code, over real HTTP: its schedules are paused and removed
without it, and its pending run says why no node takes it."""

from __future__ import annotations

import asyncio

from schedkit.models import Schedule
from schedkit.store import create_store
from tests.api.conftest import Api
from tests.api.helpers import problem
from tests.engine.taps import manual_run

GONE = "old_report"


def test_a_task_gone_from_the_code_is_unscheduled_and_its_run_says_why_it_waits(
    api: Api,
) -> None:
    run = manual_run(GONE)

    async def leave_behind() -> None:
        async with create_store(api.store_url) as store:
            await store.put_schedule(
                Schedule(
                    id=GONE,
                    task_name=GONE,
                    trigger={"trigger": "cron", "expression": "0 1 * * *", "timezone": "UTC"},
                ),
                expected_version=0,
            )
            await store.insert_runs([run])

    asyncio.run(leave_behind())
    reason = (
        f"task '{GONE}' is not registered on any live node (or is left out of their executor.tasks)"
    )
    assert api.viewer.get(f"/runs/{run.id}").json()["waiting"] == reason
    (listed,) = api.viewer.get("/runs", params={"task": GONE}).json()["items"]
    assert listed["waiting"] == reason

    paused = api.operator.post(f"/tasks/{GONE}/pause", json={"note": "code removed"})
    assert paused.status_code == 200, paused.text
    assert api.admin.delete(f"/tasks/{GONE}/schedule").status_code == 204
    assert api.viewer.get("/schedules", params={"task": GONE}).json()["items"] == []
    # Nothing left of it: an unknown task, as a typo is.
    assert "unknown task" in problem(api.admin.delete(f"/tasks/{GONE}/schedule"), 404)["detail"]
    assert api.operator.post(f"/runs/{run.id}/cancel").json()["status"] == "cancelled"
