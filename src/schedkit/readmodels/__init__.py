"""Read models: what the API, the console and the CLI show, computed over the service
façade (never the store). Each view is a frozen pydantic model holding display-ready data:
UTC times with a ``*_local`` twin in the configured timezone, schedule text in the
reader's language, statistics over fixed windows.
"""

from __future__ import annotations

from schedkit.readmodels.admin import (
    AuditView,
    NodeView,
    TokenView,
    audit_view,
    node_views,
    token_view,
)
from schedkit.readmodels.backfill import BackfillView, backfill_view
from schedkit.readmodels.calendars import (
    CalendarDetail,
    CalendarSummary,
    CalendarYear,
    DayView,
    OverrideView,
    YearCoverageView,
    calendar_detail,
    calendar_summaries,
    calendar_warnings,
    calendar_year,
)
from schedkit.readmodels.common import Lang, negotiate_lang
from schedkit.readmodels.overview import Overview, overview
from schedkit.readmodels.runs import (
    LogLineView,
    RunBrief,
    RunEventView,
    RunSummary,
    RunView,
    log_line_view,
    run_brief,
    run_event_view,
    run_summary,
    run_view,
)
from schedkit.readmodels.schedules import (
    CalendarWarningView,
    SchedulePreview,
    ScheduleView,
    TaskUpcoming,
    UpcomingFire,
    calendar_warning_view,
    schedule_preview,
    schedule_view,
    schedule_views,
    stored_preview,
    upcoming_by_task,
    upcoming_fires,
)
from schedkit.readmodels.stats import HourCounts, TaskStatsView, WindowStats, task_stats_view
from schedkit.readmodels.tasks import (
    RetryView,
    TaskDetail,
    TaskSummary,
    task_detail,
    task_summaries,
)
from schedkit.readmodels.workflows import (
    StepRunView,
    WorkflowRunPage,
    WorkflowRunSummary,
    WorkflowRunView,
    WorkflowView,
    workflow_run_summary,
    workflow_run_view,
    workflow_view,
)

__all__ = [
    "AuditView",
    "BackfillView",
    "CalendarDetail",
    "CalendarSummary",
    "CalendarWarningView",
    "CalendarYear",
    "DayView",
    "HourCounts",
    "Lang",
    "LogLineView",
    "NodeView",
    "OverrideView",
    "Overview",
    "RetryView",
    "RunBrief",
    "RunEventView",
    "RunSummary",
    "RunView",
    "SchedulePreview",
    "ScheduleView",
    "StepRunView",
    "TaskDetail",
    "TaskStatsView",
    "TaskSummary",
    "TaskUpcoming",
    "TokenView",
    "UpcomingFire",
    "WindowStats",
    "WorkflowRunPage",
    "WorkflowRunSummary",
    "WorkflowRunView",
    "WorkflowView",
    "YearCoverageView",
    "audit_view",
    "backfill_view",
    "calendar_detail",
    "calendar_summaries",
    "calendar_warning_view",
    "calendar_warnings",
    "calendar_year",
    "log_line_view",
    "negotiate_lang",
    "node_views",
    "overview",
    "run_brief",
    "run_event_view",
    "run_summary",
    "run_view",
    "schedule_preview",
    "schedule_view",
    "schedule_views",
    "stored_preview",
    "task_detail",
    "task_stats_view",
    "task_summaries",
    "token_view",
    "upcoming_by_task",
    "upcoming_fires",
    "workflow_run_summary",
    "workflow_run_view",
    "workflow_view",
]
