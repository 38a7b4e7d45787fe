"""The workflow routes on a real server: definitions, start, per-step status and timings,
retrying a step, and the errors (404, 409, 422, roles)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedkit import Step, Workflow
from tests.api.conftest import Api, open_api
from tests.api.tasks import api_registry

FLOW = Workflow(
    "settle",
    [
        Step(name="first", task="echo", kwargs={"count": 1}),
        Step(name="explode", task="boom", after=("first",)),
        Step(name="after", task="echo", after=("explode",), kwargs={"count": 2}),
        Step(name="on_fail", task="echo", after=("explode",), on="failure", kwargs={"count": 3}),
    ],
    description="结算流程",
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("api-wf") / "schedkit.db"
    registry = api_registry()
    registry.register_workflow(FLOW)
    yield from open_api(f"sqlite:///{path}", registry=registry)


def wait_done(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/workflow-runs/{run_id}").json()
        if body["status"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_definitions_are_listed_with_their_graph(api: Api) -> None:
    listed = api.viewer.get("/workflows")
    assert listed.status_code == 200
    (wf,) = listed.json()
    assert wf["name"] == "settle" and wf["description"] == "结算流程"
    assert wf["launcher_task"] == "workflow.settle"
    assert wf["layers"] == [["first"], ["explode"], ["after", "on_fail"]]
    assert wf["steps"][3] == {
        "name": "on_fail",
        "task": "echo",
        "after": ["explode"],
        "on": "failure",
    }
    assert api.viewer.get("/workflows/settle").json() == wf
    missing = api.viewer.get("/workflows/nope")
    assert missing.status_code == 404 and missing.json()["type"].endswith("workflow-not-found")
    assert api.anon.get("/workflows").status_code == 401


def test_start_shows_each_step_then_retry_continues(api: Api) -> None:
    assert api.viewer.post("/workflows/settle/start", json={}).status_code == 403
    bad = api.operator.post("/workflows/settle/start", json={"params": {}, "extra": 1})
    assert bad.status_code == 422
    # Over the kwargs limit (65,536 bytes), or a value a step's task refuses: 422, nothing
    # started.
    big = api.operator.post("/workflows/settle/start", json={"params": {"blob": "x" * 70_000}})
    assert big.status_code == 422 and big.json()["field"] == "params", big.text
    assert "limits.max_kwargs_bytes" in big.json()["detail"]
    typed = api.operator.post("/workflows/settle/start", json={"params": {"count": "many"}})
    assert typed.status_code == 422 and typed.json()["field"] == "params.count", typed.text
    assert api.viewer.get("/workflow-runs").json()["total"] == 0
    started = api.operator.post("/workflows/settle/start", json={"params": {"day": "2026-12-01"}})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["params"] == {"day": "2026-12-01"}
    assert body["steps"][0]["state"] in {"pending", "running", "success"}

    done = wait_done(api.viewer, body["id"])
    assert done["status"] == "failed"
    by_name = {s["name"]: s for s in done["steps"]}
    assert by_name["first"]["state"] == "success"
    assert by_name["first"]["run"]["duration"] is not None
    assert by_name["first"]["run"]["started_at"] is not None
    assert by_name["explode"]["state"] == "failed"
    assert by_name["explode"]["run"]["error"]["message"] == "kaboom"
    assert by_name["after"] == {**by_name["after"], "state": "skipped", "run": None}
    assert by_name["after"]["reason"] == "the workflow stopped: step explode failed"
    assert by_name["on_fail"]["state"] == "success"
    assert done["duration"] is not None

    page = api.viewer.get("/workflow-runs", params={"workflow": "settle", "status": "failed"})
    assert page.json()["total"] == 1 and page.json()["items"][0]["id"] == body["id"]
    assert api.viewer.get("/workflow-runs", params={"status": "nope"}).status_code == 422

    retry = f"/workflow-runs/{body['id']}/steps"
    assert api.operator.post(f"{retry}/first/retry").status_code == 409
    assert api.operator.post(f"{retry}/nope/retry").status_code == 422
    assert api.operator.post("/workflow-runs/none/steps/first/retry").status_code == 404
    again = api.operator.post(f"{retry}/explode/retry")
    assert again.status_code == 202
    # The workflow runs again; its retried step may already have failed when the answer
    # is written (boom fails at once), so either state is right here.
    assert again.json()["status"] in {"running", "failed"}
    retried = wait_done(api.viewer, body["id"])
    assert retried["status"] == "failed"  # boom fails again
    explode = {s["name"]: s for s in retried["steps"]}["explode"]
    assert explode["run"]["attempt"] > by_name["explode"]["run"]["attempt"]  # it ran again
    assert api.viewer.get("/workflow-runs/nope").status_code == 404


def test_a_start_with_an_idempotency_key_starts_one_run(api: Api) -> None:
    key = {"Idempotency-Key": "settle-2026-12-05"}
    body = {"params": {"day": "2026-12-05"}}
    before = api.viewer.get("/workflow-runs", params={"workflow": "settle"}).json()["total"]
    first = api.operator.post("/workflows/settle/start", json=body, headers=key)
    assert first.status_code == 202, first.text
    again = api.operator.post("/workflows/settle/start", json=body, headers=key)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    other = {"params": {"day": "2026-12-06"}}
    conflict = api.operator.post("/workflows/settle/start", json=other, headers=key)
    assert conflict.status_code == 409 and "other params" in conflict.json()["detail"]
    bad = api.operator.post("/workflows/settle/start", json=body, headers={"Idempotency-Key": ""})
    assert bad.status_code == 422
    wait_done(api.viewer, first.json()["id"])
    after = api.viewer.get("/workflow-runs", params={"workflow": "settle"}).json()["total"]
    assert after == before + 1
