"""A node whose database role may not update the node table (its heartbeat refused)
looked fine to itself and dead to everyone else: ``/ready`` answered 200, ``/health``
said ``failing: []``, while every other node listed it silent ("no live node on this
store") and its log said the same WARNING every 3 s; and a drain asked of it was never
read (the request was read after the beat, in the same try). Now the node heartbeat
counts for ``/ready`` and ``/health``, its refusal is logged once and tried again slowly,
and a drain request is read whatever the beat's outcome."""

from __future__ import annotations

import asyncio
import logging

import pytest

from schedkit.models import utcnow
from schedkit.store import create_store
from schedkit.store.base_admin import DRAIN_KEY
from tests.api.conftest import Api, open_api
from tests.api.server import FAST
from tests.pg_roles import NodeRole, until

pytestmark = pytest.mark.external_service

NODES = "schedkit_nodes"


async def _ask_drain(owner_url: str, node_id: str) -> None:
    """A drain request as another node writes it (the node looks at it at each beat)."""
    async with create_store(owner_url) as store:
        assert await store.set_state(DRAIN_KEY + node_id, {"by": "test", "at": str(utcnow())}, 0)


def test_a_refused_heartbeat_makes_the_node_unready_and_is_said_once(
    node: NodeRole, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schedkit.service.node")
    worker = {"scheduler": {**FAST["scheduler"], "enabled": False}}
    for api in open_api(node.url, **worker):
        _refuse_and_grant(api, node, caplog)


def _refuse_and_grant(api: Api, node: NodeRole, caplog: pytest.LogCaptureFixture) -> None:
    assert api.anon.get("/ready").status_code == 200
    [row] = api.viewer.get("/nodes").json()
    node_id = row["id"]

    node.sql(f"REVOKE UPDATE ON {NODES} FROM {node.role}")
    until(lambda: api.anon.get("/ready").status_code == 503, 15, "unready once refused")
    anon = api.anon.get("/ready").json()["detail"]
    assert anon == (
        "not ready: the node heartbeat fails: the store refuses this node's role "
        "(see the node's log)"
    )
    known = api.viewer.get("/ready").json()["detail"]
    assert known.startswith("not ready: the node heartbeat fails since "), known
    assert f"permission denied for table {NODES}" in known
    health = api.anon.get("/health")
    assert health.status_code == 200
    [failing] = health.json()["failing"]
    assert (failing["loop"], failing["refused"]) == ("node heartbeat", True)

    # A drain asked meanwhile is read at the next try, although the beat fails again.
    asyncio.run(_ask_drain(node.owner_url, node_id))

    def drains() -> bool:
        return any("draining: no new runs are taken here" in r.getMessage() for r in caplog.records)

    until(drains, 15, "the drain request read while the beat is refused")
    said = [r for r in caplog.records if "node heartbeat failed" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.ERROR], [r.getMessage() for r in said]
    assert "retried every 30 s at most until it works" in said[0].getMessage()
    assert f"role {node.role} lacks a privilege" in said[0].getMessage()
    # What the others see: the node silent (it cannot say more, its row is what fails).
    until(lambda: not api.viewer.get("/nodes").json()[0]["alive"], 10, "listed silent")

    node.sql(f"GRANT UPDATE ON {NODES} TO {node.role}")

    def listed_draining() -> bool:
        [row] = api.viewer.get("/nodes").json()
        return bool(row["alive"] and row["draining"])

    until(listed_draining, 40, "alive again once granted, shown draining")
    assert api.anon.get("/health").json()["failing"] == []
    ready = api.anon.get("/ready")
    assert ready.status_code == 503 and ready.json()["detail"] == "not ready: the node is draining"
