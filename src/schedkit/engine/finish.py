"""The end of an attempt: requeue it for a retry or finish the run, in one atomic write
each, then tell listeners and start the runs that depend on it.

Finishing writes are batched (runs ending together share one transaction); a write the
store cannot take is retried until it can (an outage must not lose an outcome).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from schedkit.batching import Batcher
from schedkit.clock import Clock
from schedkit.engine import runs
from schedkit.engine.attempt import Outcome
from schedkit.engine.retries import RETRYABLE, Backoff, attempt_error, retried_with, retry_at
from schedkit.errors import StoreClosedError, StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import (
    HANDED_BACK,
    JSON,
    Run,
    RunOutcome,
    RunStatus,
    TriggerSource,
    WorkflowRun,
    WorkflowStatus,
    run_with,
)
from schedkit.registry import TaskRegistry
from schedkit.store._common import CANCELLED_IN_ATTEMPT
from schedkit.store.base import Store
from schedkit.store.values import RunFinish, RunRequeue
from schedkit.task import BaseTask
from schedkit.workflows.launcher import WorkflowLauncher
from schedkit.workflows.plan import FAILURE_STATUSES

if TYPE_CHECKING:
    from schedkit.engine.flows import Flows

logger = logging.getLogger(__name__)

#: Seconds a finish waits for others to share its write, once the node is busy (the
#: previous write ended less than this ago). At 1,000 runs/s each ended alone (1.5 runs
#: per write); an idle node still writes a lone finish at once. 30 ms rather than 10: a
#: fifth less CPU per fire at 1,000 fires/s with the fire-ahead of 50 ms (measured
#: together: docs/benchmarks.md), and the finished status a few ms later only when busy.
FINISH_LINGER = 0.030
#: Seconds between two looks of a launcher waiting for a workflow run to end (overlap
#: policy queue_one). It holds no executor slot meanwhile, and heartbeats as a running run.
LAUNCH_WAIT_POLL = 1.0
#: Seconds between two looks of a launcher waiting for the workflow runs it replaces to
#: end (overlap policy replace): the cancel of a running step reaches it at its node's
#: next heartbeat, so the old run ends a few seconds after the fire.
REPLACE_WAIT_POLL = 0.2
#: Seconds a replacing launcher waits at most for the replaced workflow runs to end
#: before starting anyway (a step that ignores its cancel must not stop the schedule):
#: a dead node's step ends only when reaped (``lost_after``, 20 s by default).
REPLACE_WAIT_MAX = 60.0
#: What a launcher's wait gives when its node stops meanwhile: the run is handed back.
STOPPED_WAITING = Outcome(status=RunStatus.CANCELLED, reason="the node stopped while it waited")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Concluded:
    """What :meth:`Finisher.conclude` did: the run as it now stands, and whether the
    store took the write (it does not when the attempt was taken from this node)."""

    run: Run
    kind: EventKind
    applied: bool
    retry_at: datetime | None = None
    #: Runs of dependent tasks this end created.
    dependents: int = 0


class Finisher:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        events: EventBus,
        clock: Clock,
        node_id: str,
        created: Callable[[Sequence[Run]], None],
        flows: Flows | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        #: Whether this node is draining or stopping: a waiting launcher then hands its
        #: run back (see conclude).
        self.stopping = stopping
        #: Told of the dependent runs this node stored (announces them, wakes the claimers).
        self.created = created
        self.flows = flows
        self.registry = registry
        self.events = events
        self.clock = clock
        self.node_id = node_id
        self._finishes: Batcher[RunFinish, bool] = Batcher(
            # Looked up per call: instrumentation may wrap the store's methods later.
            lambda items: self.store.finish_runs(items),
            linger=FINISH_LINGER,
        )

    async def conclude(
        self,
        task: BaseTask | None,
        run: Run,
        outcome: Outcome,
        started: datetime,
        *,
        hand_back: bool = False,
        claimable_in: float = 0.0,
    ) -> Concluded:
        """Write the attempt's end (retried through store outages), publish its event and
        start dependent runs of a success. ``hand_back``: the attempt was stopped by a
        drain, so the run goes back to pending for any node to claim (``claimable_in``
        seconds later), with one more attempt allowed (the drain's does not count)."""
        if not hand_back and isinstance(task, WorkflowLauncher):
            if outcome.status is RunStatus.SUCCESS:
                outcome = await self._launch(task, run, outcome)
            # A launcher stopped while it waited has nothing of its own to stop: what it
            # waits for is in the store. It is handed back, for any node to wait on
            # (recorded cancelled, a backfill's launcher released the next one while its
            # workflow run went on; left running, it cost a retry and the stop its grace).
            hand_back = outcome is STOPPED_WAITING
        # After the launch: a launcher that waited ends when its wait did.
        now = self.clock.now()
        # The policy is built only for an outcome it may retry (not once per success).
        retryable = outcome.status in RETRYABLE and outcome.retryable
        policy = task.retry_policy if task is not None and retryable else None
        if hand_back:
            when: datetime | None = now + timedelta(seconds=claimable_in)
        else:
            when = retry_at(policy, run, outcome.status, now)
        if hand_back:
            error = {"type": HANDED_BACK, "message": outcome.reason or "the node drained"}
            outcome = dataclasses.replace(outcome, error=error)
        # Decided once: a write re-sent after a store error must be the very same write,
        # so that one whose acknowledgement was lost is recognised as applied.
        resent = False
        backoff = Backoff()
        while True:
            try:
                if when is not None:
                    done = await self._requeue(
                        run, outcome, started, now, when, resent, spare=hand_back
                    )
                else:
                    done = await self._finish(run, outcome, started, now)
                break
            except StoreClosedError as exc:
                # The node stopped and closed its store while this run was still ending
                # (a slow on_failure hook): waiting would never end, and the process
                # could not exit. The run stays running; the reaper judges it lost.
                logger.warning("the end of run %s is not recorded: %s", run.id, exc)
                return Concluded(run=run, kind=EventKind.LOST, applied=False)
            except StoreError as exc:
                resent = True
                await backoff.wait(f"recording the end of run {run.id} failed: {exc}", error=exc)
        if not done.applied:
            logger.warning(
                "run %s attempt %d was taken from this node (lost or cancelled); "
                "its outcome %s is dropped",
                run.id,
                run.attempt,
                outcome.status,
            )
            return done
        detail = (
            {"status": outcome.status.value, "error": outcome.error}
            if done.kind is EventKind.RETRYING
            else {}
        )
        self.events.publish(RunEvent(kind=done.kind, run=done.run, detail=detail))
        if (
            done.kind is EventKind.FINISHED
            and done.run.status is RunStatus.SUCCESS
            and (started_dependents := await self._start_dependents(done.run))
        ):
            done = dataclasses.replace(done, dependents=started_dependents)
        if done.kind is EventKind.FINISHED and self.flows is not None:
            await self.flows.step_ended(done.run)
        return done

    async def _launch(self, task: WorkflowLauncher, run: Run, outcome: Outcome) -> Outcome:
        """Start the workflow of a successful launcher run before its end is recorded
        (see ``workflows.launcher``), its schedule's overlap policy applied to the
        workflow runs still running; retried through store outages. A backfill's
        launcher then waits for its workflow run to end (:meth:`_follow`).
        :data:`STOPPED_WAITING` if this node is stopping while it waits."""
        if self.flows is None:
            return outcome
        backoff = Backoff()
        waited = False
        # The workflow runs being replaced, and until when to wait for them to end.
        replacing: tuple[str, ...] = ()
        deadline = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if replacing:
                    # "Cancelled, then the new one starts" (docs/workflows.md): starting
                    # at once had two workflow runs running for up to a heartbeat.
                    # Replaced in turn by the next fire while it waits (that fire's
                    # launcher waits for the same runs): starting too would make two.
                    if (stop := await self._interrupted(run)) is not None:
                        return stop
                    still = await self.flows.still_running(replacing)
                    if still and loop.time() < deadline:
                        await asyncio.sleep(REPLACE_WAIT_POLL)
                        continue
                    if not still:
                        # Decided again: a workflow run started meanwhile is replaced too.
                        replacing = ()
                        continue
                    logger.warning(
                        "launcher run %s starts its workflow run although replaced "
                        "workflow runs %s have not ended after %.0f s",
                        run.id,
                        ", ".join(still),
                        REPLACE_WAIT_MAX,
                    )
                    started = await self.flows.launch(task.workflow, run)
                    break
                verdict = await self.flows.admit(task.workflow, run)
                if verdict.skip is not None:
                    logger.info("launcher run %s skipped: %s", run.id, verdict.skip)
                    return Outcome(status=RunStatus.SKIPPED, reason=verdict.skip)
                if verdict.wait is not None:
                    if not waited:
                        logger.info("launcher run %s waits: %s", run.id, verdict.wait)
                    waited = True
                    if (stop := await self._interrupted(run)) is not None:
                        return stop
                    await asyncio.sleep(LAUNCH_WAIT_POLL)
                    continue
                if verdict.replace:
                    why = f"replaced by workflow run {run.id} (overlap policy replace)"
                    await self.flows.cancel_steps(verdict.replace, why)
                    replacing, deadline = verdict.replace, loop.time() + REPLACE_WAIT_MAX
                    continue
                started = await self.flows.launch(task.workflow, run)
                break
            except StoreError as exc:
                await backoff.wait(
                    f"starting workflow {task.workflow.name} failed: {exc}", error=exc
                )
        result = {**(outcome.result or {}), "data": {"workflow_run_id": started.id}}
        if run.trigger_source is TriggerSource.BACKFILL:
            return await self._follow(run, started.id, result)
        return dataclasses.replace(outcome, result=result)

    async def _follow(self, run: Run, workflow_run_id: str, result: JSON) -> Outcome:
        """Wait, as a running run holding no executor slot, for the workflow run a
        backfill's launcher started to end, and end with its outcome. The backfill's
        chain (``blocked_by``) releases the next fire when this run ends: ending at the
        start ran every fire of a ``--concurrency 1`` backfill at once, and counted them
        done while they ran. Cancelled (the backfill was), it cancels the workflow run's
        unfinished steps and ends once that run has (after REPLACE_WAIT_MAX at most)."""
        assert self.flows is not None
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        cancelled: Outcome | None = None
        deadline = 0.0
        while True:
            try:
                record = await self.store.get_workflow_run(workflow_run_id)
                if record is None or record.status is not WorkflowStatus.RUNNING:
                    return cancelled or await self._ended_as(record, workflow_run_id, result)
                if cancelled is None:
                    cancelled = await self._cancelled_while_waiting(run)
                    if cancelled is not None:
                        why = cancelled.reason or "its backfill launcher run was cancelled"
                        await self.flows.cancel_steps([workflow_run_id], why)
                        cancelled = dataclasses.replace(cancelled, result=result)
                        deadline = loop.time() + REPLACE_WAIT_MAX
                elif loop.time() >= deadline:
                    return cancelled
                if self.stopping():
                    return STOPPED_WAITING
                backoff.reset()
            except StoreError as exc:
                await backoff.wait(
                    f"following workflow run {workflow_run_id} failed: {exc}", error=exc
                )
                continue
            await asyncio.sleep(LAUNCH_WAIT_POLL)

    async def _ended_as(
        self, record: WorkflowRun | None, workflow_run_id: str, result: JSON
    ) -> Outcome:
        """A backfill launcher's outcome: its workflow run's. Not retried when failed (a
        retry would find the same ended workflow run)."""
        assert self.flows is not None
        if record is None:  # purged already: nothing says how it ended
            message = f"workflow run {workflow_run_id} is no longer stored"
            return Outcome(status=RunStatus.SUCCESS, result={**result, "message": message})
        said = f"workflow run {record.id} of {record.workflow} {record.status.value}"
        if record.status is WorkflowStatus.SUCCESS:
            return Outcome(status=RunStatus.SUCCESS, result={**result, "message": said})
        state = await self.flows.state(record.id)
        failed = (
            [n for n, v in state.plan.steps.items() if v.run and v.run.status in FAILURE_STATUSES]
            if state is not None
            else []
        )
        if failed:
            said += ": step " + ", ".join(failed) + " failed"
        return Outcome(
            status=RunStatus.FAILED,
            result=result,
            error={"type": "WorkflowFailed", "message": said},
            retryable=False,
        )

    async def _interrupted(self, run: Run) -> Outcome | None:
        """Why a waiting launcher run stops waiting: cancelled meanwhile, or its node
        stopping (:data:`STOPPED_WAITING`); None while it waits on."""
        if (cancelled := await self._cancelled_while_waiting(run)) is not None:
            return cancelled
        return STOPPED_WAITING if self.stopping() else None

    async def _cancelled_while_waiting(self, run: Run) -> Outcome | None:
        """A waiting launcher run cancelled meanwhile (by hand, or replaced) ends so."""
        current = await self.store.get_run(run.id)
        if current is not None and current.cancel_requested:
            reason = current.reason or "cancelled while waiting to start"
            return Outcome(status=RunStatus.CANCELLED, reason=reason)
        return None

    async def _requeue(
        self,
        run: Run,
        outcome: Outcome,
        started: datetime,
        now: datetime,
        when: datetime,
        resent: bool,
        *,
        spare: bool,
    ) -> Concluded:
        item = RunRequeue(
            run_id=run.id,
            attempt=run.attempt,
            from_statuses=frozenset({RunStatus.RUNNING}),
            not_before=when,
            attempt_error=attempt_error(run, outcome.status, outcome.error, started, now),
            now=now,
            spare=spare,
        )
        ended = await self.store.requeue_run(item)
        if ended is None and resent:
            # Refused, after a try whose answer was lost: applied if the run holds it.
            stored = await self.store.get_run(run.id)
            if stored is not None and retried_with(stored, item.attempt, item.attempt_error):
                ended = RunStatus.PENDING
            elif stored is not None and _cancelled_by(stored, item):
                ended = RunStatus.CANCELLED
        if ended is RunStatus.CANCELLED:
            # Its cancel was requested before this node heard of it: the store ended the
            # run instead of retrying it.
            cancelled = runs.cancelled_in_attempt(run, item.attempt_error, now)
            return Concluded(run=cancelled, kind=EventKind.FINISHED, applied=True)
        retried = dataclasses.replace(
            run,
            status=RunStatus.PENDING,
            attempt=run.attempt + 1,
            max_attempts=run.max_attempts + (1 if spare else 0),
            not_before=when,
        )
        applied = ended is not None
        return Concluded(run=retried, kind=EventKind.RETRYING, applied=applied, retry_at=when)

    async def _finish(
        self, run: Run, outcome: Outcome, started: datetime, now: datetime
    ) -> Concluded:
        end = RunOutcome(
            status=outcome.status,
            finished_at=now,
            duration=(now - started).total_seconds(),
            result=outcome.result,
            error=outcome.error,
            reason=outcome.reason,
        )
        applied = await self._finishes.submit(
            RunFinish(run_id=run.id, attempt=run.attempt, node_id=self.node_id, outcome=end)
        )
        finished = run_with(
            run,
            status=end.status,
            finished_at=now,
            duration=end.duration,
            result=end.result,
            error=end.error,
            reason=end.reason,
        )
        return Concluded(run=finished, kind=EventKind.FINISHED, applied=applied)

    async def _start_dependents(self, upstream: Run) -> int:
        """Create the runs of the tasks declaring ``depends_on`` the upstream's task;
        retried through store outages (safe: they are fenced on the upstream's fire)."""
        tasks = self.registry.dependents(upstream.task_name)
        if not tasks:
            return 0
        dependents = [runs.dependent(t, upstream, self.clock.now()) for t in tasks]
        resent = False
        backoff = Backoff()
        while True:
            try:
                stored = set(await self.store.insert_runs(dependents))
                rest = [run.id for run in dependents if run.id not in stored]
                if resent and rest:
                    # A try whose answer was lost may have stored them: the same ids.
                    stored.update(run.id for run in await self.store.get_runs(rest))
                break
            except StoreError as exc:
                resent = True
                await backoff.wait(
                    f"creating the runs depending on run {upstream.id} failed: {exc}", error=exc
                )
        created = [run for run in dependents if run.id in stored]
        self.created(created)
        return len(created)


def _cancelled_by(stored: Run, item: RunRequeue) -> bool:
    """Whether ``stored`` shows ``item`` applied as a cancel (a requeue of a run whose
    cancel was requested, sent again after its answer was lost)."""
    return (
        stored.status is RunStatus.CANCELLED
        and stored.attempt == item.attempt
        and stored.finished_at == item.now
        and stored.reason == CANCELLED_IN_ATTEMPT
    )
