"""What the façade knows of the nodes sharing its store: which are alive, asking one of
them to drain, and which pending runs no live node can take (their labels)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from schedkit.clock import Clock
from schedkit.errors import NodeNotFoundError, ValidationError
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


#: The longest drain grace one may ask for: a week (a run that long is handed back).
MAX_DRAIN_GRACE = 7 * 86400.0


async def request_drain(
    store: Store,
    here: NodeLifecycle,
    audit: Auditor,
    node_id: str,
    actor: str,
    grace: float | None = None,
) -> Node:
    """Ask a live node to drain through the store's state area (each node looks at each
    heartbeat); this node drains at once. ``grace``: seconds its running runs get to
    finish before they are handed back (default: the node's ``shutdown_grace``)."""
    if grace is not None and not 0 <= grace <= MAX_DRAIN_GRACE:
        raise ValidationError(
            f"a drain's grace is 0 to {MAX_DRAIN_GRACE:g} seconds, not {grace:g}", field="grace"
        )
    nodes = {n.id: n for n in await store.list_nodes()}
    node = nodes.get(node_id)
    now = here.clock.now()
    if node is None or not alive(node, here.config.scheduler.lost_after, now):
        raise NodeNotFoundError(node_id)
    request: dict[str, object] = {"by": actor, "at": now.isoformat()}
    if grace is not None:
        request["grace"] = grace
    await store.set_state(DRAIN_KEY + node_id, request, 0)
    detail = None if grace is None else f"grace {grace:g} s"
    await audit.record(actor, "node.drain", node_id, detail=detail)
    if node_id == here.node_id:
        here.start_drain(grace)
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
