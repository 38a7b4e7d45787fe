"""schedkit: scheduled tasks for Python business systems.

Tasks are small classes (the design document's ``BaseTask``) or ``@task`` functions; the
:class:`Scheduler` runs them on cron / interval / date schedules, records every run, and
fires each schedule exactly once however many nodes share the store.
"""

from __future__ import annotations

from schedkit.clock import Clock, OffsetClock, SystemClock
from schedkit.config import SchedkitConfig
from schedkit.context import RunCancelledError
from schedkit.errors import (
    BackfillNotFoundError,
    CalendarNotFoundError,
    ConfigError,
    ConflictError,
    DuplicateTaskError,
    NotRunningError,
    ResultNotReadable,
    RunNotFoundError,
    SchedkitError,
    ScheduleConflictError,
    ScheduleLimitError,
    ScheduleNotFoundError,
    StoreClosedError,
    StoreError,
    StoreFileReplacedError,
    StoreNotFoundError,
    StoreOutdatedError,
    StoreRefusedError,
    StoreUnavailableError,
    StoreUnwritableError,
    TaskDefinitionError,
    TaskNotFoundError,
    ValidationError,
    WorkflowNotFoundError,
)
from schedkit.events import EventKind, RunEvent
from schedkit.models import (
    OverlapPolicy,
    Run,
    RunStatus,
    Schedule,
    TriggerSource,
)
from schedkit.registry import TaskRegistry, task_registry
from schedkit.service import Scheduler
from schedkit.service.bulk import BulkScheduleError, ScheduleEntry
from schedkit.sync import SyncScheduler
from schedkit.task import (
    BaseTask,
    RetryPolicy,
    TaskContext,
    TaskPriority,
    TaskResult,
    TaskStatus,
    current_context,
    task,
)
from schedkit.version import __version__ as __version__
from schedkit.workflows import (
    FailurePolicy,
    Step,
    StepCondition,
    Workflow,
    WorkflowDefinitionError,
)

__all__ = [
    "BackfillNotFoundError",
    "BaseTask",
    "BulkScheduleError",
    "CalendarNotFoundError",
    "Clock",
    "ConfigError",
    "ConflictError",
    "DuplicateTaskError",
    "EventKind",
    "FailurePolicy",
    "NotRunningError",
    "OffsetClock",
    "OverlapPolicy",
    "ResultNotReadable",
    "RetryPolicy",
    "Run",
    "RunCancelledError",
    "RunEvent",
    "RunNotFoundError",
    "RunStatus",
    "SchedkitConfig",
    "SchedkitError",
    "Schedule",
    "ScheduleConflictError",
    "ScheduleEntry",
    "ScheduleLimitError",
    "ScheduleNotFoundError",
    "Scheduler",
    "Step",
    "StepCondition",
    "StoreClosedError",
    "StoreError",
    "StoreFileReplacedError",
    "StoreNotFoundError",
    "StoreOutdatedError",
    "StoreRefusedError",
    "StoreUnavailableError",
    "StoreUnwritableError",
    "SyncScheduler",
    "SystemClock",
    "TaskContext",
    "TaskDefinitionError",
    "TaskNotFoundError",
    "TaskPriority",
    "TaskRegistry",
    "TaskResult",
    "TaskStatus",
    "TriggerSource",
    "ValidationError",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowNotFoundError",
    "current_context",
    "task",
    "task_registry",
]
