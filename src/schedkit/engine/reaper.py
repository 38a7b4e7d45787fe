"""Runs of dead nodes: a running run whose heartbeat stopped is lost, and retried per
its task's policy (invariant 4: nothing stays ``running`` forever).

Run by the scheduler lease holder every heartbeat interval. The decision (retry or not,
and when) is made here; the store applies each verdict in one atomic step, so a leader
dying halfway leaves no run marked lost that should have been retried.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from schedkit.clock import Clock
from schedkit.engine.retries import attempt_error, retry_at
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import Run, RunStatus
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.store.values import LostRun

logger = logging.getLogger(__name__)

#: Silent runs judged per pass (the rest wait for the next pass).
REAP_BATCH = 500


def lost_verdict(
    run: Run, retry: datetime | None, stale_before: datetime, now: datetime
) -> LostRun:
    """The verdict on a silent run: lost for good (``retry`` None) or back to pending."""
    reason = f"no heartbeat from its node since before {stale_before.isoformat()}"
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


class Reaper:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        events: EventBus,
        clock: Clock,
        lost_after: float,
    ) -> None:
        self.store = store
        self.registry = registry
        self.events = events
        self.clock = clock
        self.lost_after = lost_after

    async def reap(self) -> bool:
        """Judge the runs of silent nodes; True when runs became claimable (retries, and
        runs that were queued behind lost ones)."""
        now = self.clock.now()
        stale_before = now - timedelta(seconds=self.lost_after)
        stale = await self.store.stale_runs(stale_before, REAP_BATCH)
        if not stale:
            return False
        verdicts = []
        for run in stale:
            task = self.registry.get_task(run.task_name)
            retry = retry_at(task.retry_policy if task else None, run, RunStatus.LOST, now)
            verdicts.append(lost_verdict(run, retry, stale_before, now))
        applied = await self.store.lose_runs(verdicts)
        for run, verdict, ok in zip(stale, verdicts, applied, strict=True):
            if ok:
                self._announce(run, verdict)
        return any(applied)

    def _announce(self, run: Run, verdict: LostRun) -> None:
        logger.warning(
            "run %s of %s lost: node %s stopped heartbeating", run.id, run.task_name, run.node_id
        )
        lost = dataclasses.replace(
            run, status=RunStatus.LOST, finished_at=verdict.now, reason=verdict.reason
        )
        final = verdict.retry_at is None
        self.events.publish(RunEvent(kind=EventKind.LOST, run=lost, detail={"final": final}))
        if verdict.retry_at is not None:
            retried = dataclasses.replace(
                run, status=RunStatus.PENDING, attempt=run.attempt + 1, not_before=verdict.retry_at
            )
            detail = {"status": RunStatus.LOST.value, "error": verdict.attempt_error["error"]}
            self.events.publish(RunEvent(kind=EventKind.RETRYING, run=retried, detail=detail))
