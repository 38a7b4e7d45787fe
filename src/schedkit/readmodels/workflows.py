"""Workflows and their runs as the API, console and CLI show them: the definition as a
layered graph, and per step its state, reason, attempt and timings."""

from __future__ import annotations

from datetime import datetime, tzinfo

from pydantic import Field, JsonValue

from schedkit.models import WorkflowRun, WorkflowStatus, to_json
from schedkit.readmodels.common import View, local
from schedkit.readmodels.runs import RunSummary, run_summary
from schedkit.redaction import redact_json
from schedkit.workflows.definition import Workflow
from schedkit.workflows.launcher import launcher_name
from schedkit.workflows.plan import FlowState

__all__ = [
    "StepDefinitionView",
    "StepRunView",
    "WorkflowRunPage",
    "WorkflowRunSummary",
    "WorkflowRunView",
    "WorkflowView",
    "workflow_run_summary",
    "workflow_run_view",
    "workflow_view",
]


class StepDefinitionView(View):
    name: str
    task: str
    after: list[str]
    on: str = Field(description="When the step runs: success, failure or always.")


class WorkflowView(View):
    name: str
    description: str
    failure_policy: str
    launcher_task: str = Field(description="The task that starts the workflow (schedule it).")
    steps: list[StepDefinitionView]
    layers: list[list[str]] = Field(description="Step names by depth: the graph's columns.")


class StepRunView(StepDefinitionView):
    state: str = Field(
        description="The step run's status, or waiting / ready / skipped when it has none."
    )
    reason: str | None
    run: RunSummary | None


class WorkflowRunSummary(View):
    id: str
    workflow: str
    status: WorkflowStatus
    trigger_source: str
    params: dict[str, JsonValue]
    created_at: datetime
    created_at_local: datetime
    finished_at: datetime | None
    finished_at_local: datetime | None
    duration: float | None = Field(description="Seconds from start to end.")
    created_by: str | None


class WorkflowRunView(WorkflowRunSummary):
    failure_policy: str
    steps: list[StepRunView]
    layers: list[list[str]]


class WorkflowRunPage(View):
    items: list[WorkflowRunSummary]
    total: int
    limit: int
    offset: int


def _steps(wf: Workflow) -> list[StepDefinitionView]:
    return [
        StepDefinitionView(name=s.name, task=s.task, after=list(s.after), on=s.on.value)
        for s in wf.steps
    ]


def workflow_view(wf: Workflow) -> WorkflowView:
    return WorkflowView(
        name=wf.name,
        description=wf.description,
        failure_policy=wf.failure_policy.value,
        launcher_task=launcher_name(wf.name),
        steps=_steps(wf),
        layers=wf.layers(),
    )


def workflow_run_summary(record: WorkflowRun, tz: tzinfo) -> WorkflowRunSummary:
    end = record.finished_at
    return WorkflowRunSummary(
        id=record.id,
        workflow=record.workflow,
        status=record.status,
        trigger_source=record.trigger_source.value,
        params=redact_json(to_json(record.params)),
        created_at=record.created_at,
        created_at_local=record.created_at.astimezone(tz),
        finished_at=end,
        finished_at_local=local(end, tz),
        duration=(end - record.created_at).total_seconds() if end is not None else None,
        created_by=record.created_by,
    )


def workflow_run_view(state: FlowState, tz: tzinfo) -> WorkflowRunView:
    steps = []
    for d in _steps(state.workflow):
        v = state.plan.steps[d.name]
        steps.append(
            StepRunView(
                **d.model_dump(),
                state=v.state,
                reason=v.reason,
                run=run_summary(v.run, tz) if v.run is not None else None,
            )
        )
    return WorkflowRunView(
        **workflow_run_summary(state.record, tz).model_dump(),
        failure_policy=state.workflow.failure_policy.value,
        steps=steps,
        layers=state.workflow.layers(),
    )
