"""Workflow runs: start one, advance it when a step ends, retry a failed step, and sweep
the unfinished ones (the leader) so that no advancement is ever lost.

Advancing is idempotent, so any node may do it any number of times, concurrently:
:func:`~schedkit.workflows.plan.plan` decides from the step runs alone; a step's run is
created with :meth:`Store.insert_runs` under its fencing key (one per step per workflow
run, invariant 1) and a derived id, so two nodes starting the same step create one run;
the workflow's status is written compare-and-set on its version. A node that dies
between a step's end and the next step's creation leaves the workflow run ``running``
with a step to start: the leader's :meth:`Flows.sweep` starts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from schedkit.clock import Clock
from schedkit.engine import runs as run_builder
from schedkit.engine.retries import attempt_error
from schedkit.errors import ConflictError, SchedkitError, ValidationError
from schedkit.models import (
    JSON,
    OverlapPolicy,
    Run,
    RunStatus,
    TriggerSource,
    WorkflowRun,
    WorkflowStatus,
    new_id,
)
from schedkit.registry import TaskRegistry
from schedkit.store.base import Store
from schedkit.store.values import RunRequeue
from schedkit.workflows.definition import Workflow
from schedkit.workflows.launcher import START, LaunchVerdict, decide_launch
from schedkit.workflows.plan import (
    FAILURE_STATUSES,
    FlowState,
    StepView,
    parse_step_key,
    plan,
    step_kwargs,
    step_run_id,
)

logger = logging.getLogger(__name__)

#: Rounds of read → plan → write one advance makes before leaving the rest to the next
#: trigger (a step's end, or the sweep): each round either writes or returns.
ADVANCE_ROUNDS = 8
#: Unfinished workflow runs one sweep advances.
SWEEP_BATCH = 200


class Flows:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        clock: Clock,
        wake: Callable[[], None],
        created: Callable[[Sequence[Run]], None],
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        #: Told that a step's run was sent back to pending (wakes the claimers).
        self.wake = wake
        #: Told of the step runs this node stored (announces them, wakes the claimers).
        self.created = created

    async def start(
        self,
        wf: Workflow,
        params: JSON,
        *,
        run_id: str | None = None,
        source: TriggerSource = TriggerSource.MANUAL,
        scheduled_for: datetime | None = None,
        actor: str | None = None,
    ) -> tuple[WorkflowRun, bool]:
        """Insert the workflow run (if absent: ``run_id`` makes a repeated start the same
        run) and start its first steps; the run, and whether this call inserted it."""
        now = self.clock.now()
        record = WorkflowRun(
            id=run_id or new_id(),
            workflow=wf.name,
            definition=wf.to_json(),
            trigger_source=source,
            scheduled_for=scheduled_for or now,
            params=dict(params),
            created_at=now,
            updated_at=now,
            created_by=actor,
        )
        inserted = await self.store.insert_workflow_run(record)
        advanced = await self.advance(record.id)
        return advanced or record, inserted

    async def launch(self, wf: Workflow, launcher: Run) -> WorkflowRun:
        """Start ``wf`` for a successful run of its launcher task: the same id, so a
        launcher attempt repeated after a crash starts the same workflow run."""
        source = (
            launcher.trigger_source
            if launcher.trigger_source is not TriggerSource.RETRY
            else TriggerSource.MANUAL
        )
        started, _ = await self.start(
            wf,
            launcher.kwargs,
            run_id=launcher.id,
            source=source,
            scheduled_for=launcher.scheduled_for,
            actor=launcher.created_by,
        )
        return started

    async def admit(self, wf: Workflow, launcher: Run) -> LaunchVerdict:
        """Whether a launcher run starts its workflow run now: its schedule's
        ``max_instances`` and overlap policy applied to the workflow's running runs
        (``workflows.launcher``). A launcher run by hand (no schedule, as ``run_now``
        ignores the policy), a backfill's (its chain is its limit: the launcher holds
        its place until its workflow run ends, ``Finisher._follow``) and one whose
        workflow run exists already (an attempt repeated after a crash: it finds that
        run) start at once. One whose schedule was deleted waits its turn
        (:meth:`_admit_orphan`)."""
        if launcher.schedule_id is None or launcher.trigger_source is TriggerSource.BACKFILL:
            return START
        if await self.store.get_workflow_run(launcher.id) is not None:
            return START
        schedule = await self.store.get_schedule(launcher.schedule_id)
        if schedule is None:
            return await self._admit_orphan(wf, launcher)
        if schedule.overlap is OverlapPolicy.ALLOW:
            return START
        mine = (launcher.scheduled_for, launcher.id)
        if schedule.overlap is OverlapPolicy.REPLACE and any(
            (r.scheduled_for, r.id) < mine for r in await self._other_launchers(launcher)
        ):
            # Two launchers deciding at once both saw no workflow run running and both
            # started one (the re-audit, on FerretDB): the later one waits until the
            # earlier has started its workflow run (then replaces it) or was cancelled.
            return LaunchVerdict(
                wait=f"an earlier launcher run of schedule {schedule.id} is still starting"
            )
        running = await self.store.list_workflow_runs(
            workflow=wf.name, statuses=frozenset({WorkflowStatus.RUNNING}), limit=SWEEP_BATCH
        )
        another = False
        if schedule.overlap is OverlapPolicy.QUEUE_ONE and len(running) >= schedule.max_instances:
            another = bool(await self._other_launchers(launcher))
        return decide_launch(
            wf.name,
            schedule.overlap,
            schedule.max_instances,
            [r.id for r in running],
            another_waits=another,
        )

    async def _admit_orphan(self, wf: Workflow, launcher: Run) -> LaunchVerdict:
        """A launcher run whose schedule was deleted (while it waited, or before it was
        claimed) starts as a plain task's queued run of a deleted schedule does, which
        still waits for the run before it: one at a time, oldest first, while fewer than
        the task's ``max_instances`` (its default schedule's, else 1) workflow runs run.
        Starting at once ran every waiting one beside the running workflow run."""
        mine = (launcher.scheduled_for, launcher.id)
        gone = f"schedule {launcher.schedule_id} was deleted"
        if any((r.scheduled_for, r.id) < mine for r in await self._other_launchers(launcher)):
            return LaunchVerdict(wait=f"{gone}: an earlier launcher run of it waits to start")
        running = await self.store.list_workflow_runs(
            workflow=wf.name, statuses=frozenset({WorkflowStatus.RUNNING}), limit=SWEEP_BATCH
        )
        limit = wf.schedule.get("max_instances", 1) if isinstance(wf.schedule, dict) else 1
        return decide_launch(
            wf.name, OverlapPolicy.QUEUE_ONE, int(limit), [r.id for r in running], note=gone
        )

    async def _other_launchers(self, launcher: Run) -> list[Run]:
        """The launcher runs of ``launcher``'s schedule running beside it (deciding,
        waiting, or starting their workflow run)."""
        assert launcher.schedule_id is not None
        active = (await self.store.active_runs_of([launcher.schedule_id])).get(
            launcher.schedule_id, []
        )
        return [r for r in active if r.id != launcher.id and r.status is RunStatus.RUNNING]

    async def cancel_steps(self, run_ids: Sequence[str], why: str) -> None:
        """Cancel the unfinished step runs of the workflow runs ``run_ids`` (the overlap
        policy ``replace``), as cancelling each by hand does: the steps after them are
        skipped or run per their condition, and each workflow run then ends."""
        for run_id in run_ids:
            found = await self.state(run_id)
            if found is None:
                continue
            for view in found.plan.steps.values():
                if view.run is not None and not view.run.status.finished:
                    await self.store.request_cancel(view.run.id, self.clock.now(), why)
            await self.advance(run_id)

    async def still_running(self, run_ids: Sequence[str]) -> list[str]:
        """Those of the workflow runs ``run_ids`` still running, each advanced first (a
        step that ended with its node before the advance would leave it running until
        the sweep)."""
        still = []
        for run_id in run_ids:
            record = await self.advance(run_id)
            if record is not None and record.status is WorkflowStatus.RUNNING:
                still.append(run_id)
        return still

    async def state(self, run_id: str) -> FlowState | None:
        """The workflow run, its definition and its plan now; None if unknown."""
        record = await self.store.get_workflow_run(run_id)
        if record is None:
            return None
        wf = Workflow.from_json(record.definition)
        return FlowState(
            record=record, workflow=wf, plan=plan(wf, await self._step_runs(record, wf))
        )

    async def advance(self, run_id: str) -> WorkflowRun | None:
        """Start the steps that can start and write the workflow's status (see the
        module docstring); the workflow run as left, None if unknown."""
        record: WorkflowRun | None = None
        for _ in range(ADVANCE_ROUNDS):
            record = await self.store.get_workflow_run(run_id)
            if record is None:
                return None
            wf = Workflow.from_json(record.definition)
            step_runs = await self._step_runs(record, wf)
            p = plan(wf, step_runs)
            if p.ready:
                now = self.clock.now()
                ready = [
                    self._step_run(record, wf, name, step_runs, now, p.steps) for name in p.ready
                ]
                inserted = set(await self.store.insert_runs(ready))
                self.created([run for run in ready if run.id in inserted])
                continue
            if p.status is record.status:
                return record
            now = self.clock.now()
            finished = now if p.status is not WorkflowStatus.RUNNING else None
            applied = await self.store.set_workflow_status(
                record.id,
                expected_version=record.version,
                status=p.status,
                finished_at=finished,
                now=now,
            )
            if applied:
                logger.info("workflow run %s of %s: %s", record.id, record.workflow, p.status)
        return record

    async def step_ended(self, run: Run) -> None:
        """Advance the workflow of a step run that just ended. A store error is left to
        the sweep (the run's end is recorded; only its successors wait)."""
        key = parse_step_key(run.schedule_id)
        if key is None:
            return
        try:
            await self.advance(key[0])
        except SchedkitError as exc:
            logger.warning(
                "advancing workflow run %s after step %s failed (%s); the sweep will",
                key[0],
                key[1],
                exc,
            )

    async def retry_step(self, run_id: str, step: str) -> Run:
        """Send a failed step's run back to ``pending`` for one more attempt; the steps
        it had kept from running then follow it. Returns the step's run, requeued."""
        found = await self.state(run_id)
        if found is None:
            raise ValidationError(f"no workflow run {run_id!r}", field="run_id")
        record, wf = found.record, found.workflow
        wf.step(step)
        run = await self.store.get_run(step_run_id(record.id, step))
        if run is None:
            raise ConflictError(_not_run(found, step, run_id))
        if run.status not in FAILURE_STATUSES:
            raise ConflictError(
                f"step {step!r} is {run.status.value}: only a failed step is retried"
            )
        now = self.clock.now()
        item = RunRequeue(
            run_id=run.id,
            attempt=run.attempt,
            from_statuses=frozenset({run.status}),
            not_before=now,
            attempt_error=attempt_error(run, run.status, run.error, run.started_at, now),
            now=now,
            # The operator's retry is an attempt beyond the task's own: a step that had
            # used all 4 showed "attempt 5 of 4".
            spare=True,
        )
        if not await self.store.requeue_run(item):
            raise ConflictError(f"step {step!r} changed meanwhile; look again")
        self.wake()
        await self.advance(record.id)
        requeued = await self.store.get_run(run.id)
        return requeued or run

    async def sweep(self) -> int:
        """Advance every unfinished workflow run (the leader, periodically): completes
        advancements a node died before making. Returns how many it looked at."""
        running = frozenset({WorkflowStatus.RUNNING})
        seen, offset = 0, 0
        while True:
            # Page by page, so every unfinished run is reached however many there are
            # (one that ends meanwhile shifts the pages: what that skips, the next sweep
            # takes).
            records = await self.store.list_workflow_runs(
                statuses=running, limit=SWEEP_BATCH, offset=offset
            )
            for record in records:
                await self.advance(record.id)
            seen += len(records)
            if len(records) < SWEEP_BATCH:
                return seen
            offset += SWEEP_BATCH

    async def _step_runs(self, record: WorkflowRun, wf: Workflow) -> dict[str, Run]:
        ids = [step_run_id(record.id, s.name) for s in wf.steps]
        found: dict[str, Run] = {}
        for run in await self.store.get_runs(ids):
            key = parse_step_key(run.schedule_id)
            if key is not None and key[0] == record.id:
                found[key[1]] = run
        return found

    def _step_run(
        self,
        record: WorkflowRun,
        wf: Workflow,
        name: str,
        step_runs: Mapping[str, Run],
        now: datetime,
        views: Mapping[str, StepView],
    ) -> Run:
        step = wf.step(name)
        context: dict[str, Any] = {
            "run_id": record.id,
            "workflow": record.workflow,
            "params": record.params,
        }
        kwargs = step_kwargs(wf, name, step_runs, context, views)
        return run_builder.step(
            self.registry.get_task(step.task), step.task, record, name, kwargs, now
        )


def _not_run(found: FlowState, step: str, run_id: str) -> str:
    """Why a step without a run cannot be retried, and what can be: "retry the failed
    step before it" was said also where no step had failed (a skipped ``failure`` step)."""
    view = found.plan.steps[step]
    said = f"step {step!r} has not run in workflow run {run_id}"
    if view.reason is not None:
        said += f" ({view.reason})"
    failed = [
        name
        for name, v in found.plan.steps.items()
        if v.run is not None and v.run.status in FAILURE_STATUSES
    ]
    if failed:
        return f"{said}: retry the failed step {failed[0]!r}; the steps it kept from running follow"
    return f"{said}: only a failed step is retried, and none has failed"
