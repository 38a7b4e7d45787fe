"""The task that starts a workflow: ``workflow.<name>``.

A workflow is scheduled (and run by hand, paused, shown) through this task like any
other, so schedules, calendars, misfire and overlap policies and exactly-once firing
apply unchanged. The task itself does nothing; the engine starts the workflow run when a
launcher run succeeds, before that run is recorded finished, with the launcher run's id
as the workflow run's id: a node dying in between leaves the launcher run to the reaper,
whose retry starts the same workflow run (inserted if absent), never a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from schedkit.task import BaseTask
from schedkit.workflows.definition import Workflow
from schedkit.workflows.params import TaskLookup, check_params

#: Prefix of a launcher's task name.
LAUNCHER_PREFIX = "workflow."
CATEGORY = "workflow"


def launcher_name(workflow: str) -> str:
    return f"{LAUNCHER_PREFIX}{workflow}"


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
