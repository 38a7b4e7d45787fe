"""Every mutating call leaves an audit event: who (the token's name), what, and for
schedule changes the schedule before and after."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.helpers import problem, wait_run


def _events(api: Api, client: httpx.Client | None = None, **query: str) -> list[dict[str, Any]]:
    page = (client or api.viewer).get("/audit", params={**query, "limit": "500"}).json()
    assert page["total"] == len(page["items"])
    items: list[dict[str, Any]] = page["items"]
    return items


def test_schedule_changes_record_actor_and_before_after(api: Api) -> None:
    api.admin.post("/tasks/cleanup/schedule", json={"trigger": "cron", "hour": 4})
    api.operator.post("/tasks/cleanup/pause", json={"note": "disk full"})
    api.operator.post("/tasks/cleanup/resume")
    api.admin.delete("/schedules/cleanup")

    events = _events(api, target="cleanup")
    actions = [(e["action"], e["actor"]) for e in reversed(events)]  # oldest first
    assert actions == [
        ("schedule.default", "system"),
        ("schedule.put", "admin-bot"),
        ("schedule.pause", "operator-bot"),
        ("schedule.resume", "operator-bot"),
        ("schedule.delete", "admin-bot"),
    ]
    by_action = {e["action"]: e for e in events}
    put = by_action["schedule.put"]
    assert put["before"]["trigger"] == {
        "trigger": "interval",
        "timezone": "Asia/Shanghai",
        "hours": 6,
    }
    assert put["after"]["trigger"] == {"trigger": "cron", "timezone": "Asia/Shanghai", "hour": 4}
    assert put["after"]["version"] == put["before"]["version"] + 1
    pause = by_action["schedule.pause"]
    assert pause["before"]["paused"] is False and pause["after"]["paused"] is True
    assert pause["after"]["pause_note"] == "disk full" and pause["detail"] == "disk full"
    resume = by_action["schedule.resume"]
    assert resume["before"]["paused"] is True and resume["after"]["paused"] is False
    delete = by_action["schedule.delete"]
    assert delete["before"]["id"] == "cleanup" and delete["after"] is None
    for event in events:
        assert event["at"].endswith("Z") or event["at"].endswith("+00:00")


def test_run_actions_are_audited(api: Api) -> None:
    run_id = api.operator.post("/tasks/slow/execute").json()["run_id"]
    wait_run(api.viewer, run_id, until={"running"})
    api.operator.post(f"/runs/{run_id}/cancel", json={"reason": "wrong day"})
    wait_run(api.viewer, run_id)
    retry_id = api.operator.post(f"/runs/{run_id}/retry").json()["run_id"]
    api.operator.post(f"/runs/{retry_id}/cancel")

    create = _events(api, action="run.create", target=run_id)
    assert [(e["actor"], e["detail"]) for e in create] == [("operator-bot", "slow")]
    [cancel] = _events(api, action="run.cancel", target=run_id)
    assert cancel["actor"] == "operator-bot" and cancel["detail"] == "wrong day"
    [retry] = _events(api, action="run.retry", target=retry_id)
    assert retry["detail"] == f"retry of {run_id}"


def test_token_management_is_audited_without_secrets(api: Api) -> None:
    created = api.admin.post("/tokens", json={"name": "audited", "role": "viewer"}).json()
    api.admin.delete("/tokens/audited")
    events = _events(api, api.admin, target="token:audited")
    assert [(e["action"], e["actor"]) for e in reversed(events)] == [
        ("token.create", "admin-bot"),
        ("token.revoke", "admin-bot"),
    ]
    for event in events:
        text = str(event)
        assert created["secret"] not in text and "token_hash" not in text
    assert events[0]["before"]["revoked"] is False and events[0]["after"]["revoked"] is True


def test_refused_and_invalid_calls_write_nothing(api: Api) -> None:
    total = api.viewer.get("/audit").json()["total"]
    problem(api.viewer.post("/tasks/cleanup/pause"), 403)
    problem(api.admin.post("/tasks/cleanup/schedule", json={"trigger": "cron", "hour": 99}), 422)
    problem(api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": "x"}}), 422)
    assert api.viewer.get("/audit").json()["total"] == total


def test_audit_filters_and_pages(api: Api) -> None:
    api.operator.post("/tasks/nightly_report/execute")
    mine = api.viewer.get("/audit?actor=operator-bot&limit=1").json()
    assert len(mine["items"]) == 1 and mine["total"] >= 1
    assert mine["items"][0]["actor"] == "operator-bot"
    second = api.viewer.get("/audit?actor=operator-bot&limit=1&offset=1").json()
    assert second["items"] == [] or second["items"][0]["id"] != mine["items"][0]["id"]
    assert api.viewer.get("/audit?action=no.such").json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
