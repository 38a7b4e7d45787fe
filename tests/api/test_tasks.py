"""Task routes: the design document's five plus pause/resume/unschedule, over real HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api
from tests.api.helpers import problem, wait_run


def test_list_tasks_shows_metadata_schedule_and_stats(api: Api) -> None:
    tasks = api.viewer.get("/tasks").json()
    names = [t["name"] for t in tasks]
    assert names == sorted(names) and {"echo", "slow", "boom", "nightly_report"} <= set(names)
    nightly = next(t for t in tasks if t["name"] == "nightly_report")
    assert nightly["description"] == "Nightly report"
    assert nightly["category"] == "report"
    assert nightly["tags"] == ["beta"]
    assert (nightly["priority"], nightly["priority_name"]) == (2, "NORMAL")
    [schedule] = nightly["schedules"]
    assert schedule["trigger"] == {
        "trigger": "cron",
        "timezone": "Asia/Shanghai",
        "hour": 2,
        "minute": 0,
    }
    assert schedule["description"] == "every day at 02:00 (Asia/Shanghai)"
    assert schedule["timezone"] == "Asia/Shanghai"
    assert (schedule["misfire_grace_time"], schedule["max_instances"]) == (300.0, 1)
    assert schedule["paused"] is False and schedule["pause_note"] is None
    # Next fire: UTC and the configured zone, the same instant, at 02:00 Shanghai time.
    utc = datetime.fromisoformat(nightly["next_fire_time"])
    local = datetime.fromisoformat(nightly["next_fire_time_local"])
    assert utc == local and local.utcoffset() is not None
    assert (local.hour, local.minute, local.utcoffset().total_seconds()) == (2, 0, 8 * 3600)
    for window in ("stats_24h", "stats_7d"):
        assert set(nightly[window]) == {
            "window",
            "since",
            "total",
            "counts",
            "success_rate",
            "mean_duration",
        }


def test_list_tasks_filters_by_category_and_any_tag(api: Api) -> None:
    assert [t["name"] for t in api.viewer.get("/tasks?category=demo").json()] == ["echo", "slow"]
    tagged = api.viewer.get("/tasks", params={"tags": "gamma, beta"}).json()
    assert [t["name"] for t in tagged] == ["cleanup", "echo", "nightly_report", "slow"]
    assert api.viewer.get("/tasks?category=demo&tags=gamma").json()[0]["name"] == "slow"
    assert api.viewer.get("/tasks?category=nope").json() == []


def test_schedule_text_follows_the_request_language(api: Api) -> None:
    zh = api.viewer.get("/tasks/nightly_report", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.json()["schedules"][0]["description"] == "每天 02:00（Asia/Shanghai）"
    en = api.viewer.get("/tasks/nightly_report?lang=en", headers={"Accept-Language": "zh-CN"})
    assert en.json()["schedules"][0]["description"].startswith("every day at 02:00")
    assert (
        api.viewer.get("/tasks/nightly_report?lang=zh")
        .json()["schedules"][0]["description"]
        .startswith("每天")
    )


def test_task_detail_and_unknown_task(api: Api) -> None:
    detail = api.viewer.get("/tasks/echo").json()
    assert detail["parameters_schema"]["required"] == ["count"]
    assert detail["retry"]["max_retries"] == 0
    assert detail["is_async"] is True and detail["schedules"] == []
    assert detail["default_schedule"] is None
    body = problem(api.viewer.get("/tasks/nope"), 404)
    assert "nope" in body["detail"] and body["task_name"] == "nope"


def test_execute_answers_202_with_the_run_id(api: Api) -> None:
    response = api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": 2}})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["task_name"] == "echo" and accepted["run"]["kwargs"] == {"count": 2}
    run = wait_run(api.viewer, accepted["run_id"])
    assert run["status"] == "success"
    assert run["result"]["data"] == {"count": 2, "label": "x"}
    assert run["trigger_source"] == "manual" and run["created_by"] == "operator-bot"


def test_execute_wait_returns_the_result(api: Api) -> None:
    response = api.operator.post(
        "/tasks/echo/execute?wait=true&timeout=10", json={"kwargs": {"count": 5, "label": "w"}}
    )
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["finished"] is True and run["status"] == "success"
    assert run["run"]["result"]["message"] == "echoed"
    assert run["run"]["duration"] is not None


def test_execute_wait_timeout_answers_202(api: Api) -> None:
    response = api.operator.post("/tasks/slow/execute?wait=true&timeout=0.2")
    assert response.status_code == 202 and response.json()["finished"] is False
    api.operator.post(f"/runs/{response.json()['run_id']}/cancel")


def test_execute_refuses_a_timeout_without_wait(api: Api) -> None:
    """Hole (an audit): ``?timeout=5`` without ``wait=true`` was ignored, so the run got
    no time limit: the timeout bounds the wait for the answer (docs/api.md)."""
    # As admin, a caller of its own: the operator's run-rate burst is for the other tests.
    before = api.viewer.get("/runs?task=echo").json()["total"]
    for query in ("timeout=5", "wait=false&timeout=5"):
        response = api.admin.post(f"/tasks/echo/execute?{query}", json={"kwargs": {"count": 1}})
        body = problem(response, 422)
        assert body["field"] == "timeout", query
        assert "give wait=true" in body["detail"], query
    assert api.viewer.get("/runs?task=echo").json()["total"] == before  # nothing created
    waited = api.admin.post("/tasks/echo/execute?wait=true", json={"kwargs": {"count": 1}})
    assert waited.status_code == 200 and waited.json()["finished"] is True


def test_execute_accepts_an_empty_body(api: Api) -> None:
    response = api.operator.post("/tasks/nightly_report/execute")
    assert response.status_code == 202
    assert wait_run(api.viewer, response.json()["run_id"])["status"] == "success"


def test_execute_validates_kwargs_before_storing(api: Api) -> None:
    before = api.viewer.get("/runs?task=echo").json()["total"]
    body = problem(api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": "x"}}), 422)
    assert body["field"] == "kwargs.count"
    assert body["errors"][0]["field"] == "kwargs.count"
    body = problem(api.operator.post("/tasks/echo/execute", json={"kwargs": {}}), 422)
    assert body["field"] == "kwargs.count"
    body = problem(api.operator.post("/tasks/echo/execute", json={"kw": {}}), 422)
    assert body["field"] == "kw" and body["errors"][0]["in"] == "body"
    assert api.viewer.get("/runs?task=echo").json()["total"] == before
    problem(api.operator.post("/tasks/nope/execute", json={}), 404)


def test_execute_with_an_idempotency_key_creates_the_run_once(api: Api) -> None:
    key = {"Idempotency-Key": "echo-2026-12-05"}
    body = {"kwargs": {"count": 3}}
    before = api.viewer.get("/runs?task=echo").json()["total"]
    first = api.operator.post("/tasks/echo/execute", json=body, headers=key)
    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    assert wait_run(api.viewer, run_id)["status"] == "success"
    # Sent again (a retry after a lost answer): the same run, finished, nothing new.
    again = api.operator.post("/tasks/echo/execute?wait=true", json=body, headers=key)
    assert again.status_code == 200, again.text
    assert again.json()["run_id"] == run_id and again.json()["finished"] is True
    assert api.viewer.get("/runs?task=echo").json()["total"] == before + 1
    # The same key with other kwargs is the client's mistake: 409, nothing stored.
    other = {"kwargs": {"count": 4}}
    conflict = problem(api.operator.post("/tasks/echo/execute", json=other, headers=key), 409)
    assert "other kwargs" in conflict["detail"]
    for bad in (b"", b"x" * 201, "月".encode(), b"a\tb"):
        malformed = {"Idempotency-Key": bad}
        problem(api.operator.post("/tasks/echo/execute", json=body, headers=malformed), 422)
    assert api.viewer.get("/runs?task=echo").json()["total"] == before + 1


def test_failed_run_records_the_error(api: Api) -> None:
    run_id = api.operator.post("/tasks/boom/execute").json()["run_id"]
    run = wait_run(api.viewer, run_id)
    assert run["status"] == "failed"
    assert run["error"]["type"] == "RuntimeError" and "kaboom" in run["error"]["message"]


def test_schedule_accepts_the_document_shape_and_answers_next_fires(api: Api) -> None:
    response = api.admin.post(
        "/tasks/cleanup/schedule",
        json={
            "trigger": "cron",
            "hour": 3,
            "minute": 30,
            "misfire_grace_time": 120,
            "max_instances": 2,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    schedule = body["schedule"]
    assert schedule["id"] == "cleanup" and schedule["origin"] == "runtime"
    assert (schedule["misfire_grace_time"], schedule["max_instances"]) == (120.0, 2)
    fires = [datetime.fromisoformat(f) for f in body["next_fire_times_local"]]
    assert len(fires) == 5 and fires == sorted(fires)
    assert all((f.hour, f.minute) == (3, 30) for f in fires)
    assert [datetime.fromisoformat(f) for f in body["next_fire_times"]] == fires
    assert api.viewer.get("/schedules/cleanup").json()["trigger"]["hour"] == 3
    assert body["warnings"] == []


def test_the_fires_answered_are_the_saved_schedules(api: Api) -> None:
    """The answer listed fires computed from a moment before the save: an interval's
    first fire a few milliseconds off the stored one (an audit: .220341 listed, .225053
    fired), a jittered cron's fire due during the save listed though it never ran."""
    body = api.admin.post(
        "/tasks/cleanup/schedule?schedule_id=every-3s",
        json={"trigger": "interval", "seconds": 3},
    ).json()
    stored = body["schedule"]["next_fire_time"]
    assert body["next_fire_times"][0] == stored
    assert api.viewer.get("/schedules/every-3s").json()["next_fire_time"] == stored
    first = datetime.fromisoformat(stored)
    later = [datetime.fromisoformat(f) for f in body["next_fire_times"]]
    assert later == [first + timedelta(seconds=3 * i) for i in range(5)]


