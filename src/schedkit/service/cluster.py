"""What the façade knows of the nodes sharing its store: which are alive, asking one of
them to drain, and which pending runs no live node can take (their labels)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from schedkit.clock import Clock
from schedkit.errors import NodeNotFoundError
from schedkit.models import Node, Run, RunStatus
from schedkit.service.audit import Auditor
from schedkit.service.node import DRAIN_KEY, NodeLifecycle
from schedkit.store.base import Store


def alive(node: Node, lost_after: float, now: datetime) -> bool:
    """Whether the node heartbeated within ``lost_after`` (the reaper's bound too)."""
    return node.heartbeat_at >= now - timedelta(seconds=lost_after)


def offered_labels(node: Node) -> set[str]:
    labels = node.info.get("labels")
    return set(labels) if isinstance(labels, list) else set()


def takes_runs(node: Node) -> bool:
    """An executor that is not draining."""
    return "executor" in node.roles and not node.info.get("draining")


async def request_drain(
    store: Store, here: NodeLifecycle, audit: Auditor, node_id: str, actor: str
) -> Node:
    """Ask a live node to drain through the store's state area (each node looks at each
    heartbeat); this node drains at once."""
    nodes = {n.id: n for n in await store.list_nodes()}
    node = nodes.get(node_id)
    now = here.clock.now()
    if node is None or not alive(node, here.config.scheduler.lost_after, now):
        raise NodeNotFoundError(node_id)
    await store.set_state(DRAIN_KEY + node_id, {"by": actor, "at": now.isoformat()}, 0)
    await audit.record(actor, "node.drain", node_id)
    if node_id == here.node_id:
        here.start_drain()
    return node


async def waiting_reasons(
    store: Store, clock: Clock, lost_after: float, runs: Sequence[Run]
) -> dict[str, str]:
    """Why pending runs that require labels wait: no live executor offers all of them.
    Runs some node could take are left out (they wait for a slot, not a node)."""
    if not any(r.labels and r.status is RunStatus.PENDING for r in runs):
        return {}  # no node list to read
    nodes = await store.list_nodes()
    now = clock.now()
    offers = [offered_labels(n) for n in nodes if takes_runs(n) and alive(n, lost_after, now)]
    reasons: dict[str, str] = {}
    for run in runs:
        if run.status is not RunStatus.PENDING or not run.labels:
            continue
        if not any(set(run.labels) <= offered for offered in offers):
            reasons[run.id] = (
                "no live node offers the labels " + ", ".join(run.labels) + " this run requires"
            )
    return reasons
