"""The store contract, nodes: deleting a node's record (the leader's expiry of a node
silent past ``node_expiry``, or the node's own clean stop) deletes what the state area
keeps for that node, its drain request; on every backend."""

from __future__ import annotations

from schedkit.models import Node
from schedkit.store import Store
from schedkit.store.base_admin import DRAIN_KEY
from tests.store._contract import T0


async def test_deleting_a_node_deletes_its_drain_request(store: Store) -> None:
    """A node killed (kill -9, OOM) while a drain was asked of it never deletes the
    request itself; its id is unique to that process start, so nothing else would."""
    for node_id in ("host:41:dead01", "host:42:live02"):
        await store.upsert_node(
            Node(id=node_id, hostname="h", pid=1, started_at=T0, heartbeat_at=T0)
        )
        assert await store.set_state(DRAIN_KEY + node_id, {"by": "alice"}, 0)
    assert await store.set_state(DRAIN_KEY + "host:41:dead01", {"undo": True}, 1)

    assert await store.delete_node("host:41:dead01") is True

    assert await store.get_state(DRAIN_KEY + "host:41:dead01") is None
    assert [e.key for e in await store.list_state(DRAIN_KEY)] == [DRAIN_KEY + "host:42:live02"]
    assert [n.id for n in await store.list_nodes()] == ["host:42:live02"]


async def test_a_drain_request_goes_also_when_the_record_is_already_gone(store: Store) -> None:
    assert await store.set_state(DRAIN_KEY + "gone:7:abc123", {"by": "alice"}, 0)
    assert await store.delete_node("gone:7:abc123") is False
    assert await store.list_state(DRAIN_KEY) == []
