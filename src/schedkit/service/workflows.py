"""Workflows in the façade: their definitions (registered in code), starting one by hand,
their runs with per-step status and timings, and retrying a failed step.

Starting on a schedule goes through the workflow's launcher task (``workflow.<name>``),
scheduled like any task; see ``schedkit.workflows.launcher``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from schedkit._suggest import close_names
from schedkit.clock import Clock
from schedkit.engine import runs
from schedkit.engine.flows import Flows
from schedkit.errors import ValidationError, WorkflowNotFoundError, WorkflowRunNotFoundError
from schedkit.limits import check_kwargs_size
from schedkit.models import Run, WorkflowRun, WorkflowStatus
from schedkit.registry import TaskRegistry
from schedkit.service.audit import Auditor
from schedkit.store.base import Store
from schedkit.workflows.definition import Workflow
from schedkit.workflows.params import check_params
from schedkit.workflows.plan import FlowState

#: How often :meth:`WorkflowControl.wait` looks at a workflow run.
WAIT_POLL = 0.1


class WorkflowControl:
    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        flows: Flows,
        clock: Clock,
        audit: Auditor,
        max_params_bytes: int,
    ) -> None:
        self.store = store
        self.registry = registry
        self.flows = flows
        self.clock = clock
        self.audit = audit
        #: The size limit of a run's params (``limits.max_kwargs_bytes``, as for kwargs).
        self.max_params_bytes = max_params_bytes

    def definitions(self) -> list[Workflow]:
        """Every registered workflow, by name."""
        return self.registry.workflows()

    def definition(self, name: str) -> Workflow:
        """Workflow ``name``; WorkflowNotFoundError naming the defined names close to it."""
        wf = self.registry.get_workflow(name)
        if wf is None:
            raise self._not_found(name)
        return wf

    def _not_found(self, name: str) -> WorkflowNotFoundError:
        names = [w.name for w in self.definitions()]
        return WorkflowNotFoundError(name, close=close_names(name, names, cutoff=0.75))

    async def start(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        actor: str,
        idempotency_key: str | None = None,
    ) -> FlowState:
        """Start workflow ``name`` now with ``params`` (JSON, read by every step in
        ``TaskContext.workflow["params"]``), checked first (:mod:`schedkit.workflows.
        params`, and ``limits.max_kwargs_bytes``). With ``idempotency_key``, the run of
        ``name`` started earlier with that key is returned instead (ConflictError if it
        was started with other params), as ``run_now`` does for tasks."""
        wf = self.definition(name)
        values = check_params(wf, self.registry.get_task, params)
        check_kwargs_size(values, self.max_params_bytes, field="params")
        run_id = None
        if idempotency_key is not None:
            run_id = runs.keyed_id(name, idempotency_key, kind="workflow")
            earlier = await self.store.get_workflow_run(run_id)
            if earlier is not None:
                _check_repeat(idempotency_key, earlier, values)
                # A start cut after its insert (an error answered, then this repeat)
                # has its first steps started here rather than at the leader's sweep.
                await self.flows.advance(run_id)
                return await self.get(run_id)
        record, inserted = await self.flows.start(wf, values, actor=actor, run_id=run_id)
        if not inserted:
            _check_repeat(str(idempotency_key), record, values)
        else:
            await self.audit.record(
                actor, "workflow.start", f"workflow:{name}", None, None, record.id
            )
        return await self.get(record.id)

    async def get(self, run_id: str) -> FlowState:
        state = await self.flows.state(run_id)
        if state is None:
            raise WorkflowRunNotFoundError(run_id)
        return state

    async def check_filter(self, workflow: str | None) -> None:
        """ValidationError naming ``workflow`` (with the defined names close to it) when
        ``workflow``, given to filter a listing, names no workflow: none defined and no
        run of it stored. A typo would otherwise list nothing, as if it had never run; a
        workflow removed from the code stays listable by its runs (one indexed read).
        None (no filter) passes."""
        if workflow is None or self.registry.get_workflow(workflow) is not None:
            return
        if await self.store.list_workflow_runs(workflow=workflow, limit=1):
            return
        raise ValidationError(str(self._not_found(workflow)), field="workflow")

    async def history(
        self,
        workflow: str | None = None,
        status: WorkflowStatus | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WorkflowRun]:
        statuses = frozenset({status}) if status is not None else None
        return await self.store.list_workflow_runs(
            workflow=workflow, statuses=statuses, limit=limit, offset=offset
        )

    async def count(self, workflow: str | None = None, status: WorkflowStatus | None = None) -> int:
        statuses = frozenset({status}) if status is not None else None
        return await self.store.count_workflow_runs(workflow=workflow, statuses=statuses)

    async def retry_step(self, run_id: str, step: str, *, actor: str) -> Run:
        """Run a failed step once more; the steps waiting on it follow if it succeeds."""
        await self.get(run_id)
        run = await self.flows.retry_step(run_id, step)
        await self.audit.record(
            actor, "workflow.retry_step", f"workflow_run:{run_id}", None, None, step
        )
        return run

    async def wait(self, run_id: str, timeout: float | None = None) -> FlowState:
        """Wait until the workflow run is no longer running (or ``timeout`` passed: then
        it as it stands)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = await self.get(run_id)
            if state.record.status is not WorkflowStatus.RUNNING:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                return state
            await asyncio.sleep(WAIT_POLL)


def _check_repeat(key: str, earlier: WorkflowRun, params: Mapping[str, Any]) -> None:
    described = f"workflow run {earlier.id} of {earlier.workflow!r}"
    runs.check_repeat(key, described, params, earlier.params, "params")
