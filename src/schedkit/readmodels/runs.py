"""Runs, their log lines and their events as the API, console and CLI show them."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from pydantic import Field, JsonValue

from schedkit.events import EventKind, RunEvent
from schedkit.models import LogLine, Run, RunStatus, TriggerSource, to_json
from schedkit.readmodels.common import View, local

__all__ = [
    "LogLineView",
    "RunBrief",
    "RunEventView",
    "RunView",
    "log_line_view",
    "run_brief",
    "run_event_view",
    "run_view",
]


class RunBrief(View):
    """A run's outcome at a glance."""

    id: str
    status: RunStatus
    trigger_source: TriggerSource
    scheduled_for: datetime
    scheduled_for_local: datetime
    started_at: datetime | None
    finished_at: datetime | None
    finished_at_local: datetime | None
    duration: float | None = Field(description="Seconds the last attempt took.")
    attempt: int


class RunView(RunBrief):
    """Everything known about a run."""

    task_name: str
    schedule_id: str | None
    priority: int
    max_attempts: int
    kwargs: dict[str, JsonValue]
    not_before: datetime
    blocked_by: str | None
    node_id: str | None
    started_at_local: datetime | None
    heartbeat_at: datetime | None
    result: dict[str, JsonValue] | None
    error: dict[str, JsonValue] | None
    attempt_errors: list[dict[str, JsonValue]]
    progress: dict[str, JsonValue] | None
    reason: str | None
    cancel_requested: bool
    timeout: float | None
    created_at: datetime
    created_by: str | None


def _run_fields(run: Run, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "trigger_source": run.trigger_source,
        "scheduled_for": run.scheduled_for,
        "scheduled_for_local": run.scheduled_for.astimezone(tz),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "finished_at_local": local(run.finished_at, tz),
        "duration": run.duration,
        "attempt": run.attempt,
    }


def run_brief(run: Run, tz: tzinfo) -> RunBrief:
    return RunBrief(**_run_fields(run, tz))


def run_view(run: Run, tz: tzinfo) -> RunView:
    return RunView(
        **_run_fields(run, tz),
        task_name=run.task_name,
        schedule_id=run.schedule_id,
        priority=run.priority,
        max_attempts=run.max_attempts,
        kwargs=to_json(run.kwargs),
        not_before=run.not_before,
        blocked_by=run.blocked_by,
        node_id=run.node_id,
        started_at_local=local(run.started_at, tz),
        heartbeat_at=run.heartbeat_at,
        result=to_json(run.result),
        error=to_json(run.error),
        attempt_errors=to_json(run.attempt_errors),
        progress=to_json(run.progress),
        reason=run.reason,
        cancel_requested=run.cancel_requested,
        timeout=run.timeout,
        created_at=run.created_at,
        created_by=run.created_by,
    )


class LogLineView(View):
    seq: int
    attempt: int
    ts: datetime
    level: str
    logger: str
    message: str


def log_line_view(line: LogLine) -> LogLineView:
    return LogLineView(
        seq=line.seq,
        attempt=line.attempt,
        ts=line.ts,
        level=line.level,
        logger=line.logger,
        message=line.message,
    )


class RunEventView(View):
    """One run event as the event stream sends it."""

    kind: EventKind
    at: datetime
    run: RunView
    detail: dict[str, JsonValue]


def run_event_view(event: RunEvent, tz: tzinfo) -> RunEventView:
    return RunEventView(
        kind=event.kind, at=event.at, run=run_view(event.run, tz), detail=to_json(event.detail)
    )
