"""Workflows: named DAGs of task steps (``Workflow``, ``Step``), their pure planning
(``plan``) and the task that starts them on a schedule (``launcher``). See
docs/workflows.md."""

from __future__ import annotations

from schedkit.workflows.definition import (
    FailurePolicy,
    Step,
    StepCondition,
    Workflow,
    WorkflowDefinitionError,
)

__all__ = ["FailurePolicy", "Step", "StepCondition", "Workflow", "WorkflowDefinitionError"]