def test_schedule_answers_what_it_will_not_run(api: Api) -> None:
    """A one-off past its misfire grace, a fire already run under the schedule's id: the
    schedule is stored, and the answer says what it will not run. The warning was only
    logged on the server; a client saw a next fire time and nothing else."""
    once = {"trigger": "date", "run_date": "2020-01-01T10:00:00", "kwargs": {"count": 1}}
    body = api.admin.post("/tasks/echo/schedule?schedule_id=echo-2020", json=once).json()
    [warning] = body["warnings"]
    assert (warning["kind"], warning["schedule_id"]) == ("past_run_date", "echo-2020")
    assert "recorded missed" in warning["message"]

    at = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()  # within its grace
    soon = {"trigger": "date", "run_date": at, "kwargs": {"count": 2}}
    body = api.admin.post("/tasks/echo/schedule?schedule_id=echo-once", json=soon).json()
    assert body["warnings"] == []
    deadline = time.monotonic() + 15
    while not (runs := api.viewer.get("/runs?schedule_id=echo-once").json()["items"]):
        assert time.monotonic() < deadline, "the one-off did not fire"
        time.sleep(0.05)
    ran = wait_run(api.viewer, runs[0]["id"])
    assert api.admin.delete("/schedules/echo-once").status_code == 204
    body = api.admin.post("/tasks/echo/schedule?schedule_id=echo-once", json=soon).json()
    [warning] = body["warnings"]
    assert (warning["kind"], warning["schedule_id"]) == ("fire_recorded", "echo-once")
    assert ran["id"] in warning["message"] and "it will not run" in warning["message"]


