"""A node of an older release that was paused (a VM paused, SIGSTOP, a long stall) for
more than lost_after counts as gone for an upgrade its code cannot work with; when it
resumes on the upgraded store, every store names it (``store._upgrade.outlived``): the
node list, `schedkit check` and a warning of the leader.

The old node is simulated by writing its row and heartbeats through the store, as its
code would, rather than running an older release."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient

from schedkit import Scheduler, TaskRegistry
from schedkit.models import Node, utcnow
from schedkit.readmodels import node_views
from schedkit.store import create_store
from schedkit.store.sql import migrations as _sql_migrations
from tests.engine.conftest import fast_config
from tests.stopping import stop_or_fail
from tests.store._versions import create_v1, on_database

pytestmark = pytest.mark.parametrize(
    "store_url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
        pytest.param("mongo", id="mongo", marks=pytest.mark.external_service),
    ],
    indirect=True,
)


def old_node(node_id: str, silent: float) -> Node:
    """A node row as older code writes it, last beaten ``silent`` s ago."""
    now = utcnow()
    return Node(id=node_id, hostname=f"host-{node_id}", pid=4242,
                started_at=now - timedelta(hours=1),
                heartbeat_at=now - timedelta(seconds=silent), version="0.9.0")  # fmt: skip


async def older_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store as a release before its last incompatible upgrade left it, with a node
    paused for 30 s and one crashed a minute ago."""
    if store_url.startswith("mongodb"):
        async with create_store(store_url) as store:
            for node in (old_node("paused", 30), old_node("crashed", 60)):
                await store.upsert_node(node)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store_url)
        try:
            meta = client[urlsplit(store_url).path.lstrip("/")]["schedkit_meta"]
            await meta.update_one({"_id": "schema"}, {"$set": {"version": 4}})
        finally:
            await client.close()
        return
    await on_database(store_url, create_v1)
    released = list(_sql_migrations.MIGRATIONS)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", released[:4])  # code of version 5
    async with create_store(store_url) as store:
        for node in (old_node("paused", 30), old_node("crashed", 60)):
            await store.upsert_node(node)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", released)


async def test_a_paused_old_node_that_resumes_after_the_upgrade_is_named(
    store_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The node start upgrades (lost_after 3 s: the paused node looks gone), then the
    paused node resumes and beats again: it alone is named, not the node that upgraded,
    not the crashed one, not a node started later."""
    await older_store(store_url, monkeypatch)
    scheduler = Scheduler(fast_config(store_url), registry=TaskRegistry())
    await scheduler.start()
    try:
        store = scheduler.store
        async with create_store(store_url) as later:  # a node started after the upgrade
            await later.upsert_node(replace(old_node("later", 0), started_at=utcnow()))
        assert await store.outlived_nodes() == []
        resumed = old_node("paused", 0)
        await store.upsert_node(resumed)  # its heartbeat, as its old code writes it
        found = await store.outlived_nodes()
        assert [o.node.id for o in found] == ["paused"]
        problem = found[0].problem()
        assert "node paused (host host-paused, pid 4242" in problem
        assert "Stop that node" in problem and "schedkit db rebuild-rollups" in problem
        views = {v.id: v.outlived_upgrade for v in await node_views(scheduler)}
        assert views == {"paused": True, "crashed": False, "later": False,
                         scheduler.node_id: False}  # fmt: skip
        # The leader says so once.
        reaper = scheduler._loop.reaper
        with caplog.at_level(logging.WARNING, logger="schedkit.engine.reaper"):
            for _ in range(2):
                reaper._expire_at = None
                await reaper.expire_nodes()
        said = [r.getMessage() for r in caplog.records if "node paused" in r.getMessage()]
        assert len(said) == 1 and "was paused (or let through" in said[0]
        # Stopped, its row is gone (a stop removes it): nothing is named any more.
        assert await store.delete_node("paused")
        assert await store.outlived_nodes() == []
        # Paused past node_expiry before the upgrade, its row was deleted by the leader
        # and is not in the upgrade's record (a re-audit): started long before the
        # upgrade and beating again, it is named all the same.
        await store.upsert_node(old_node("expired", 0))
        assert [o.node.id for o in await store.outlived_nodes()] == ["expired"]
    finally:
        await stop_or_fail(scheduler, 2.0)
