"""Runs of dead nodes: a running run whose heartbeat stopped is lost, and retried per
its task's policy (invariant 4: nothing stays ``running`` forever).

Run by the scheduler lease holder every heartbeat interval. The decision (retry or not,
and when) is made here; the store applies each verdict in one atomic step, so a leader
dying halfway leaves no run marked lost that should have been retried.

A silent run is not always a dead one: when the store is slow, run heartbeats can lag
behind while the node is well. So a run is judged lost only if its node does not vouch
for it (:func:`vouched`): each node's own row, heartbeated on its own schedule, lists
the runs it is executing. A live node that does not list a run it should (an orphan: a
claim whose answer never reached the node) does not save it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from schedkit.clock import Clock, zoned
from schedkit.engine import runs
from schedkit.engine.retries import attempt_error, retried_with, retry_at
from schedkit.errors import StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import Node, Run, RunStatus
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.store.values import LostRun

logger = logging.getLogger(__name__)

#: Silent runs judged per pass (the rest wait for the next pass).
REAP_BATCH = 500
#: The key of a node row's ``info`` listing the ids of the runs executing on the node.
NODE_RUNS = "runs"


def vouched(run: Run, node: Node | None, lost_after: float, now: datetime) -> bool:
    """Whether ``run`` (silent for over ``lost_after`` seconds) is spared because its node
    is alive and vouches for it.

    Alive: the node's row was heartbeated within ``lost_after``. It vouches for the run
    if its latest beat lists the run, or if that beat is too close to the run's last
    sign of life to tell (a claim's answer may reach the node after the beat was
    taken): a beat taken ``lost_after`` after the run's last heartbeat that does not
    list the run means the node has lost track of it, and the run is judged lost.
    """
    window = timedelta(seconds=lost_after)
    if node is None or node.heartbeat_at < now - window:
        return False
    if listed(run, node):
        return True
    last_sign = run.heartbeat_at or run.started_at
    return last_sign is not None and node.heartbeat_at < last_sign + window


def doomed(run: Run, node: Node | None, lost_after: float, now: datetime) -> bool:
    """Whether the reaper judges ``run`` lost at its next pass: silent for over
    ``lost_after`` seconds and not vouched for by its node. Other observers (the
    monitor's ``too_long`` check) skip such a run: its node is gone, "still running"
    about it is false (an audit saw too_long and lost sent in the same second)."""
    last_sign = run.heartbeat_at or run.started_at
    if last_sign is not None and last_sign >= now - timedelta(seconds=lost_after):
        return False
    return not vouched(run, node, lost_after, now)


def listed(run: Run, node: Node | None) -> bool:
    """Whether ``node`` (``run``'s) lists it among its running runs in its latest beat."""
    runs = node.info.get(NODE_RUNS) if node is not None else None
    return isinstance(runs, list) and run.id in runs


def lost_verdict(
    run: Run, retry: datetime | None, stale_before: datetime, now: datetime, tz: tzinfo = UTC
) -> LostRun:
    """The verdict on a silent run: lost for good (``retry`` None) or back to pending;
    its reason gives the last heartbeat's time in ``tz`` (the configured zone)."""
    reason = silence_reason(run, now - stale_before, now, tz)
    error = {"type": "RunLost", "message": reason}
    return LostRun(
        run_id=run.id,
        attempt=run.attempt,
        node_id=run.node_id or "",
        stale_before=stale_before,
        now=now,
        retry_at=retry,
        attempt_error=attempt_error(run, RunStatus.LOST, error, run.started_at, now),
        reason=reason,
    )


def silence_reason(run: Run, lost_after: timedelta, now: datetime, tz: tzinfo = UTC) -> str:
    """Why a run is judged lost, in words an operator paged at night reads at once (an
    audit: "since before 2026-12-06T21:13:50.981838+00:00" gave the verdict's cut-off,
    not the run's last sign of life, as a raw ISO time). The time is in ``tz`` with its
    offset: the reason is stored and shown as the run's error, in alerts and the console
    next to times in the configured zone, where a UTC time read as a wrong local one."""
    last = run.heartbeat_at or run.started_at
    limit = f"lost_after {lost_after.total_seconds():g} s"
    if last is None:
        return f"no heartbeat from its node (over {limit})"
    silent = (now - last).total_seconds()
    return (
        f"no heartbeat from its node for {silent:.0f} s (over {limit}; last at {zoned(last, tz)})"
    )


def holds(stored: Run, verdict: LostRun) -> bool:
    """Whether ``stored`` is the run as ``verdict`` left it (lost for good, or requeued
    with the lost attempt's record), not as a later write did."""
    if verdict.retry_at is not None:
        return retried_with(stored, verdict.attempt, verdict.attempt_error)
    return (
        stored.status is RunStatus.LOST
        and stored.attempt == verdict.attempt
        and stored.reason == verdict.reason
    )


class Reaper:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        events: EventBus,
        clock: Clock,
        lost_after: float,
        node_expiry: float,
        retry_due: Callable[[datetime], None],
        store_failed_at: Callable[[], datetime | None] = lambda: None,
        hold: float | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self.store = store
        #: The configured zone, for the time in a lost run's reason.
        self.tz = tz
        #: When the store last failed this node (the lease's calls), and how long
        #: verdicts wait after it (at most lost_after): see _holding.
        self.store_failed_at = store_failed_at
        self.hold = lost_after if hold is None else min(hold, lost_after)
        self.registry = registry
        self.events = events
        self.clock = clock
        self.lost_after = lost_after
        self.node_expiry = node_expiry
        #: Told each retry's time (``Executor.wake_at``): the claims the verdict wakes
        #: pass a retry by until then.
        self.retry_due = retry_due
        self._expire_at: datetime | None = None
        #: Nodes said to have outlived an upgrade (once each: the check is once a minute).
        self._outlived: set[str] = set()
        #: Verdicts of a write that failed: applied all the same if only its answer was
        #: lost, and then no later pass finds their runs (no longer running) to announce.
        self._unsettled: list[tuple[Run, LostRun]] = []

    def _holding(self, failed: datetime | None, now: datetime) -> bool:
        """Whether verdicts wait: the store failed this node lately, so the other nodes
        most likely could not beat either, and judged now, live nodes' runs finished
        meanwhile were run again (0.45 s after a 30 s outage, before their first
        heartbeat). They wait ``hold`` seconds after the last failure (three heartbeat
        intervals: a live node beats within one of the store's return, and this node's
        last failed call may be a retry older): time for the live nodes to beat again,
        and short enough that a connection failing again and
        again (3 s every 15 s in a chaos audit) leaves room for verdicts between its
        failures (it held the verdict on a dead node's run for as long as it flapped
        with a hold of ``lost_after``)."""
        return failed is not None and now - failed < timedelta(seconds=self.hold)

    async def expire_nodes(self) -> int:
        """Delete the rows of nodes silent for ``node_expiry`` seconds (dead nodes age
        out of the node list), and warn of nodes that outlived an upgrade of the store
        (``store._upgrade``); looked at once a minute at most. Returns how many went."""
        now = self.clock.now()
        if self._expire_at is not None and now < self._expire_at:
            return 0
        self._expire_at = now + timedelta(seconds=min(60.0, self.node_expiry))
        cut = now - timedelta(seconds=self.node_expiry)
        gone = 0
        nodes = await self.store.list_nodes()
        for old in await self.store.outlived_nodes(nodes):
            if old.node.id not in self._outlived:
                self._outlived.add(old.node.id)
                logger.warning("%s", old.problem())
        for node in nodes:
            if node.heartbeat_at < cut and await self.store.delete_node(node.id):
                logger.info("node %s silent since %s: removed", node.id, node.heartbeat_at)
                gone += 1
        return gone

    async def reap(self) -> bool:
        """Judge the runs of silent nodes; True when runs became claimable (retries, and
        runs that were queued behind lost ones)."""
        settled = await self._settle() if self._unsettled else False
        now = self.clock.now()
        if self._holding(self.store_failed_at(), now):
            return settled
        stale_before = now - timedelta(seconds=self.lost_after)
        stale = await self.store.stale_runs(stale_before, REAP_BATCH)
        if not stale:
            return settled
        nodes = {n.id: n for n in await self.store.list_nodes()}
        spared = {
            r.id for r in stale if vouched(r, nodes.get(r.node_id or ""), self.lost_after, now)
        }
        if spared:
            # Said as a warning only when the nodes list the runs (their heartbeats do not
            # reach the store). A run too close to its node's last beat to tell (a node
            # killed between its row's beat and its runs', or back from an outage) is
            # judged at a later pass: a warning blamed a slow store for a dead node.
            reported = sum(
                1 for r in stale if r.id in spared and listed(r, nodes.get(r.node_id or ""))
            )
            logger.log(
                logging.WARNING if reported else logging.DEBUG,
                "%d run(s) without heartbeat for %g s not marked lost yet: %s",
                len(spared),
                self.lost_after,
                f"their nodes are alive and report {reported} of them (is the store slow?)"
                if reported
                else "their nodes beat too recently to tell; judged at a later pass",
            )
            stale = [r for r in stale if r.id not in spared]
            if not stale:
                return settled
        verdicts = []
        for run in stale:
            task = self.registry.get_task(run.task_name)
            retry = retry_at(task.retry_policy if task else None, run, RunStatus.LOST, now)
            verdicts.append(lost_verdict(run, retry, stale_before, now, self.tz))
        try:
            applied = await self.store.lose_runs(verdicts)
        except StoreError:
            self._unsettled = list(zip(stale, verdicts, strict=True))
            raise
        for run, verdict, ok in zip(stale, verdicts, applied, strict=True):
            if ok:
                self._announce(run, verdict)
        return any(applied) or settled

    async def _settle(self) -> bool:
        """Announce the verdicts of a failed write that the store holds; whether any."""
        stored = await self.store.get_runs([run.id for run, _ in self._unsettled])
        now = {run.id: run for run in stored}
        pairs, self._unsettled = self._unsettled, []
        applied = [(run, v) for run, v in pairs if run.id in now and holds(now[run.id], v)]
        for run, verdict in applied:
            self._announce(run, verdict)
        return bool(applied)

    def _announce(self, run: Run, verdict: LostRun) -> None:
        # A retry verdict of a run whose cancel was requested ended it cancelled instead
        # (Store.lose_runs), as read by stale_runs just before.
        cancelled = verdict.retry_at is not None and run.cancel_requested
        final = verdict.retry_at is None or cancelled
        # Said as a failed attempt is: the same line for an attempt retried and a run
        # ended made an audit's grep count nine times the work lost.
        logger.log(
            logging.ERROR if final else logging.WARNING,
            "run %s of %s lost (attempt %d of %d%s): node %s stopped heartbeating",
            run.id,
            run.task_name,
            verdict.attempt,
            run.max_attempts,
            ", cancel requested: ends cancelled"
            if cancelled
            else ""
            if final
            else ", will be retried",
            run.node_id,
        )
        lost = dataclasses.replace(
            run, status=RunStatus.LOST, finished_at=verdict.now, reason=verdict.reason
        )
        self.events.publish(RunEvent(kind=EventKind.LOST, run=lost, detail={"final": final}))
        if cancelled:
            ended = runs.cancelled_in_attempt(run, verdict.attempt_error, verdict.now)
            self.events.publish(RunEvent(kind=EventKind.FINISHED, run=ended))
        elif verdict.retry_at is not None:
            retried = dataclasses.replace(
                run, status=RunStatus.PENDING, attempt=run.attempt + 1, not_before=verdict.retry_at
            )
            detail = {"status": RunStatus.LOST.value, "error": verdict.attempt_error["error"]}
            self.events.publish(RunEvent(kind=EventKind.RETRYING, run=retried, detail=detail))
            self.retry_due(verdict.retry_at)