def test_schedule_accepts_the_nested_spec_and_crontab_strings(api: Api) -> None:
    nested = {
        "trigger": {"trigger": "interval", "minutes": 10, "timezone": "UTC"},
        "overlap": "queue_one",
        "timeout": 60,
    }
    body = api.admin.post("/tasks/slow/schedule", json=nested).json()
    assert body["schedule"]["overlap"] == "queue_one" and body["schedule"]["timeout"] == 60
    assert body["schedule"]["description"] == "every 10 minutes"
    body = api.admin.post(
        "/tasks/slow/schedule?schedule_id=slow-weekday", json="30 6 * * 1-5"
    ).json()
    assert body["schedule"]["id"] == "slow-weekday"
    assert all(datetime.fromisoformat(f).weekday() < 5 for f in body["next_fire_times_local"])
    ids = [s["id"] for s in api.viewer.get("/schedules?task=slow").json()["items"]]
    assert ids == ["slow", "slow-weekday"]
    # A schedule id of another task is not taken over.
    problem(
        api.admin.post("/tasks/slow/schedule?schedule_id=nightly_report", json="0 1 * * *"), 409
    )
    assert api.admin.delete("/tasks/slow/schedule").status_code == 204
    assert api.viewer.get("/schedules?task=slow").json()["items"] == []
    problem(api.admin.delete("/tasks/slow/schedule"), 404)


