"""Runs of dead nodes: a running run whose heartbeat stopped is lost, and retried per
its task's policy (invariant 4: nothing stays ``running`` forever).

Run by the scheduler lease holder every heartbeat interval.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from schedkit.clock import Clock
from schedkit.engine.retries import attempt_error, retry_at
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import RunStatus
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store

logger = logging.getLogger(__name__)


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
        """Mark the runs of silent nodes lost and requeue those with retries left; True
        when runs became claimable (retries, runs that were queued behind lost ones)."""
        now = self.clock.now()
        lost = await self.store.mark_lost(now - timedelta(seconds=self.lost_after), now)
        for run in lost:
            logger.warning(
                "run %s of %s lost: node %s stopped heartbeating",
                run.id,
                run.task_name,
                run.node_id,
            )
            task = self.registry.get_task(run.task_name)
            when = retry_at(task.retry_policy if task else None, run, RunStatus.LOST, now)
            self.events.publish(
                RunEvent(kind=EventKind.LOST, run=run, detail={"final": when is None})
            )
            if when is None:
                continue
            error = {"type": "RunLost", "message": run.reason or "node stopped heartbeating"}
            record = attempt_error(run, RunStatus.LOST, error, run.started_at, now)
            if await self.store.requeue_run(run.id, run.attempt, [RunStatus.LOST], when, record):
                retried = dataclasses.replace(
                    run, status=RunStatus.PENDING, attempt=run.attempt + 1, not_before=when
                )
                self.events.publish(
                    RunEvent(
                        kind=EventKind.RETRYING,
                        run=retried,
                        detail={"status": RunStatus.LOST.value, "error": error},
                    )
                )
        return bool(lost)
