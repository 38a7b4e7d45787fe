"""The calendar searches of the routes that list schedules (``/stats``' coming fires,
``/schedules``, ``/tasks``) are shared between callers, and the answer says when the
budget ended them. An audit: twelve viewers polling ``/stats?upcoming=100`` over ten
make-up-Saturday schedules kept the default thread pool busy (two searches of up to a
second per request), and the admin's ``/tasks`` and previews took 1.1-1.7 s instead of
0.05; ``/schedules?limit=500`` over such schedules did the same.

The schedules start in 2030 (``start_date``): none fires while a test runs, so what a
search depends on stays the same throughout."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedkit import TaskRegistry
from schedkit.triggers.upcoming import allowed_fire, upcoming
from tests.api.conftest import PREFIX, Api, open_api
from tests.api.tasks import echo
from tests.counting import calls_of
from tests.search_clocks import step_the_search_clock

#: Callers asking at once.
CALLERS = 12
#: Every day at 09:00 that the calendar ``desk`` allows, from 2030 on.
DESK_NINE: dict[str, Any] = {
    "trigger": "cron",
    "hour": 9,
    "start_date": "2030-01-07T00:00:00",
    "calendar": "desk",
}
#: Every second of every Saturday, which ``desk`` (Monday to Friday) never allows: a
#: search for its coming fires finds none (it ends after four years of them, or at its
#: budget when that is shorter: see ``slow_search``).
DESK_SATURDAYS: dict[str, Any] = {
    "trigger": "cron",
    "expression": "* * * * * 6",
    "start_date": "2030-01-07T00:00:00",
    "calendar": "desk",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    registry = TaskRegistry()
    registry.register_task(echo)  # no default schedule: only the test's are listed
    for served in open_api(f"sqlite:///{tmp_path / 'schedkit.db'}", registry=registry):
        saved = served.admin.put(
            "/calendars/desk", json={"base": "weekdays", "overrides": [], "expected_version": 0}
        )
        assert saved.status_code == 200, saved.text
        yield served


def store(api: Api, spec: dict[str, Any], count: int) -> list[str]:
    items = [
        {"id": f"desk-{n}", "task": "echo", "schedule": {**spec, "kwargs": {"count": n}}}
        for n in range(count)
    ]
    created = api.admin.post("/schedules", json=items)
    assert created.status_code == 201, created.text
    ids: list[str] = created.json()["ids"]
    return ids


def at_once(api: Api, path: str, params: dict[str, Any] | None = None) -> list[Any]:
    """``CALLERS`` viewers asking ``path`` at the same time, each on its own connection."""
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}

    def ask(_: int) -> Any:
        with httpx.Client(base_url=api.url + PREFIX, headers=headers, timeout=30) as client:
            response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(CALLERS) as pool:
        return list(pool.map(ask, range(CALLERS)))


def test_callers_asking_at_once_share_one_search_per_schedule(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = store(api, DESK_NINE, 5)
    searched = calls_of(monkeypatch, upcoming)
    looked_up = calls_of(monkeypatch, allowed_fire)

    stats = at_once(api, "/stats", {"upcoming": 10})
    assert len(searched) == len(ids), "one search per schedule, whatever the callers"
    first = stats[0]
    assert first["upcoming_complete"] is True
    assert len(first["upcoming"]) == 10
    assert {f["schedule_id"] for f in first["upcoming_by_task"][0]["fires"]} == set(ids)
    for other in stats[1:]:
        assert other["upcoming"] == first["upcoming"]
        assert other["upcoming_by_task"] == first["upcoming_by_task"]

    pages = at_once(api, "/schedules")
    tasks = at_once(api, "/tasks")
    assert len(looked_up) == len(ids), "the lists share each schedule's next fire too"
    monday = "2030-01-07T09:00:00+08:00"
    for page in pages:
        assert {s["next_fire_time_local"] for s in page["items"]} == {monday}
    for listed in tasks:
        [echo] = [t for t in listed if t["name"] == "echo"]
        assert echo["next_fire_time_local"] == monday


@pytest.fixture
def slow_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search's clock moves a second per reading: a search ends at its budget after
    a step or two, whatever the machine (it would end after four years without a fire,
    in a tenth of a second, before any budget)."""
    step_the_search_clock(monkeypatch)


@pytest.mark.usefixtures("slow_search")
def test_the_answer_says_when_the_budget_cut_the_search_short(api: Api) -> None:
    store(api, DESK_SATURDAYS, 3)
    stats = api.viewer.get("/stats", params={"upcoming": 100}).json()
    assert stats["upcoming"] == [] and stats["upcoming_by_task"] == []
    assert stats["upcoming_complete"] is False
    assert api.viewer.get("/stats", params={"upcoming": 0}).json()["upcoming_complete"] is True
    # Asked again: answered from what the first search found, and said as cut short.
    again = api.viewer.get("/stats", params={"upcoming": 100}).json()
    assert again["upcoming_complete"] is False
