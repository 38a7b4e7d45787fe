"""Backfill over HTTP: request, progress, repeat, cancel, bad ranges, roles."""

from __future__ import annotations

import time

from tests.api.conftest import Api
from tests.api.helpers import problem


def wait_done(api: Api, schedule_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = api.viewer.get(f"/schedules/{schedule_id}/backfill").json()
        if body["state"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_backfill_a_range_then_read_its_progress(api: Api) -> None:
    problem(api.viewer.get("/schedules/nightly_report/backfill"), 404)
    request = {"from": "2026-11-01", "to": "2026-11-15", "concurrency": 3}
    problem(api.viewer.post("/schedules/nightly_report/backfill", json=request), 403)
    response = api.operator.post("/schedules/nightly_report/backfill", json=request)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] == 15 and body["total"] == 15 and body["concurrency"] == 3
    assert body["start_local"] == "2026-11-01T00:00:00+08:00"
    assert body["end_local"] == "2026-11-16T00:00:00+08:00"
    done = wait_done(api, "nightly_report")
    assert done["state"] == "done" and done["succeeded"] == 15 and done["created"] is None

    runs = api.viewer.get(
        "/runs", params={"task": "nightly_report", "trigger_source": "backfill", "limit": 50}
    ).json()
    assert runs["total"] == 15
    assert {r["trigger_source"] for r in runs["items"]} == {"backfill"}

    again = api.operator.post("/schedules/nightly_report/backfill", json=request).json()
    assert again["created"] == 0 and again["total"] == 15


def test_backfill_cancel(api: Api) -> None:
    api.admin.post("/tasks/slow/schedule?schedule_id=slow-daily", json="0 9 * * *")
    request = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-11-04T00:00:00+08:00"}
    body = api.operator.post("/schedules/slow-daily/backfill", json=request).json()
    assert body["total"] == 3 and body["concurrency"] == 1
    cancelled = api.operator.post("/schedules/slow-daily/backfill/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    deadline = time.monotonic() + 15
    while api.viewer.get("/schedules/slow-daily/backfill").json()["cancelled"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    problem(api.operator.post("/schedules/cleanup/backfill/cancel"), 409)
    body = cancelled.json()
    assert body["cancelled_at"].endswith("Z") and body["requested_at"].endswith("Z")
    assert body["cancelled_at_local"].endswith("+08:00")
    assert body["requested_at_local"].endswith("+08:00")
    again = problem(api.operator.post("/schedules/slow-daily/backfill/cancel"), 409)
    assert "already cancelled" in again["detail"]
    after = api.viewer.get("/schedules/slow-daily/backfill").json()
    assert after["cancelled_at"] == body["cancelled_at"]


def test_cancelling_a_finished_backfill_is_a_conflict(api: Api) -> None:
    request = {"from": "2026-11-01", "to": "2026-11-02"}
    api.operator.post("/schedules/nightly_report/backfill", json=request)
    assert wait_done(api, "nightly_report")["state"] == "done"
    refused = problem(api.operator.post("/schedules/nightly_report/backfill/cancel"), 409)
    assert "already finished" in refused["detail"]
    after = api.viewer.get("/schedules/nightly_report/backfill").json()
    assert after["state"] == "done" and after["cancelled_at"] is None


def test_backfill_refuses_bad_input_naming_the_field(api: Api) -> None:
    url = "/schedules/nightly_report/backfill"
    body = problem(api.operator.post(url, json={"from": "2026-11-05", "to": "2026-11-01"}), 422)
    assert body["field"] == "from"
    body = problem(api.operator.post(url, json={"from": "2020-01-01", "to": "2026-11-01"}), 422)
    assert body["field"] == "to" and "split the range" in body["detail"]
    problem(api.operator.post(url, json={"from": "2026-11-01"}), 422)
    problem(
        api.operator.post(url, json={"from": "2026-11-01", "to": "2026-11-02", "concurrency": 0}),
        422,
    )
    problem(api.operator.post(url, json={"from": "2026-11-01T09:00", "to": "2026-11-02"}), 422)
    # Audit finding: a date-time without offset at midnight was read as a whole day (pydantic's
    # lax date), 2024-03-10T00:00..2024-03-11T00:00 becoming two days, where 01:00 was
    # refused. A date is YYYY-MM-DD alone; a date-time needs its offset.
    for body, field in (
        ({"from": "2026-11-01T00:00", "to": "2026-11-02T00:00"}, "from"),
        ({"from": "2026-11-01", "to": "2026-11-02T00:00:00"}, "to"),
    ):
        refused = problem(api.operator.post(url, json=body), 422)
        assert refused["field"] == field, refused
        assert "has no offset: a date-time needs one" in refused["detail"]
    # Forms outside docs/backfill.md's grammar that pydantic took (a space for T, +0800):
    # the parser the CLI and Python use, shared now (every form: test_backfill_bounds.py;
    # few requests here, each counts against the module's api.run_burst).
    for body, field in (
        ({"from": "2026-11-01 00:00+08:00", "to": "2026-11-02"}, "from"),
        ({"from": "2026-11-01", "to": "2026-11-02T00:00:00+0800"}, "to"),
    ):
        refused = problem(api.operator.post(url, json=body), 422)
        assert refused["field"] == field, refused
        assert "YYYY-MM-DDTHH:MM[:SS[.ffffff]] then Z or ±HH:MM" in refused["detail"]
    # The ends of the supported dates: midnight of 0001-01-01 in Shanghai is in year 0
    # in UTC, the day after 9999-12-31 is in year 10000.
    for edge, field in (
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"from": "2026-11-01", "to": "9999-12-31"}, "to"),
    ):
        body = problem(api.operator.post(url, json=edge), 422)
        assert body["field"] == field and "supported date range" in body["detail"]
    problem(
        api.operator.post(
            "/schedules/nope/backfill", json={"from": "2026-11-01", "to": "2026-11-02"}
        ),
        404,
    )


def test_a_second_backfill_waits_for_the_first_to_finish_or_be_cancelled(api: Api) -> None:
    """Audit finding: four backfills of other ranges stacked 2,880 pending runs, and cancel
    reached only the latest. Now a schedule has one unfinished backfill at a time."""
    api.admin.post("/tasks/slow/schedule?schedule_id=slow-flood", json="0 9 * * *")
    url = "/schedules/slow-flood/backfill"
    first = {"from": "2026-11-01", "to": "2026-11-03"}
    made = api.operator.post(url, json=first)
    assert made.status_code == 202, made.text
    assert made.json()["created"] == 3
    other = api.operator.post(url, json={"from": "2026-11-04", "to": "2026-11-06"})
    refused = problem(other, 409)
    assert "still running" in refused["detail"] and "backfill/cancel" in refused["detail"]
    assert "2026-11-01" in refused["detail"]
    # The same request again is answered with the running backfill, creating nothing.
    again = api.operator.post(url, json=first)
    assert again.status_code == 202, again.text
    assert again.json()["created"] == 0 and again.json()["state"] == "running"
    assert api.viewer.get(url).json()["total"] == 3
    # Once cancelled, every unfinished backfill run of the schedule is cancelled ...
    cancelled = api.operator.post(f"{url}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    # ... and another range may be backfilled.
    second = api.operator.post(url, json={"from": "2026-11-04", "to": "2026-11-06"})
    assert second.status_code == 202, second.text
    assert second.json()["created"] == 3
    api.operator.post(f"{url}/cancel")
