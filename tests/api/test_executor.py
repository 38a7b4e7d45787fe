"""A schedule's ``executor`` over the API: validated (an unknown one is a 422 naming the
field, nothing stored), stored, shown, and recorded on the runs it fires."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.helpers import problem


def test_an_unknown_executor_is_a_422_naming_the_field(api: Api) -> None:
    before = api.viewer.get("/schedules/nightly_report").json()
    for spec in (
        {"trigger": "cron", "hour": 1, "executor": "kubernetes"},  # the document's flat shape
        {"trigger": {"trigger": "cron", "hour": 1}, "executor": "kubernetes"},
        {"trigger": {"trigger": "cron", "hour": 1}, "executor": 3},
    ):
        body = problem(api.admin.post("/tasks/nightly_report/schedule", json=spec), 422)
        assert body["field"] == "executor", (spec, body)
        assert "local" in body["errors"][0]["message"] and "celery" in body["errors"][0]["message"]
    bulk = [
        {"id": "x-1", "task": "echo", "schedule": {"trigger": "cron", "hour": 1, "executor": "k8s"}}
    ]
    body = problem(api.admin.post("/schedules", json=bulk), 422)
    assert [e["field"] for e in body["errors"]] == ["0.schedule.executor"]
    assert api.viewer.get("/schedules/nightly_report").json() == before
    problem(api.viewer.get("/schedules/x-1"), 404)


def test_the_executor_is_stored_and_shown(api: Api) -> None:
    spec = {"trigger": {"trigger": "cron", "hour": 1}, "executor": "celery"}
    body = api.admin.post("/tasks/slow/schedule?schedule_id=slow-celery", json=spec).json()
    assert body["schedule"]["executor"] == "celery"
    assert api.viewer.get("/schedules/slow-celery").json()["executor"] == "celery"
    # Without it: the task's own choice (null), as every schedule had before.
    assert api.viewer.get("/schedules/nightly_report").json()["executor"] is None
