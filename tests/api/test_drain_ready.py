"""A draining node is not ready, and a drain can be undone (a design audit: ``POST
/nodes/{id}/drain?grace=0`` left the node draining, a later run stayed ``pending``, yet
``/ready`` answered ready, leader; nothing undid the drain but a restart)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schedkit import TaskRegistry
from tests.api.conftest import Api, open_api
from tests.api.helpers import problem, wait_run
from tests.api.tasks import echo


def _echo_only() -> TaskRegistry:
    registry = TaskRegistry()
    registry.register_task(echo)
    return registry


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(f"sqlite:///{tmp_path / 'schedkit.db'}", registry=_echo_only())


def test_a_draining_node_is_not_ready_until_its_drain_is_undone(api: Api) -> None:
    me = api.viewer.get("/ready").json()["node_id"]
    assert api.operator.post(f"/nodes/{me}/drain", params={"grace": 0}).status_code == 202
    anon = problem(api.anon.get("/ready"), 503)
    assert anon["type"] == "urn:schedkit:problem:draining"
    assert me not in anon["detail"], "an anonymous caller learns no host"
    known = problem(api.viewer.get("/ready"), 503)
    assert known["node_id"] == me and f"/nodes/{me}/undrain" in known["detail"]
    run_id = api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": 1}}).json()[
        "run_id"
    ]
    assert api.viewer.get(f"/runs/{run_id}").json()["status"] == "pending"

    problem(api.viewer.post(f"/nodes/{me}/undrain"), 403)
    undone = api.operator.post(f"/nodes/{me}/undrain")
    assert undone.status_code == 202, undone.text
    assert undone.json()["draining"] is False and undone.json()["stopping"] is False
    assert api.anon.get("/ready").json() == {"status": "ready", "store": "ok"}
    again = problem(api.operator.post(f"/nodes/{me}/undrain"), 409)
    assert again["detail"] == f"node {me!r} is not draining"
    assert wait_run(api.viewer, run_id)["status"] == "success"
    audit = api.admin.get("/audit", params={"action": "node.undrain"}).json()["items"]
    assert [(e["actor"], e["target"]) for e in audit] == [("operator-bot", me)]
    problem(api.operator.post("/nodes/nobody:1:abcdef/undrain"), 404)


def test_a_node_that_executes_nothing_stays_ready_when_drained(tmp_path: Path) -> None:
    """A drain changes nothing for a node that executes no run (``serve --no-executor``):
    it serves the API, and stays in its load balancer."""
    url = f"sqlite:///{tmp_path / 'schedkit.db'}"
    for api in open_api(url, registry=_echo_only(), executor={"enabled": False}):
        me = api.viewer.get("/ready").json()["node_id"]
        assert api.operator.post(f"/nodes/{me}/drain").status_code == 202
        ready = api.viewer.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
