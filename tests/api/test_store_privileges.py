"""A database role missing a table's privileges (an audit: a schema version added the
rollups table, and the node's role, granted "all tables" before, had none on it): the
node logged "retrying in 8 s" at every tick, nothing fired, and ``/ready`` and
``schedkit check`` said all was well. Now the refusal is logged once as an error with what
to do, ``/ready`` answers 503 with the reason, ``check`` names the table and the GRANT,
and a grant made while the node runs lets it fire again without a restart."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from typer.testing import CliRunner

from schedkit import TaskRegistry
from schedkit.cli import app as cli_app
from tests.api.conftest import Api, open_api
from tests.api.tasks import echo
from tests.pg_roles import NodeRole, until

pytestmark = pytest.mark.external_service

ROLLUPS = "schedkit_run_rollups"


def _check(url: str) -> list[str]:
    result = CliRunner().invoke(cli_app, ["--store", url, "check", "--json"])
    return [
        p["problem"] for p in json.loads(result.stdout)["problems"] if "privilege" in p["where"]
    ]


def _refusals(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [
        r
        for r in records
        if r.name == "schedkit.engine.retries"
        and "scheduler loop" in r.getMessage()
        and "permission denied" in r.getMessage()
    ]


def test_a_revoked_table_makes_the_node_unready_until_granted_again(
    node: NodeRole, caplog: pytest.LogCaptureFixture
) -> None:
    registry = TaskRegistry()
    registry.register_task(echo)
    caplog.set_level(logging.DEBUG, logger="schedkit.engine.retries")
    assert _check(node.url) == []
    for api in open_api(node.url, registry=registry):
        _revoke_and_grant(api, node, caplog)


def _revoke_and_grant(api: Api, node: NodeRole, caplog: pytest.LogCaptureFixture) -> None:
    url, role = node.url, node.role
    ticks = {"trigger": "interval", "seconds": 1, "kwargs": {"count": 1}}
    saved = api.admin.post("/tasks/echo/schedule?schedule_id=tick", json=ticks)
    assert saved.status_code in (200, 201), saved.text
    until(lambda: _fired(api) > 0, 15, "the schedule fires")
    assert api.anon.get("/ready").status_code == 200

    node.sql(f"REVOKE ALL ON {ROLLUPS} FROM {role}")
    until(lambda: api.anon.get("/ready").status_code == 503, 15, "unready once refused")
    anon = api.anon.get("/ready").json()
    assert "scheduler loop fails" in anon["detail"] and ROLLUPS not in anon["detail"]
    known = api.viewer.get("/ready")
    assert known.status_code == 503
    assert f"permission denied for table {ROLLUPS}" in known.json()["detail"]
    assert f"role {role} lacks a privilege" in known.json()["detail"]
    # Retried (a debug line), but logged as an error once.
    until(lambda: len(_refusals(caplog.records)) >= 2, 20, "retried")
    errors = [r for r in _refusals(caplog.records) if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "schedkit check" in errors[0].getMessage()
    assert not [r for r in _refusals(caplog.records) if r.levelno == logging.WARNING]
    missing = _check(url)
    assert len(missing) == 1 and f"table {ROLLUPS}" in missing[0], missing
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON {ROLLUPS} TO {role};" in missing[0]

    node.sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {ROLLUPS} TO {role}")
    until(lambda: api.anon.get("/ready").status_code == 200, 40, "ready once granted")
    fired = _fired(api)
    until(lambda: _fired(api) > fired, 15, "firing resumes without a restart")
    assert _check(url) == []


def _fired(api: Api) -> int:
    page = api.viewer.get("/runs", params={"schedule_id": "tick", "status": "success"})
    assert isinstance(page, httpx.Response) and page.status_code == 200, page.text
    return int(page.json()["total"])
