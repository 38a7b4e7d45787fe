"""Pure decisions of a workflow run: which steps can start now, which will never run
(and why), and the status of the whole run — from its definition and its step runs.

Nothing here reads a store or a clock. The engine (``engine/flows.py``) applies a plan;
the read models show one. Because a plan is a function of the step runs alone, any node
can make it again at any time and reach the same answer, which is what lets the
advancement of a workflow be repeated safely (after a crash, by the reaper).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from schedkit.models import JSON, Run, RunStatus, WorkflowRun, WorkflowStatus
from schedkit.workflows.definition import FailurePolicy, StepCondition, Workflow, topological

#: Run statuses that count as a step failing (what ``on="failure"`` reacts to).
FAILURE_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.LOST, RunStatus.CANCELLED}
)
#: The kwargs key under which a step run carries its workflow context (stripped before
#: ``execute``; read through ``TaskContext.workflow`` / ``TaskContext.upstream``).
WORKFLOW_KEY = "_workflow"
_KEY_PREFIX = "workflow:"

WAITING = "waiting"
READY = "ready"
SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True, slots=True)
class StepView:
    """Where one step stands: ``state`` is its run's status when it has a run, else
    ``waiting`` (upstream steps not finished), ``ready`` (to be started now) or
    ``skipped`` (it will not run in this workflow run; ``reason`` says why)."""

    name: str
    state: str
    reason: str | None = None
    run: Run | None = None
    #: Skipped because of a failure: a step upstream failed (or was itself skipped
    #: because of one), or the workflow stopped on one. A ``failure`` step after it runs.
    after_failure: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowPlan:
    steps: dict[str, StepView]
    #: Steps to start now, in definition order.
    ready: list[str] = field(default_factory=list)
    status: WorkflowStatus = WorkflowStatus.RUNNING


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowState:
    """A workflow run as it stands: its record, the definition it runs and its plan."""

    record: WorkflowRun
    workflow: Workflow
    plan: FlowPlan


def plan(wf: Workflow, runs: Mapping[str, Run]) -> FlowPlan:
    """The plan of a workflow run whose steps' runs are ``runs`` (step name → run)."""
    failed = sorted((n, r.status.value) for n, r in runs.items() if r.status in FAILURE_STATUSES)
    views: dict[str, StepView] = {}
    for step in topological(wf.steps):
        run = runs.get(step.name)
        if run is not None:
            views[step.name] = StepView(name=step.name, state=run.status.value, run=run)
            continue
        ups = [views[u] for u in step.after]
        if any(not _finished(u) for u in ups):
            views[step.name] = StepView(name=step.name, state=WAITING)
            continue
        reason, after_failure = _skip_reason(wf, step.on, ups, failed)
        state = READY if reason is None else SKIPPED
        views[step.name] = StepView(
            name=step.name, state=state, reason=reason, after_failure=after_failure
        )
    ready = [s.name for s in wf.steps if views[s.name].state == READY]
    return FlowPlan(steps=views, ready=ready, status=_status(views.values()))


def _finished(view: StepView) -> bool:
    if view.run is not None:
        return view.run.status.finished
    return view.state == SKIPPED


def _failed(view: StepView) -> bool:
    return view.run is not None and view.run.status in FAILURE_STATUSES


def _succeeded(view: StepView) -> bool:
    return view.run is not None and view.run.status is RunStatus.SUCCESS


def _failed_or_kept_by_failure(view: StepView) -> bool:
    """What a ``failure`` step reacts to: an upstream step that failed, or that a
    failure kept from running (an audit: under "stop", collect failed, settle was
    skipped, and the alert after settle was skipped too, "no upstream step failed")."""
    return _failed(view) or (view.state == SKIPPED and view.after_failure)


def _skip_reason(
    wf: Workflow, on: StepCondition, ups: list[StepView], failed: list[tuple[str, str]]
) -> tuple[str | None, bool]:
    """Why a step whose upstream steps have all finished does not run (None: it runs),
    and whether that is because of a failure (:attr:`StepView.after_failure`)."""
    if on is StepCondition.ALWAYS:
        return None, False
    if on is StepCondition.FAILURE:
        if any(_failed_or_kept_by_failure(u) for u in ups):
            return None, False
        return "no upstream step failed", False
    if failed and wf.failure_policy is FailurePolicy.STOP:
        name, status = failed[0]
        return f"the workflow stopped: step {name} {_ended(status)}", True
    for u in ups:
        if not _succeeded(u):
            by_failure = any(_failed_or_kept_by_failure(v) for v in ups)
            return f"upstream step {u.name} {_ended(u.state)}", by_failure
    return None, False


#: How a step's end reads after its name ("step slow timeout" read as a step's name).
_ENDED = {
    "failed": "failed",
    "timeout": "timed out",
    "lost": "was lost",
    "cancelled": "was cancelled",
    "skipped": "was skipped",
    "missed": "was missed",
}


def _ended(state: str) -> str:
    return _ENDED.get(state, f"ended {state}")


def _status(views: Iterable[StepView]) -> WorkflowStatus:
    items = list(views)
    if any(not _finished(v) for v in items):
        return WorkflowStatus.RUNNING
    if any(_failed(v) for v in items):
        return WorkflowStatus.FAILED
    return WorkflowStatus.SUCCESS


def step_kwargs(
    wf: Workflow,
    step_name: str,
    runs: Mapping[str, Run],
    context: JSON,
    views: Mapping[str, StepView] | None = None,
) -> JSON:
    """The kwargs of a step's run: the step's own kwargs, plus under :data:`WORKFLOW_KEY`
    the workflow ``context`` (run id, name, params) and the outcome of each upstream step
    (status and result) — the parameters passed down. An upstream step skipped (in
    ``views``, the plan's) is there too, ``{"status": "skipped", "result": None,
    "reason": ...}``: a ``failure`` step it set off sees why."""
    step = wf.step(step_name)
    upstream: dict[str, JSON] = {}
    for u in step.after:
        if u in runs:
            upstream[u] = {"status": runs[u].status.value, "result": runs[u].result}
        elif views is not None and u in views and views[u].state == SKIPPED:
            upstream[u] = {"status": SKIPPED, "result": None, "reason": views[u].reason}
    return {**step.kwargs, WORKFLOW_KEY: {**context, "step": step_name, "upstream": upstream}}


def step_key(workflow_run_id: str, step_name: str) -> str:
    """The ``schedule_id`` of a step's run. With the workflow run's ``scheduled_for`` it is
    the run's fencing key (invariant 1): one run per step per workflow run, however many
    nodes advance the workflow at once."""
    return f"{_KEY_PREFIX}{workflow_run_id}:{step_name}"


def parse_step_key(schedule_id: str | None) -> tuple[str, str] | None:
    """(workflow run id, step name) of a step run's ``schedule_id``, or None."""
    if not schedule_id or not schedule_id.startswith(_KEY_PREFIX):
        return None
    run_id, sep, step = schedule_id[len(_KEY_PREFIX) :].partition(":")
    return (run_id, step) if sep and run_id and step else None


def step_run_id(workflow_run_id: str, step_name: str) -> str:
    """The id of a step's run, derived from its fencing key so every node that creates
    it creates the same run (and the step runs of a workflow run are read by id)."""
    return hashlib.sha256(step_key(workflow_run_id, step_name).encode()).hexdigest()[:32]
