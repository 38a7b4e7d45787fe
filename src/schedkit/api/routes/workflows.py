"""Workflows: their definitions, starting one, their runs with per-step status and
timings, and retrying a failed step."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, status

from schedkit import readmodels
from schedkit.api.auth import ActorDep
from schedkit.api.deps import IdempotencyKey, SchedulerDep
from schedkit.api.ratelimit import RunRateDep
from schedkit.api.routes.table import Limit, Name, Offset, RunId, route
from schedkit.api.schemas import WorkflowStartRequest
from schedkit.models import WorkflowStatus
from schedkit.tokens import Role

WorkflowName = Annotated[str, Path(max_length=200, description="The workflow's name.")]
StepName = Annotated[str, Path(max_length=200, description="A step of the workflow.")]


@route(
    "GET",
    "/workflows",
    role=Role.VIEWER,
    summary="Workflows",
    response_model=list[readmodels.WorkflowView],
)
async def list_workflows(scheduler: SchedulerDep) -> list[readmodels.WorkflowView]:
    """Every workflow defined in code, with its steps and graph layers."""
    return [readmodels.workflow_view(wf) for wf in scheduler.workflows.definitions()]


@route(
    "GET",
    "/workflows/{name}",
    role=Role.VIEWER,
    errors=(404,),
    summary="One workflow",
    response_model=readmodels.WorkflowView,
)
async def get_workflow(name: WorkflowName, scheduler: SchedulerDep) -> readmodels.WorkflowView:
    return readmodels.workflow_view(scheduler.workflows.definition(name))


@route(
    "POST",
    "/workflows/{name}/start",
    role=Role.OPERATOR,
    errors=(404, 409, 422, 429),
    summary="Start a workflow now",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=readmodels.WorkflowRunView,
)
async def start_workflow(
    name: WorkflowName,
    scheduler: SchedulerDep,
    actor: ActorDep,
    _rate: RunRateDep,
    body: WorkflowStartRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> readmodels.WorkflowRunView:
    """A new workflow run; its first steps are created at once. With an
    ``Idempotency-Key`` already used for this workflow, the run it started is answered."""
    state = await scheduler.workflows.start(
        name, body.params if body else {}, actor=actor, idempotency_key=idempotency_key
    )
    return readmodels.workflow_run_view(state, scheduler.tz)


@route(
    "GET",
    "/workflow-runs",
    role=Role.VIEWER,
    summary="Search workflow runs",
    response_model=readmodels.WorkflowRunPage,
)
async def list_workflow_runs(
    scheduler: SchedulerDep,
    workflow: Name = None,
    run_status: Annotated[WorkflowStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> readmodels.WorkflowRunPage:
    """Newest first, with the total count of matching workflow runs. A ``workflow``
    that is neither defined nor in the history is refused (422, with close names)."""
    control = scheduler.workflows
    await control.check_filter(workflow)
    items = await control.history(workflow, run_status, limit=limit, offset=offset)
    return readmodels.WorkflowRunPage(
        items=[readmodels.workflow_run_summary(r, scheduler.tz) for r in items],
        total=await control.count(workflow, run_status),
        limit=limit,
        offset=offset,
    )


@route(
    "GET",
    "/workflow-runs/{run_id}",
    role=Role.VIEWER,
    errors=(404,),
    summary="One workflow run, step by step",
    response_model=readmodels.WorkflowRunView,
)
async def get_workflow_run(run_id: RunId, scheduler: SchedulerDep) -> readmodels.WorkflowRunView:
    """Each step's state (its run's status, or waiting / ready / skipped with the
    reason), attempt and timings."""
    return readmodels.workflow_run_view(await scheduler.workflows.get(run_id), scheduler.tz)


@route(
    "POST",
    "/workflow-runs/{run_id}/steps/{step}/retry",
    role=Role.OPERATOR,
    errors=(404, 409, 422, 429),
    summary="Retry a failed step",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=readmodels.WorkflowRunView,
)
async def retry_workflow_step(
    run_id: RunId, step: StepName, scheduler: SchedulerDep, actor: ActorDep, _rate: RunRateDep
) -> readmodels.WorkflowRunView:
    """The failed step runs again; the steps it had kept from running follow it. 409
    when the step has not failed (or has not run)."""
    await scheduler.workflows.retry_step(run_id, step, actor=actor)
    return readmodels.workflow_run_view(await scheduler.workflows.get(run_id), scheduler.tz)
