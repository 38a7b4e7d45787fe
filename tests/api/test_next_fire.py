"""A schedule's next fire, wherever the API shows it, is the next fire its business
calendar allows (the nominal one on an excluded day is recorded skipped, never run): the
schedule answer agrees with its own preview, and the schedule, task and listing reads
say the same.

The schedules start in 2030 (``start_date``), so their nominal next fire is a known
day whatever today is; the calendar is stored through the API, so the reads must use
the store's calendars, not only the built-in ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, open_api

#: Saturday 5 January 2030 at 06:00 in Asia/Shanghai (the configured zone): the nominal
#: next fire of SIX_DAILY; the plant calendar closes the 5th and the 6th.
SATURDAY_SIX = "2030-01-05T06:00:00+08:00"
MONDAY_SIX = "2030-01-07T06:00:00+08:00"
SIX_DAILY: dict[str, Any] = {
    "trigger": "cron",
    "hour": 6,
    "start_date": "2030-01-05T00:00:00",
    "calendar": "plant",
}
ECHO = {"kwargs": {"count": 1}}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("next_fire") / "schedkit.db"
    for served in open_api(f"sqlite:///{path}"):
        closed = [
            {"date": day, "open": False, "kind": "extra_closed", "note": "stock-taking"}
            for day in ("2030-01-05", "2030-01-06")
        ]
        saved = served.admin.put(
            "/calendars/plant",
            json={"base": "all", "overrides": closed, "expected_version": 0},
        )
        assert saved.status_code == 200, saved.text
        yield served


def schedule(api: Api, task: str, schedule_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    response = api.admin.post(f"/tasks/{task}/schedule?schedule_id={schedule_id}", json=spec)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_schedule_answer_agrees_with_its_preview(api: Api) -> None:
    body = schedule(api, "echo", "echo-six", {**SIX_DAILY, **ECHO})
    assert body["next_fire_times_local"][0] == MONDAY_SIX
    view = body["schedule"]
    assert view["next_fire_time_local"] == MONDAY_SIX
    assert view["next_fire_time"] == body["next_fire_times"][0] == "2030-01-06T22:00:00Z"
    assert view["next_fire_note"] is None
    # The same definition again keeps the stored nominal fire (Saturday's): still Monday.
    again = schedule(api, "echo", "echo-six", {**SIX_DAILY, **ECHO})
    assert again["schedule"]["next_fire_time_local"] == MONDAY_SIX


def test_every_read_of_the_schedule_says_the_allowed_fire(api: Api) -> None:
    schedule(api, "echo", "echo-six", {**SIX_DAILY, **ECHO})
    one = api.viewer.get("/schedules/echo-six").json()
    assert one["next_fire_time_local"] == MONDAY_SIX
    listed = api.viewer.get("/schedules?task=echo").json()["items"]
    assert {s["id"]: s["next_fire_time_local"] for s in listed}["echo-six"] == MONDAY_SIX
    detail = api.viewer.get("/tasks/echo").json()
    assert {s["id"]: s["next_fire_time_local"] for s in detail["schedules"]}["echo-six"] == (
        MONDAY_SIX
    )
    paused = api.operator.post("/tasks/echo/pause", json={"note": "test"}).json()
    assert {s["id"]: s["next_fire_time"] for s in paused["schedules"]}["echo-six"] is None
    resumed = api.operator.post("/tasks/echo/resume").json()
    fires = {s["id"]: s["next_fire_time_local"] for s in resumed["schedules"]}
    assert fires["echo-six"] == MONDAY_SIX


def test_a_task_next_fire_is_the_earliest_its_calendars_allow(api: Api) -> None:
    # The nominal next fires: Saturday 06:00 (closed by the calendar) and Sunday 07:00
    # (no calendar): the task next fires on Sunday, neither on Saturday nor on Monday.
    schedule(api, "slow", "slow-six", SIX_DAILY)
    schedule(api, "slow", "slow-seven", {"trigger": "cron", "hour": 7, "start_date": "2030-01-06"})
    for task in (
        api.viewer.get("/tasks/slow").json(),
        next(t for t in api.viewer.get("/tasks").json() if t["name"] == "slow"),
    ):
        assert task["next_fire_time_local"] == "2030-01-06T07:00:00+08:00"
        fires = {s["id"]: s["next_fire_time_local"] for s in task["schedules"]}
        assert fires == {"slow-seven": "2030-01-06T07:00:00+08:00", "slow-six": MONDAY_SIX}


def test_a_fire_the_calendar_never_allows_is_not_shown(api: Api) -> None:
    once = {"trigger": "date", "run_date": "2030-01-05T06:00:00", "calendar": "plant", **ECHO}
    body = schedule(api, "echo", "echo-once", once)
    assert body["next_fire_times"] == []
    view = body["schedule"]
    assert view["next_fire_time"] is None and view["ended"] is None
    assert view["next_fire_note"] == "calendar plant allows none of its remaining fires"
    zh = api.viewer.get("/schedules/echo-once?lang=zh").json()
    assert zh["next_fire_note"] == "日历 plant 不允许其余任何一次触发"


def test_a_schedule_whose_calendar_was_deleted_has_no_next_fire(api: Api) -> None:
    made = api.admin.put("/calendars/gone", json={"base": "all", "expected_version": 0})
    assert made.status_code == 200, made.text
    schedule(api, "echo", "echo-gone", {**SIX_DAILY, "calendar": "gone", **ECHO})
    deleted = api.admin.delete("/calendars/gone?expected_version=1")
    assert deleted.status_code == 204, deleted.text
    view = api.viewer.get("/schedules/echo-gone").json()
    assert view["next_fire_time"] is None and view["ended"] is None
    assert view["next_fire_note"] == (
        "calendar gone does not exist: every fire is recorded skipped until it is created"
    )
