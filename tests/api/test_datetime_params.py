"""A declared date-time parameter given without an offset, over real HTTP: it is a wall
time in the configured zone (Asia/Shanghai here), stored with its offset, and the task
receives an aware datetime (a naive one was 8 hours off on a UTC machine and raised
TypeError when compared with an aware one)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from schedkit import TaskRegistry, task
from tests.api.conftest import Api, open_api
from tests.api.helpers import problem, wait_run

SHANGHAI = timezone(timedelta(hours=8))
TEN_IN_SHANGHAI = datetime(2026, 12, 6, 10, 0, tzinfo=SHANGHAI)


@task("when_task", retry={"max_retries": 0})
def when_task(when: datetime, also: list[datetime] | None = None) -> dict[str, Any]:
    offset = when.utcoffset()
    return {
        "success": True,
        "data": {
            "offset": None if offset is None else offset.total_seconds(),
            # False for a naive value (and ordering it against an aware one raises).
            "is_ten_in_shanghai": when == TEN_IN_SHANGHAI,
            "also_aware": [a.utcoffset() is not None for a in also or []],
        },
    }


@task("free_form", retry={"max_retries": 0})
def free_form(**kwargs: Any) -> dict[str, Any]:
    return {"success": True, "data": kwargs}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    registry = TaskRegistry()
    for t in (when_task, free_form):
        registry.register_task(t)
    path: Path = tmp_path_factory.mktemp("api-datetime") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", registry=registry)


def _execute(api: Api, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    answer = api.operator.post(
        f"/tasks/{name}/execute", params={"wait": "true", "timeout": 10}, json={"kwargs": kwargs}
    )
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()["run"]
    return run


def test_a_naive_when_is_ten_oclock_in_shanghai(api: Api) -> None:
    run = _execute(api, "when_task", {"when": "2026-12-06T10:00", "also": ["2026-12-06T10:00"]})
    assert run["status"] == "success", run
    assert run["result"]["data"] == {
        "offset": 8 * 3600,
        "is_ten_in_shanghai": True,
        "also_aware": [True],
    }
    stored = wait_run(api.viewer, run["id"])["kwargs"]
    assert stored == {"when": "2026-12-06T10:00:00+08:00", "also": ["2026-12-06T10:00:00+08:00"]}


def test_an_offset_given_is_kept(api: Api) -> None:
    run = _execute(api, "when_task", {"when": "2026-12-06T02:00:00Z"})
    assert run["status"] == "success" and run["result"]["data"]["is_ten_in_shanghai"] is True
    assert run["kwargs"] == {"when": "2026-12-06T02:00:00Z"}


def test_undeclared_kwargs_stay_strings(api: Api) -> None:
    run = _execute(api, "free_form", {"when": "2026-12-06T10:00"})
    assert run["kwargs"] == {"when": "2026-12-06T10:00"}
    assert run["result"]["data"] == {"when": "2026-12-06T10:00"}


def test_schedules_store_the_offset_too(api: Api) -> None:
    spec = {"trigger": "date", "run_date": "2030-01-05T06:00:00"}
    kwargs = {"when": "2026-12-06T10:00"}
    answer = api.admin.post(
        "/tasks/when_task/schedule",
        params={"schedule_id": "when-once"},
        json={"trigger": spec, "kwargs": kwargs},
    )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["schedule"]["kwargs"] == {"when": "2026-12-06T10:00:00+08:00"}
    imported = api.admin.post(
        "/schedules",
        json=[{"id": "when-bulk", "task": "when_task", "schedule": {**spec, "kwargs": kwargs}}],
    )
    assert imported.status_code == 201, imported.text
    stored = api.viewer.get("/schedules/when-bulk").json()
    assert stored["kwargs"] == {"when": "2026-12-06T10:00:00+08:00"}


def test_a_mistyped_kwarg_is_refused_naming_the_parameter_meant(api: Api) -> None:
    """An audit (here for a task with declared parameters): a mistyped kwarg was refused
    as "kwargs.wehn: Extra inputs are not permitted", or, as the parameter it meant is
    then missing, as "kwargs.when: Field required". The per-field message stays
    pydantic's: the console translates it in its form."""
    kwargs = {"wehn": "2026-12-06T10:00"}
    spec = {"trigger": "date", "run_date": "2030-01-05T06:00:00"}
    for path, sent in (
        ("execute", {"kwargs": kwargs}),
        ("schedule", {"trigger": spec, "kwargs": kwargs}),
    ):
        body = problem(api.admin.post(f"/tasks/when_task/{path}", json=sent), 422)
        assert body["field"] == "kwargs.wehn", path
        assert body["detail"] == "kwargs.wehn: unknown key 'wehn' (did you mean 'when'?)"
        messages = {e["field"]: e["message"] for e in body["errors"]}
        assert messages["kwargs.wehn"] == "Extra inputs are not permitted"
