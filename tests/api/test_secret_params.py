"""Secret parameters over real HTTP: a ``SecretStr`` one is stored with its real value
and shown masked, whatever its name, in runs, schedules and the audit trail; a schedule
sent back as it was shown keeps it. Invalid kwargs are answered with every error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from schedkit import TaskRegistry, task
from schedkit.store import create_store
from tests.api.conftest import Api, open_api
from tests.api.helpers import problem


@task("login_secret_api", retry={"max_retries": 0})
def login_secret_api(user: str, broker_pw: SecretStr) -> str:
    return f"val={broker_pw.get_secret_value()}"


@task("fetch_prices", retry={"max_retries": 0})
def fetch_prices(day: date, limit: int = 10) -> None: ...


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    registry = TaskRegistry()
    for t in (login_secret_api, fetch_prices):
        registry.register_task(t)
    path: Path = tmp_path_factory.mktemp("api-secrets") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", registry=registry)


async def test_a_secret_str_parameter_is_kept_and_shown_masked(api: Api) -> None:
    answer = api.operator.post(
        "/tasks/login_secret_api/execute",
        params={"wait": "true", "timeout": 10},
        json={"kwargs": {"user": "bob", "broker_pw": "realpass"}},
    )
    assert answer.status_code == 200, answer.text
    run = answer.json()["run"]
    assert run["status"] == "success", run
    assert run["kwargs"] == {"user": "bob", "broker_pw": "***"}
    assert run["result"]["data"] == "val=***"
    assert "realpass" not in api.viewer.get(f"/runs/{run['id']}").text
    store = create_store(api.store_url)
    await store.open()
    try:
        stored = await store.get_run(run["id"])
    finally:
        await store.close()
    assert stored is not None and stored.kwargs["broker_pw"] == "realpass"
    assert stored.result is not None and stored.result["data"] == "val=realpass"


async def test_a_schedule_sent_back_as_shown_keeps_its_secret(api: Api) -> None:
    spec = {"trigger": "cron", "hour": 3}
    kwargs = {"user": "bob", "broker_pw": "realpass"}
    made = api.admin.post(
        "/tasks/login_secret_api/schedule", json={"trigger": spec, "kwargs": kwargs}
    )
    assert made.status_code in (200, 201), made.text
    shown = made.json()["schedule"]
    assert shown["kwargs"] == {"user": "bob", "broker_pw": "***"}
    # The console's editor sends back the kwargs it read.
    again = api.admin.post(
        "/tasks/login_secret_api/schedule",
        params={"expected_version": shown["version"]},
        json={"trigger": spec, "kwargs": shown["kwargs"]},
    )
    assert again.status_code in (200, 201), again.text
    audit = api.admin.get("/audit", params={"target": "login_secret_api"})
    assert audit.status_code == 200, audit.text
    assert "realpass" not in audit.text and '"***"' in audit.text
    listed = api.viewer.get("/schedules/login_secret_api").json()
    assert listed["kwargs"]["broker_pw"] == "***"
    store = create_store(api.store_url)
    await store.open()
    try:
        schedule = await store.get_schedule("login_secret_api")
    finally:
        await store.close()
    assert schedule is not None and schedule.kwargs["broker_pw"] == "realpass"


def test_invalid_kwargs_are_answered_with_every_error(api: Api) -> None:
    """An audit: ``limit: true`` was refused before the rest was validated, so the 422
    named only ``kwargs.limit`` (then the next request the next error)."""
    sent = {"kwargs": {"day": "2026-02-30", "limt": 3, "limit": True}}
    body = problem(api.operator.post("/tasks/fetch_prices/execute", json=sent), 422)
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"kwargs.day", "kwargs.limt", "kwargs.limit"}, json.dumps(body)
    assert fields["kwargs.limit"] == "Input should be a number, not a boolean"
    assert body["field"] == "kwargs.limt"