def test_schedule_rejects_bad_specs_naming_the_field(api: Api) -> None:
    before = api.viewer.get("/schedules/nightly_report").json()
    cases = {
        "trigger.hour": {"trigger": "cron", "hour": 25},
        "trigger.timezone": {"trigger": "cron", "hour": 1, "timezone": "Mars/Olympus"},
        "trigger.trigger": {"trigger": "weekly"},
        "max_instances": {"trigger": "cron", "hour": 1, "max_instances": 0},
        "trigger.expression": "61 * * * *",
        "trigger.jitter": {"trigger": "cron", "second": "*", "jitter": 1e300},
        # First fires past the supported dates: the schedule would never fire.
        "trigger.days": {"trigger": "interval", "days": 3_000_000},
        "trigger.start_date": {
            "trigger": "interval",
            "hours": 1,
            "start_date": "9999-12-31T23:30:00",
        },
    }
    for field, spec in cases.items():
        body = problem(api.admin.post("/tasks/nightly_report/schedule", json=spec), 422)
        assert body["field"] == field, (spec, body)
    problem(api.admin.post("/tasks/nope/schedule", json={"trigger": "cron", "hour": 1}), 404)
    # kwargs of a schedule are validated against the task's parameters too.
    body = problem(
        api.admin.post(
            "/tasks/echo/schedule",
            json={"trigger": {"trigger": "cron", "hour": 1}, "kwargs": {"count": -1}},
        ),
        422,
    )
    assert body["field"] == "kwargs.count"
    assert api.viewer.get("/schedules/nightly_report").json() == before


def test_pause_with_note_then_resume(api: Api) -> None:
    paused = api.operator.post("/tasks/nightly_report/pause", json={"note": "maintenance"})
    assert paused.status_code == 200, paused.text
    [schedule] = paused.json()["schedules"]
    assert schedule["paused"] is True and schedule["pause_note"] == "maintenance"
    assert schedule["next_fire_time"] is None
    task = api.viewer.get("/tasks/nightly_report").json()
    assert task["paused"] is True and task["pause_note"] == "maintenance"
    assert task["next_fire_time"] is None
    resumed = api.operator.post("/tasks/nightly_report/resume")
    assert resumed.status_code == 200
    assert resumed.json()["schedules"][0]["paused"] is False
    assert api.viewer.get("/tasks/nightly_report").json()["next_fire_time"] is not None
    body = problem(api.operator.post("/tasks/nightly_report/resume"), 409)
    assert "not paused" in body["detail"]
    problem(api.operator.post("/tasks/nope/pause"), 404)


def test_delete_a_schedule(api: Api) -> None:
    api.admin.post("/tasks/boom/schedule?schedule_id=boom-yearly", json="0 0 1 1 *")
    assert api.admin.delete("/schedules/boom-yearly").status_code == 204
    problem(api.viewer.get("/schedules/boom-yearly"), 404)
    problem(api.admin.delete("/schedules/boom-yearly"), 404)


def test_history_paginates_with_a_total(api: Api) -> None:
    for count in range(3):
        response = api.operator.post(
            "/tasks/echo/execute?wait=true", json={"kwargs": {"count": count}}
        )
        assert response.status_code == 200
    total = api.viewer.get("/tasks/echo/history").json()["total"]
    page = api.viewer.get("/tasks/echo/history?limit=2&offset=1").json()
    assert (page["total"], page["limit"], page["offset"]) == (total, 2, 1)
    assert len(page["items"]) == 2 and all(r["task_name"] == "echo" for r in page["items"])
    newest_first = [
        r["scheduled_for"] for r in api.viewer.get("/tasks/echo/history").json()["items"]
    ]
    assert newest_first == sorted(newest_first, reverse=True)
    problem(api.viewer.get("/tasks/nope/history"), 404)
    assert problem(api.viewer.get("/tasks/echo/history?limit=0"), 422)["field"] == "limit"


def test_a_body_of_the_wrong_kind_names_the_body_not_a_type(api: Api) -> None:
    """Hole (an audit): ``null`` as a schedule answered ``field: "dict[str,any]"`` (the
    union member pydantic tried), not a field of the request."""
    answer = problem(
        api.admin.post(
            "/tasks/boom/schedule", content="null", headers={"Content-Type": "application/json"}
        ),
        422,
    )
    assert answer["field"] == "body"
    assert {e["field"] for e in answer["errors"]} == {"body"}
