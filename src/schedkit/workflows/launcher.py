"""The task that starts a workflow: ``workflow.<name>``.

A workflow is scheduled (and run by hand, paused, shown) through this task like any
other, so schedules, calendars, misfire policies and exactly-once firing apply
unchanged. The task itself does nothing; the engine starts the workflow run when a
launcher run succeeds, before that run is recorded finished, with the launcher run's id
as the workflow run's id: a node dying in between leaves the launcher run to the reaper,
whose retry starts the same workflow run (inserted if absent), never a second one.

A launcher run ends as soon as its workflow run has started, so the engine's overlap
check (the schedule's active *runs*) would never see the workflow still running: a
fire's launcher applies its schedule's ``max_instances`` and overlap policy to the
workflow's running *workflow runs* itself (:func:`decide_launch`), read from the store
when it is about to start one. That count is the store's, not a node's memory, so it
holds across nodes, node deaths and launcher retries (a retried launcher whose workflow
run exists already just finds it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from schedkit.models import OverlapPolicy
from schedkit.task import BaseTask
from schedkit.workflows.definition import Workflow
from schedkit.workflows.params import TaskLookup, check_params

#: Prefix of a launcher's task name.
LAUNCHER_PREFIX = "workflow."
CATEGORY = "workflow"


def launcher_name(workflow: str) -> str:
    return f"{LAUNCHER_PREFIX}{workflow}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LaunchVerdict:
    """What a fire's launcher does about the workflow runs still running. At most one
    of: ``skip`` (end the launcher run ``skipped`` with this reason), ``wait`` (wait,
    then decide again; the reason, for the log), ``replace`` (the running workflow runs
    whose unfinished steps to cancel before starting). None of them: start now."""

    skip: str | None = None
    wait: str | None = None
    replace: tuple[str, ...] = ()


START = LaunchVerdict()


def decide_launch(
    workflow: str,
    overlap: OverlapPolicy,
    max_instances: int,
    running: Sequence[str],
    *,
    another_waits: bool = False,
    note: str | None = None,
) -> LaunchVerdict:
    """The overlap policy of a launcher's schedule applied to the workflow runs
    ``running`` (their ids, newest first), as the engine applies it to a task's active
    runs (``engine.planning.decide_overlap``): below ``max_instances``, or ``allow``: start.
    At the limit, ``skip``: the fire is skipped, saying which run still runs;
    ``queue_one``: the launcher waits for a run to end (skipped if ``another_waits``:
    a launcher run of the same schedule waits already); ``replace``: the running ones
    are cancelled (their unfinished steps) and the new one starts. ``note`` replaces
    the policy's in the reason (why another rule applies)."""
    if overlap is OverlapPolicy.ALLOW or len(running) < max_instances:
        return START
    shown = ", ".join(running[:3]) + (", …" if len(running) > 3 else "")
    runs = "run" if len(running) == 1 else "runs"
    busy = f"workflow {workflow} {runs} {shown} still running"
    note = f"({note or f'overlap policy {overlap.value}'}, max_instances={max_instances})"
    if overlap is OverlapPolicy.SKIP:
        return LaunchVerdict(skip=f"{busy} {note}")
    if overlap is OverlapPolicy.QUEUE_ONE:
        if another_waits:
            return LaunchVerdict(skip=f"{busy} and another start waits already {note}")
        return LaunchVerdict(wait=f"{busy} {note}")
    return LaunchVerdict(replace=tuple(running))


class WorkflowLauncher(BaseTask):
    """Starts ``workflow`` (see the module docstring). Its kwargs become the workflow
    run's params, which every step reads in ``TaskContext.workflow``: they are checked
    as params (``find_task``: the steps' tasks, by name)."""

    def __init__(self, workflow: Workflow, find_task: TaskLookup) -> None:
        super().__init__()
        self.workflow = workflow
        self._find_task = find_task

    @property
    def task_name(self) -> str:
        return launcher_name(self.workflow.name)

    @property
    def task_description(self) -> str:
        return self.workflow.description or f"starts workflow {self.workflow.name}"

    @property
    def task_category(self) -> str:
        return CATEGORY

    @property
    def default_schedule(self) -> dict[str, Any] | str | None:
        return self.workflow.schedule

    @property
    def retry_config(self) -> dict[str, Any]:
        # Retries only matter when the node died before the start was written.
        return {"max_retries": 3, "retry_delay": 1, "backoff_factor": 2}

    @property
    def source(self) -> str:
        return f"workflow {self.workflow.name}"

    def parameters_schema(self) -> dict[str, Any] | None:
        """The workflow's declared params, for forms (the API's, the console's, the CLI's
        ``-p`` reading); None when it declares none."""
        params = self.workflow.params
        return params.model_json_schema() if params is not None else None

    def validate_kwargs(
        self, kwargs: Mapping[str, Any] | None, *, tz: tzinfo | None = None
    ) -> dict[str, Any]:
        return check_params(self.workflow, self._find_task, kwargs, field="kwargs")

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "message": f"starting workflow {self.workflow.name}"}
