"""What viewers read of schedules, audit events and workflow runs is masked as runs are
(an audit: a schedule's kwargs, its pause note and a workflow run's params were shown in
clear to a viewer token, while a run with the same kwargs showed ``"***"``). The store
keeps the real values: the scheduler needs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedkit import Step, Workflow
from schedkit.models import Schedule
from schedkit.store import create_store
from tests.api.conftest import Api, open_api
from tests.security.tasks import security_registry

KWARGS = {"db_password": "SchedPw11", "apiKey": "SchedKey22", "region": "eu-1"}
NOTE = "password=NotePw33 postgresql://a:NoteUrlPw@h/x"
PARAMS = {"db_password": "WfParamPw", "day": "2026-12-01"}
SECRETS = ("SchedPw11", "SchedKey22", "NotePw33", "NoteUrlPw", "WfParamPw")
FLOW = Workflow("sec_flow", [Step(name="only", task="anything")])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("sec-views") / "schedkit.db"
    registry = security_registry()
    registry.register_workflow(FLOW)
    yield from open_api(f"sqlite:///{path}", registry=registry)


def _stored(api: Api, schedule_id: str) -> Schedule | None:
    async def read() -> Schedule | None:
        store = create_store(api.store_url)
        await store.open()
        try:
            return await store.get_schedule(schedule_id)
        finally:
            await store.close()

    return asyncio.run(read())


def _body(kwargs: dict[str, Any], hour: int = 3) -> dict[str, Any]:
    return {"trigger": {"trigger": "cron", "expression": f"0 {hour} * * *"}, "kwargs": kwargs}


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def _assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_schedule_kwargs_pause_notes_and_audit_are_masked_for_readers(api: Api) -> None:
    put = _ok(api.admin.post("/tasks/anything/schedule?schedule_id=sr1", json=_body(KWARGS)))
    assert put["schedule"]["kwargs"] == {"db_password": "***", "apiKey": "***", "region": "eu-1"}
    paused = api.operator.post("/tasks/anything/pause", json={"note": NOTE})
    _ok(paused)
    _assert_masked(paused.text)
    for client in (api.viewer, api.admin):
        one = _ok(client.get("/schedules/sr1"))
        assert one["kwargs"] == {"db_password": "***", "apiKey": "***", "region": "eu-1"}
        assert one["pause_note"] == "password=*** postgresql://a:***@h/x"
        task = _ok(client.get("/tasks/anything"))
        assert task["pause_note"] == "password=*** postgresql://a:***@h/x"
        shown = str(one) + str(task) + client.get("/schedules").text + client.get("/tasks").text
        _assert_masked(shown)
    _ok(api.operator.post("/tasks/anything/resume"))
    audit = _ok(api.viewer.get("/audit", params={"limit": 100}))
    actions = {e["action"] for e in audit["items"] if e["target"] == "sr1"}
    assert {"schedule.put", "schedule.pause", "schedule.resume"} <= actions
    put_event = next(e for e in audit["items"] if e["action"] == "schedule.put")
    assert put_event["after"]["kwargs"]["db_password"] == "***"
    _assert_masked(str(audit))
    # The store keeps the real values: the scheduler runs the task with them.
    stored = _stored(api, "sr1")
    assert stored is not None and stored.kwargs == KWARGS


def test_a_schedule_saved_back_as_shown_keeps_its_secrets(api: Api) -> None:
    """The console's schedule editor sends back the kwargs it was shown: a masked value
    sent back unchanged keeps the stored one (saving ``"***"`` would lose the password);
    a new value replaces it."""
    _ok(api.admin.post("/tasks/anything/schedule?schedule_id=sr2", json=_body(KWARGS)))
    before = _ok(api.viewer.get("/schedules/sr2"))
    shown = before["kwargs"]
    _ok(api.admin.post("/tasks/anything/schedule?schedule_id=sr2", json=_body(shown, hour=4)))
    stored = _stored(api, "sr2")
    assert stored is not None and stored.kwargs == KWARGS
    assert _ok(api.viewer.get("/schedules/sr2"))["trigger"] != before["trigger"]
    changed = {**shown, "db_password": "NewPw44", "region": "eu-2"}
    _ok(api.admin.post("/tasks/anything/schedule?schedule_id=sr2", json=_body(changed)))
    stored = _stored(api, "sr2")
    assert stored is not None
    assert stored.kwargs == {"db_password": "NewPw44", "apiKey": "SchedKey22", "region": "eu-2"}
    # A masked value for a key the schedule did not have stays what it was sent as.
    _ok(api.admin.post("/tasks/anything/schedule?schedule_id=sr3", json=_body({"token": "***"})))
    stored = _stored(api, "sr3")
    assert stored is not None and stored.kwargs == {"token": "***"}


def test_workflow_params_are_masked_for_readers(api: Api) -> None:
    started = _ok(api.operator.post("/workflows/sec_flow/start", json={"params": PARAMS}))
    run_id = started["id"]
    deadline = time.monotonic() + 30
    while _ok(api.viewer.get(f"/workflow-runs/{run_id}"))["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for client in (api.viewer, api.admin):
        one = _ok(client.get(f"/workflow-runs/{run_id}"))
        assert one["params"] == {"db_password": "***", "day": "2026-12-01"}
        listed = client.get("/workflow-runs").text
        _assert_masked(str(one) + listed)
