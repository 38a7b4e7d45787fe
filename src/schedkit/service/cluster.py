"""What the façade knows of the nodes sharing its store: which are alive, asking one of
them to drain or to undo its drain, and which pending runs no live node can take (their
task, their labels).

A request is the node's entry in the store's state area (``DRAIN_KEY`` + its id,
deleted with the node's row): a drain, or an undo (``"undo": true``), the last written
replacing the one before. Each node reads its entry at each heartbeat and acts on a
version it has not acted on yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.engine.leadership import LEASE_NAME
from schedkit.errors import ConflictError, NodeNotFoundError, ValidationError
from schedkit.models import JSON, LOCAL_EXECUTOR, Lease, Node, Run, RunStatus
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.service.node import NodeLifecycle, drain_undone
from schedkit.stopping import STOP_DEADLINE, StopDeadline
from schedkit.store._upgrade import Outlived
from schedkit.store.base import Store
from schedkit.store.base_admin import DRAIN_KEY
from schedkit.waiting import no_labels_reason, no_task_reason, taken_by_none, tasks_of


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
    node = await _live_node(store, here, node_id)
    request: JSON = {"by": actor, "at": here.clock.now().isoformat()}
    if grace is not None:
        request["grace"] = grace
    version = await _write_request(store, node_id, request)
    detail = None if grace is None else f"grace {grace:g} s"
    await audit.record(actor, "node.drain", node_id, detail=detail)
    if node_id == here.node_id:
        here.start_drain(grace)
        here.acted_on(version)
    return node


async def request_undrain(
    store: Store, here: NodeLifecycle, audit: Auditor, node_id: str, actor: str
) -> Node:
    """Undo the drain of a live node (this one at once; another at its next heartbeat),
    or a drain asked of it that it has not seen yet. ConflictError when it is not
    draining, when it is stopping (its drain is part of the stop: a worker's SIGTERM, a
    worker's drain once over), or when it runs a release that cannot undo one."""
    node = await _live_node(store, here, node_id)
    if "stopping" not in node.info:
        raise ConflictError(
            f"node {node_id!r} runs {node.version}, which cannot undo a drain: "
            "restart it on this release"
        )
    if node.info.get("stopping"):
        raise ConflictError(
            f"node {node_id!r} is stopping: its drain is part of the stop and cannot be "
            "undone (start the node again)"
        )
    asked = await store.get_state(DRAIN_KEY + node_id)
    pending = asked is not None and not drain_undone(asked.value)
    if node_id == here.node_id:
        undone = await here.undrain()
    else:
        undone = bool(node.info.get("draining"))
    if not (undone or pending):
        raise ConflictError(f"node {node_id!r} is not draining")
    version = await _write_request(
        store, node_id, {"undo": True, "by": actor, "at": here.clock.now().isoformat()}
    )
    if node_id == here.node_id:
        here.acted_on(version)
    await audit.record(actor, "node.undrain", node_id)
    return node


async def _live_node(store: Store, here: NodeLifecycle, node_id: str) -> Node:
    node = next((n for n in await store.list_nodes() if n.id == node_id), None)
    if node is None or not node.alive(here.clock.now(), here.config.scheduler.lost_after):
        raise NodeNotFoundError(node_id)
    return node


#: Attempts to write a request while others write the same node's.
_WRITE_TRIES = 5


async def _write_request(store: Store, node_id: str, request: JSON) -> int:
    """Replace the node's request with ``request`` (compare-and-set on the version read:
    of requests written at once, one wins and the others are written after it); the
    version written."""
    key = DRAIN_KEY + node_id
    for _ in range(_WRITE_TRIES):
        entry = await store.get_state(key)
        version = entry.version if entry is not None else 0
        if await store.set_state(key, request, version):
            return version + 1
    raise ConflictError(f"node {node_id!r}: its drain is being asked and undone at once; retry")


async def waiting_reasons(
    store: Store, clock: Clock, lost_after: float, runs: Sequence[Run]
) -> dict[str, str]:
    """Why pending runs wait that no live executor can take: it runs none of their task
    (:mod:`schedkit.waiting`: said only while some executor lives, and every live one
    lists its tasks), or it offers none of their labels. Runs some node could take are
    left out (they wait for a slot, not a node)."""
    pending = [r for r in runs if r.status is RunStatus.PENDING]
    if not pending:
        return {}  # no node list to read
    now = clock.now()
    executors = [n for n in await store.list_nodes() if takes_runs(n) and n.alive(now, lost_after)]
    takers = [tasks_of(n) for n in executors]
    offers = [offered_labels(n) for n in executors]
    reasons: dict[str, str] = {}
    for run in pending:
        # Another executor's runs (Celery) are claimed by its workers, by their ids.
        if takers and run.executor == LOCAL_EXECUTOR and taken_by_none(run.task_name, takers):
            reasons[run.id] = no_task_reason(run.task_name)
        elif run.labels and not any(set(run.labels) <= offered for offered in offers):
            reasons[run.id] = no_labels_reason(run.labels)
    return reasons


class DrainMethods:
    """The nodes' list and the drain methods of the façade, :class:`schedkit.Scheduler`
    (kept here, beside what they call, so that the façade's module stays readable)."""

    store: Store
    clock: Clock
    config: SchedkitConfig
    _node: NodeLifecycle
    _audit: Auditor
    _stop_deadline: StopDeadline

    def _require_started(self) -> None:
        raise NotImplementedError  # the Scheduler's

    async def list_nodes(self) -> list[Node]:
        """The node records, by id (a silent node is listed until it ages out)."""
        return await self.store.list_nodes()

    async def outlived_nodes(self, nodes: list[Node] | None = None) -> list[Outlived]:
        """Nodes of older code that went on working after an upgrade of the store they
        cannot work with (paused, not stopped, through it): ``schedkit check`` names them.
        ``nodes``: the records, when read already."""
        return await self.store.outlived_nodes(nodes)

    async def leader_lease(self) -> Lease | None:
        """The scheduler lease if it is held now (expired leases are None)."""
        lease = await self.store.get_lease(LEASE_NAME)
        return lease if lease is not None and lease.expires_at > self.clock.now() else None

    @property
    def draining(self) -> bool:
        """Whether this node is draining: taking no new run (:meth:`drain`)."""
        return self._node.draining

    async def drain(self, grace: float | None = None, *, stopping: bool = False) -> None:
        """Stop taking runs here, let running runs finish for ``grace`` seconds (default
        ``scheduler.shutdown_grace``), then hand the rest back to pending for any node to
        claim. The node keeps serving and firing; stop it afterwards. ``stopping``: the
        drain is the first step of stopping this node (a worker's SIGTERM): it can no
        longer be undone."""
        self._require_started()
        if stopping:  # the stop after it keeps this deadline: the grace is waited once
            self._stop_deadline.begin(
                self.config.scheduler.shutdown_grace if grace is None else grace
            )
            # The drain's task (started below) inherits it; so does the caller's stop.
            STOP_DEADLINE.set(self._stop_deadline)
        await self._node.start_drain(grace, stopping=stopping)

    async def undrain(self) -> bool:
        """Undo this node's drain: it takes runs again (runs it handed back already stay
        handed back). False if it is not draining; ConflictError while it stops."""
        self._require_started()
        return await self._node.undrain()

    async def wait_drained(self) -> None:
        """Return once this node has drained (however the drain was asked)."""
        await self._node.drained.wait()

    async def request_drain(
        self, node_id: str, *, actor: str = SYSTEM, grace: float | None = None
    ) -> Node:
        """Ask a live node sharing the store (this one included) to drain; another node
        starts within ``scheduler.heartbeat_interval``. NodeNotFoundError otherwise.
        ``grace``: seconds its running runs get to finish before they are handed back
        (default: that node's ``scheduler.shutdown_grace``): for runs longer than that,
        which would otherwise start over on another node."""
        return await request_drain(self.store, self._node, self._audit, node_id, actor, grace)

    async def request_undrain(self, node_id: str, *, actor: str = SYSTEM) -> Node:
        """Undo the drain of a live node sharing the store (this one at once, another
        within ``scheduler.heartbeat_interval``): NodeNotFoundError, or ConflictError
        when it is not draining or is stopping (its drain ends in its stop)."""
        return await request_undrain(self.store, self._node, self._audit, node_id, actor)

    async def waiting_reasons(self, runs: Sequence[Run]) -> dict[str, str]:
        """Why each of ``runs`` that no live node can take waits (its task no node runs,
        or the labels it requires that no node offers), by run id."""
        lost_after = self.config.scheduler.lost_after
        return await waiting_reasons(self.store, self.clock, lost_after, runs)
