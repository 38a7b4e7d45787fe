"""Findings 3, 4 and 10: what callers may store is bounded (kwargs, error texts, notes,
run creation rate, fire frequency, schedule count), and what lists carry stays small."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedkit import Scheduler
from schedkit.errors import ValidationError
from schedkit.limits import MAX_ERROR_MESSAGE_CHARS, MAX_NOTE_CHARS, MAX_TRACEBACK_CHARS
from tests.api.conftest import Api, open_api
from tests.api.helpers import problem, wait_run
from tests.api.server import fast_config
from tests.search_clocks import slow_calendar_days
from tests.security.tasks import HUGE, security_registry

KWARGS_LIMIT = 64 * 1024


def _pad(size: int) -> dict[str, str]:
    return {"pad": "p" * size}


def test_kwargs_over_the_limit_are_refused_by_the_api(api: Api) -> None:
    too_big = api.operator.post("/tasks/anything/execute", json={"kwargs": _pad(KWARGS_LIMIT + 1)})
    body = problem(too_big, 422)
    assert body["field"] == "kwargs" and "limits.max_kwargs_bytes" in body["detail"]
    schedule = api.admin.post(
        "/tasks/anything/schedule",
        json={"trigger": "cron", "hour": 3, "kwargs": _pad(KWARGS_LIMIT + 1)},
    )
    assert problem(schedule, 422)["field"] == "kwargs"
    assert api.viewer.get("/runs", params={"task": "anything"}).json()["total"] == 0
    assert api.viewer.get("/schedules").json()["total"] == 0


async def test_kwargs_over_the_limit_are_refused_by_the_facade(tmp_path: Path) -> None:
    config = fast_config(f"sqlite:///{tmp_path / 's.db'}", limits={"max_kwargs_bytes": 1000})
    async with Scheduler(config, registry=security_registry()) as scheduler:
        with pytest.raises(ValidationError) as caught:
            await scheduler.run_now("anything", _pad(1000))
        assert caught.value.field == "kwargs"
        await scheduler.run_now("anything", _pad(900))


def test_errors_tracebacks_and_notes_are_cut_with_a_marker(api: Api) -> None:
    run_id = api.operator.post("/tasks/huge/execute", json={}).json()["run_id"]
    run = wait_run(api.viewer, run_id, timeout=30)
    assert run["status"] == "failed" and run["attempt"] == 2
    errors = [run["error"], *(a["error"] for a in run["attempt_errors"])]
    assert len(errors) == 2
    for error in errors:
        assert error["message"].startswith("m" * 100)
        assert error["message"].endswith(
            f"…[truncated {HUGE - MAX_ERROR_MESSAGE_CHARS:,} characters]"
        )
        assert len(error["message"]) < MAX_ERROR_MESSAGE_CHARS + 100
        assert error["traceback"].startswith("…[truncated")
        assert len(error["traceback"]) < MAX_TRACEBACK_CHARS + 100
    note = run["progress"]["note"]
    assert note.startswith("n" * 100) and "…[truncated" in note
    assert len(note) < MAX_NOTE_CHARS + 100
    assert (
        len(
            httpx.get(
                api.url + f"/api/v1/scheduler/runs/{run_id}", headers=api.viewer.headers
            ).content
        )
        < 100_000
    )


def test_run_lists_carry_summaries(api: Api) -> None:
    near_limit = _pad(KWARGS_LIMIT - 100)
    ids = [
        api.operator.post("/tasks/anything/execute", json={"kwargs": near_limit}).json()["run_id"]
        for _ in range(10)
    ]
    for run_id in ids:
        wait_run(api.viewer, run_id)
    page = api.viewer.get("/runs", params={"task": "anything", "limit": 50})
    assert page.json()["total"] >= 10
    items = page.json()["items"]
    assert all("kwargs" not in item and "result" not in item for item in items)
    assert len(page.content) < 20_000  # 10 runs of ~64 KB kwargs each: 640 KB before
    history = api.viewer.get("/tasks/anything/history").json()["items"]
    assert all("kwargs" not in item for item in history)
    single = api.viewer.get(f"/runs/{ids[0]}").json()
    assert single["kwargs"] == near_limit and single["result"]["success"] is True


def _server(tmp_path: Path, **config: Any) -> Iterator[Api]:
    yield from open_api(
        f"sqlite:///{tmp_path / 'limited.db'}", registry=security_registry(), **config
    )


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Api]:
    """A server with a 5 s minimum interval and room for 2 schedules."""
    yield from _server(tmp_path, limits={"min_interval": 5.0, "max_schedules": 2})


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[Api]:
    """A server allowing 3 runs at once, then one every 10 s, per caller."""
    yield from _server(tmp_path, api={"run_rate": 6.0, "run_burst": 3})


def test_run_creation_is_rate_limited_per_caller(throttled: Api) -> None:
    for _ in range(3):
        assert throttled.operator.post("/tasks/anything/execute", json={}).status_code == 202
    refused = throttled.operator.post("/tasks/anything/execute", json={})
    problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    retry = throttled.operator.get("/runs").json()["items"][0]["id"]
    wait_run(throttled.viewer, retry)
    problem(throttled.operator.post(f"/runs/{retry}/retry"), 429)
    # Another caller has its own bucket.
    assert throttled.admin.post("/tasks/anything/execute", json={}).status_code == 202
    assert throttled.viewer.get("/runs").json()["total"] == 4


def test_schedules_firing_more_often_than_the_minimum_are_refused(api: Api, strict: Api) -> None:
    # The default minimum is one second.
    fast = api.admin.post(
        "/tasks/anything/schedule", json={"trigger": "interval", "seconds": 0.001}
    )
    body = problem(fast, 422)
    assert body["field"] == "trigger.seconds" and "limits.min_interval" in body["detail"]
    problem(
        api.viewer.post("/schedules/preview", json={"trigger": "interval", "seconds": 0.5}), 422
    )
    assert api.viewer.get("/schedules").json()["total"] == 0
    # A 5 s minimum: every-second cron and */2 seconds are refused, */5 is fine.
    assert (
        problem(strict.admin.post("/tasks/anything/schedule", json="* * * * * *"), 422)["field"]
        == "trigger.expression"
    )
    problem(
        strict.admin.post("/tasks/anything/schedule", json={"trigger": "cron", "second": "*/2"}),
        422,
    )
    ok = strict.admin.post("/tasks/anything/schedule", json="*/5 * * * * *")
    assert ok.status_code == 200, ok.text


async def test_the_facade_applies_the_minimum_interval(tmp_path: Path) -> None:
    async with Scheduler(
        fast_config(f"sqlite:///{tmp_path / 's.db'}"), registry=security_registry()
    ) as s:
        with pytest.raises(ValidationError) as caught:
            await s.add_task("anything", {"trigger": "interval", "seconds": 0.001})
        assert caught.value.field == "trigger.seconds"
        assert await s.list_schedules() == []


def test_the_schedule_count_is_bounded_and_listed_in_pages(strict: Api) -> None:
    for sid in ("a-1", "a-2"):
        made = strict.admin.post(f"/tasks/anything/schedule?schedule_id={sid}", json="0 3 * * *")
        assert made.status_code == 200, made.text
    third = strict.admin.post("/tasks/anything/schedule?schedule_id=a-3", json="0 3 * * *")
    assert "limits.max_schedules" in problem(third, 409)["detail"]
    # Replacing an existing schedule is still allowed.
    again = strict.admin.post("/tasks/anything/schedule?schedule_id=a-2", json="0 4 * * *")
    assert again.status_code == 200
    first = strict.viewer.get("/schedules", params={"limit": 1}).json()
    second = strict.viewer.get("/schedules", params={"limit": 1, "offset": 1}).json()
    assert (first["total"], second["total"]) == (2, 2)
    assert [s["id"] for s in first["items"] + second["items"]] == ["a-1", "a-2"]
    assert json.dumps(first).count('"id"') == 1


def test_backfill_requests_count_against_the_run_rate(throttled: Api) -> None:
    """Audit finding: backfill was the one run-creating route without the run rate."""
    made = throttled.admin.post(
        "/tasks/anything/schedule?schedule_id=flood", json={"trigger": "cron", "hour": 3}
    )
    assert made.status_code == 200, made.text
    for _ in range(3):
        assert throttled.operator.post("/tasks/anything/execute", json={}).status_code == 202
    late = throttled.operator.post(
        "/schedules/flood/backfill", json={"from": "2026-11-01", "to": "2026-11-02"}
    )
    problem(late, 429)
    assert 1 <= int(late.headers["retry-after"]) <= 10
    runs = throttled.viewer.get("/runs", params={"trigger_source": "backfill"}).json()
    assert runs["total"] == 0


NEVER = {  # Saturdays that are Chinese working days, from 2200: the search gives up.
    "trigger": "cron",
    "day_of_week": "sat",
    "hour": 1,
    "year": "2200-9999",
    "calendar": "cn_workdays",
}


@pytest.fixture
def searching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """A server allowing each caller 1 s of schedule-preview search per minute. Each
    calendar day decided costs 5 ms of CPU here (a slow calendar), so that a search of
    ``NEVER`` takes its whole budget: without that, four years without a fire end it in
    a few hundredths of a second."""
    slow_calendar_days(monkeypatch)
    yield from _server(tmp_path, api={"preview_seconds": 1.0})


def test_schedule_previews_are_paid_for_in_search_time_per_caller(searching: Api) -> None:
    """Left out last round (an attack): each preview of a schedule that never fires
    searched for a second of CPU, for any viewer, as often as it was asked — the event
    loop shares that CPU. A caller's previews now draw on ``api.preview_seconds``."""
    # Each one searches until its budget (a second) is up: CPU seconds, fewer on a busy
    # machine, so a few may pass before the caller's second is spent.
    answers = []
    for _ in range(8):
        answers.append(searching.viewer.post("/schedules/preview", json=NEVER))
        if answers[-1].status_code != 200:
            break
    assert answers[0].status_code == 200, answers[0].text
    refused = problem(answers[-1], 429)
    assert "api.preview_seconds" in refused["detail"]
    problem(searching.viewer.post("/schedules/preview", json="0 3 * * *"), 429)
    # Another caller has its own seconds; a common schedule costs next to nothing.
    for _ in range(20):
        common = searching.operator.post("/schedules/preview", json="0 3 * * *")
        assert common.status_code == 200, common.text
