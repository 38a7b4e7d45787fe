"""The problem answers as docs/api.md promises them (an API-contract audit): every 404 has
its own type and a member naming what was not found, every 422 item says where its field
was sent (``in``) and its ``type``, and the ``workflow`` filter refuses a typo as the
``task`` filter does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from schedkit import Step, Workflow
from schedkit.models import TriggerSource, WorkflowRun, WorkflowStatus, utcnow
from schedkit.store import create_store
from tests.api.conftest import Api, open_api
from tests.api.helpers import problem, wait_run
from tests.api.tasks import api_registry

FLOW = Workflow("settle", [Step(name="first", task="echo", kwargs={"count": 1})])


async def _store_retired_workflow_run(url: str) -> None:
    """A run of a workflow since removed from the code: its history stays listable."""
    store = create_store(url)
    await store.open()
    try:
        at = utcnow() - timedelta(days=1)
        await store.insert_workflow_run(
            WorkflowRun(
                id="retired-run-1",
                workflow="retired_flow",
                definition={},
                trigger_source=TriggerSource.MANUAL,
                scheduled_for=at,
                status=WorkflowStatus.SUCCESS,
                created_at=at,
                updated_at=at,
                finished_at=at,
            )
        )
    finally:
        await store.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path_factory.mktemp('api-problems') / 'schedkit.db'}"
    registry = api_registry()
    registry.register_workflow(FLOW)
    for served in open_api(url, registry=registry):
        asyncio.run(_store_retired_workflow_run(url))
        yield served


def _not_found(response: Any, kind: str) -> dict[str, Any]:
    body = problem(response, 404)
    assert body["type"] == f"urn:schedkit:problem:{kind}", body
    return body


def test_every_404_has_its_type_and_names_what_was_not_found(api: Api) -> None:
    run = api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": 1}}).json()
    wait_run(api.viewer, run["run_id"])
    schedule = api.viewer.get("/schedules?task=cleanup").json()["items"][0]["id"]
    api.admin.put("/calendars/desk", json={"base": "none", "expected_version": 0})
    expected: list[tuple[Any, str, dict[str, str]]] = [
        (api.viewer.get("/tasks/nope"), "task-not-found", {"task_name": "nope"}),
        (api.viewer.get("/runs/nope"), "run-not-found", {"run_id": "nope"}),
        (
            api.viewer.get(f"/runs/{run['run_id']}/files/out.csv"),
            "result-file-not-found",
            {"run_id": run["run_id"], "file": "out.csv"},
        ),
        (api.viewer.get("/schedules/nope"), "schedule-not-found", {"schedule_id": "nope"}),
        (
            api.viewer.get(f"/schedules/{schedule}/backfill"),
            "backfill-not-found",
            {"schedule_id": schedule},
        ),
        (api.viewer.get("/workflows/nope"), "workflow-not-found", {"workflow": "nope"}),
        (
            api.viewer.get("/workflow-runs/nope"),
            "workflow-run-not-found",
            {"workflow_run_id": "nope"},
        ),
        (
            api.operator.post("/workflow-runs/nope/steps/first/retry"),
            "workflow-run-not-found",
            {"workflow_run_id": "nope"},
        ),
        (api.viewer.get("/calendars/nope"), "calendar-not-found", {"calendar": "nope"}),
        (
            api.admin.delete("/calendars/desk/overrides/2031-01-06"),
            "override-not-found",
            {"calendar": "desk", "day": "2031-01-06"},
        ),
        (api.admin.delete("/tokens/nope"), "token-not-found", {"token": "nope"}),
        (api.operator.post("/nodes/nope/drain"), "node-not-found", {"node_id": "nope"}),
    ]
    for response, kind, names in expected:
        body = _not_found(response, kind)
        assert {key: body.get(key) for key in names} == names, body
    # A workflow run is not a task run: its 404 does not say run_id.
    assert "run_id" not in _not_found(
        api.viewer.get("/workflow-runs/nope"), "workflow-run-not-found"
    )


def _items(response: Any) -> list[dict[str, Any]]:
    body = problem(response, 422)
    assert body["type"] == "urn:schedkit:problem:validation-error", body
    for item in body["errors"]:
        assert item["in"] in ("path", "query", "header", "body"), body
        assert item["type"], body
    return list(body["errors"])


def test_every_422_says_where_each_field_was_sent(api: Api) -> None:
    """The scheduler's own checks (unknown task filter, timeout without wait, kwargs,
    an unknown step, a malformed day) answered no ``in`` and no ``type``; request
    validation did."""
    cases: list[tuple[Any, str, str]] = [
        (api.viewer.get("/runs?task=ech"), "task", "query"),
        (api.viewer.get("/schedules?task=ech"), "task", "query"),
        (api.viewer.get("/events?task=ech&duration=1"), "task", "query"),
        (api.operator.post("/tasks/echo/execute?timeout=5", json={}), "timeout", "query"),
        (
            api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": "many"}}),
            "kwargs.count",
            "body",
        ),
        (
            api.operator.post("/workflows/settle/start", json={"params": {"count": "many"}}),
            "params.count",
            "body",
        ),
        (
            api.admin.post("/tasks/echo/schedule", json={"trigger": "cron", "hour": 25}),
            "trigger.hour",
            "body",
        ),
        (api.admin.delete("/calendars/desk/overrides/2031-02-30"), "day", "path"),
        # Request validation, as before: a wrong type in the query.
        (api.viewer.get("/runs?limit=many"), "limit", "query"),
        # A NUL is refused before the request is parsed: the place only.
        (api.viewer.get("/runs?task=%00"), "query", "query"),
    ]
    types = {}
    for response, field, where in cases:
        items = _items(response)
        assert (items[0]["field"], items[0]["in"]) == (field, where), items
        types[field] = items[0]["type"]
    # pydantic's type where a model checked the field, value_error for schedkit's checks.
    assert types["kwargs.count"] == "int_parsing" and types["limit"] == "int_parsing"
    assert types["task"] == types["timeout"] == types["trigger.hour"] == "value_error"
    started = api.operator.post("/workflows/settle/start", json={"params": {}})
    assert started.status_code == 202, started.text
    step = _items(api.operator.post(f"/workflow-runs/{started.json()['id']}/steps/nope/retry"))
    assert (step[0]["field"], step[0]["in"], step[0]["type"]) == ("step", "path", "value_error")


def test_the_workflow_filter_refuses_a_typo_and_keeps_retired_history(api: Api) -> None:
    """?workflow=nope listed nothing (200) where a mistyped task filter is a 422."""
    body = problem(api.viewer.get("/workflow-runs?workflow=setle"), 422)
    assert body["field"] == "workflow" and "did you mean 'settle'" in body["detail"], body
    assert body["errors"][0]["in"] == "query"
    # Defined but never run: an empty page, not a typo.
    assert api.viewer.get("/workflow-runs?workflow=settle&status=failed").json()["total"] == 0
    # Removed from the code, still in the store: listable.
    retired = api.viewer.get("/workflow-runs?workflow=retired_flow")
    assert retired.status_code == 200, retired.text
    assert [r["id"] for r in retired.json()["items"]] == ["retired-run-1"]
