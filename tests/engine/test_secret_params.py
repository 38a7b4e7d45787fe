"""A run's secret parameters (named as secrets, or typed ``SecretStr`` whatever their
name) on every store: the store keeps their real values and the task gets them; what
readers see masks them: in kwargs, and wherever the run wrote them (its error,
traceback, log lines, progress note, result), in alerts and in the node's own log."""

from __future__ import annotations

import json
import logging
from zoneinfo import ZoneInfo

import pytest

from schedkit import RunStatus, Scheduler
from schedkit.alerts.config import AlertKind
from schedkit.alerts.messages import MessageContext, render
from schedkit.alerts.rules import Alert
from schedkit.models import Run, utcnow
from schedkit.readmodels import audit_view, run_view, schedule_view

from .conftest import MakeScheduler
from .secret_tasks import broker_isolated, broker_login, broker_typed, login_secret

UTC = ZoneInfo("UTC")
PASSWORD = "Hunter2xyz"


def _shown(run: Run) -> str:
    return json.dumps(run_view(run, UTC).model_dump(mode="json"))


async def test_a_secret_str_parameter_is_stored_and_passed_with_its_real_value(
    make_scheduler: MakeScheduler,
) -> None:
    """An audit: stored and passed as ``"**********"`` (pydantic's JSON form of a secret),
    the run succeeding with the real value lost."""
    s = await make_scheduler(login_secret)
    done = await s.run_now(
        "login_secret", {"user": "bob", "broker_pw": "realpass"}, wait=True, timeout=30
    )
    assert done.status is RunStatus.SUCCESS, done.error
    stored = await s.store.get_run(done.id)
    assert stored is not None
    assert stored.kwargs == {"user": "bob", "broker_pw": "realpass"}
    assert stored.result is not None and stored.result["data"] == "val=realpass"
    # Readers: masked as a secret, though its name is none.
    view = run_view(stored, UTC)
    assert view.kwargs == {"user": "bob", "broker_pw": "***"}
    assert view.result is not None and view.result["data"] == "val=***"
    assert "realpass" not in _shown(stored)


async def test_a_secret_str_kwarg_of_a_schedule_is_kept_and_masked(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(login_secret)
    config = {"trigger": "cron", "hour": 3, "kwargs": {"user": "bob", "broker_pw": "realpass"}}
    await s.add_task("login_secret", config, schedule_id="nightly_login")
    schedule = await s.get_schedule("nightly_login")
    assert schedule is not None and schedule.kwargs["broker_pw"] == "realpass"
    view = schedule_view(schedule, UTC, next_fire=None)
    assert view.kwargs == {"user": "bob", "broker_pw": "***"}
    # Saved back as shown (the console's editor sends what it read), it keeps its value.
    shown = {**config, "kwargs": view.kwargs}
    await s.add_task("login_secret", shown, schedule_id="nightly_login")
    again = await s.get_schedule("nightly_login")
    assert again is not None and again.kwargs["broker_pw"] == "realpass"
    events = await s.list_audit(target="nightly_login")
    assert events
    for event in events:
        assert "realpass" not in json.dumps(audit_view(event).model_dump(mode="json"))


@pytest.mark.parametrize("task_fn", [broker_login, broker_typed], ids=["named", "typed"])
async def test_the_values_of_secret_parameters_are_masked_where_the_run_wrote_them(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture, task_fn: object
) -> None:
    """An audit: ``broker_password`` was ``***`` in the kwargs, but the run's error and
    its log line ``connecting as bob/Hunter2xyz`` showed it."""
    s = await make_scheduler(task_fn)
    name = getattr(task_fn, "task_name")  # noqa: B009
    secret_key = "broker_password" if name == "broker_login" else "broker_pw"
    with caplog.at_level(logging.INFO):
        done = await s.run_now(name, {"user": "bob", secret_key: PASSWORD}, wait=True, timeout=30)
    await _assert_masked(s, done, caplog)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_an_isolated_runs_secret_values_are_masked_too(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    s = await make_scheduler(broker_isolated)
    with caplog.at_level(logging.INFO):
        done = await s.run_now(
            "broker_isolated", {"user": "bob", "broker_password": PASSWORD}, wait=True, timeout=60
        )
    await _assert_masked(s, done, caplog)


async def _assert_masked(s: Scheduler, done: Run, caplog: pytest.LogCaptureFixture) -> None:
    assert done.status is RunStatus.FAILED
    stored = await s.store.get_run(done.id)
    assert stored is not None and stored.error is not None
    assert PASSWORD in json.dumps(stored.kwargs)  # the store keeps it
    # As recorded: the error and traceback, the progress note, the log lines.
    assert stored.error["message"] == "login refused for bob:***"
    assert PASSWORD not in stored.error["traceback"]
    assert stored.progress is not None and stored.progress["note"] == "logging in as bob/***"
    lines = [line.message for line in await s.get_logs(done.id)]
    assert any("connecting as bob/***" in line for line in lines), lines
    assert any("ConnectionError: refused: ***" in line for line in lines), lines
    assert not any(PASSWORD in line for line in lines), lines
    # As shown: the API's, console's and CLI's view, an alert, the node's own log.
    assert PASSWORD not in _shown(stored)
    alert = Alert(kind=AlertKind.FAILED, task_name=stored.task_name, at=utcnow(), run=stored)
    message = render(alert, MessageContext(language="en"))
    assert "login refused for bob:***" in message.body
    assert PASSWORD not in message.title + message.body
    assert "connecting as bob/***" in caplog.text
    assert PASSWORD not in caplog.text
