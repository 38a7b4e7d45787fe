"""Runs, their log lines and their events as the API, console and CLI show them."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from pydantic import Field, JsonValue

from schedkit.events import EventKind, RunEvent
from schedkit.models import (
    JSON,
    LogLine,
    Run,
    RunStatus,
    TriggerSource,
    failed_attempts,
    last_failure,
    time_across_attempts,
    to_json,
)
from schedkit.readmodels.common import View, local
from schedkit.redaction import (
    mask_values,
    redact,
    redact_json,
    redact_kwargs,
    run_secrets,
    secret_parameters,
)

__all__ = [
    "LogLineView",
    "RunBrief",
    "RunEventView",
    "RunSummary",
    "RunView",
    "log_line_view",
    "run_brief",
    "run_event_view",
    "run_summary",
    "run_view",
]


#: A summary's result message is cut here (``GET /runs/{id}`` has the whole result).
MESSAGE_LIMIT = 200


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
    duration_across_attempts: float | None = Field(
        None,
        description="Seconds from the first attempt's start to the end, retry delays "
        "included, for a finished run of more than one attempt; null otherwise.",
    )
    attempt: int


class RunSummary(RunBrief):
    """A run as lists and live events show it: its state and outcome without its kwargs,
    result body or tracebacks, so that a page of runs stays small whatever the runs
    carry (``GET /runs/{id}`` has everything)."""

    task_name: str
    schedule_id: str | None
    priority: int
    max_attempts: int
    not_before: datetime
    blocked_by: str | None
    node_id: str | None
    started_at_local: datetime | None
    heartbeat_at: datetime | None
    error: dict[str, JsonValue] | None = Field(
        description="The error's type and message (credentials masked)."
    )
    failed_attempts: int = Field(
        description="Earlier attempts that failed and were retried (not those a drain handed back)."
    )
    last_failure: dict[str, JsonValue] | None = Field(
        None,
        description="The type and message of the latest failed attempt (credentials "
        "masked): what a run waiting for its retry failed with.",
    )
    progress: dict[str, JsonValue] | None
    reason: str | None
    message: str | None = Field(
        None,
        description="The message the run's result reported (credentials masked; at most "
        f"{MESSAGE_LIMIT} characters): what a finished step or run said it did.",
    )
    cancel_requested: bool
    timeout: float | None
    created_at: datetime
    created_by: str | None
    labels: list[str] = Field(description="Labels a node must offer to execute the run.")
    executor: str = Field(
        "local", description="Where the run executes: 'local' (schedkit nodes) or e.g. 'celery'."
    )
    waiting: str | None = Field(
        None, description="Why a pending run waits when no live node can take it."
    )


class RunView(RunSummary):
    """Everything known about a run (credentials in errors masked)."""

    kwargs: dict[str, JsonValue]
    result: dict[str, JsonValue] | None
    error: dict[str, JsonValue] | None = Field(
        description="type, message and traceback (credentials masked)."
    )
    attempt_errors: list[dict[str, JsonValue]]


#: Run attributes a brief (and so every view) shows as they are.
_BRIEF_COPIED = (
    "id",
    "status",
    "trigger_source",
    "scheduled_for",
    "started_at",
    "finished_at",
    "duration",
    "attempt",
)
#: Run attributes a summary (and so the full view) adds as they are.
_SUMMARY_COPIED = (
    "task_name",
    "executor",
    "schedule_id",
    "priority",
    "max_attempts",
    "not_before",
    "blocked_by",
    "node_id",
    "heartbeat_at",
    "reason",
    "cancel_requested",
    "timeout",
    "created_at",
    "created_by",
)


def _run_fields(run: Run, tz: tzinfo) -> dict[str, Any]:
    return {
        **{name: getattr(run, name) for name in _BRIEF_COPIED},
        "scheduled_for_local": run.scheduled_for.astimezone(tz),
        "finished_at_local": local(run.finished_at, tz),
        "duration_across_attempts": time_across_attempts(run),
    }


def run_brief(run: Run, tz: tzinfo) -> RunBrief:
    return RunBrief(**_run_fields(run, tz))


def _summary_fields(run: Run, tz: tzinfo, secrets: frozenset[str]) -> dict[str, Any]:
    return {
        **_run_fields(run, tz),
        **{name: getattr(run, name) for name in _SUMMARY_COPIED},
        "started_at_local": local(run.started_at, tz),
        "failed_attempts": failed_attempts(run),
        "last_failure": _brief_error(last_failure(run), secrets),
        # Task-written text, like the error: it can carry what the task connected with.
        "progress": redact_json(to_json(run.progress), secrets),
        "labels": list(run.labels),
        "message": _result_message(run, secrets),
    }


def _secrets(run: Run) -> frozenset[str]:
    """The values of ``run``'s secret parameters, masked in all it shows (its error and
    log lines were masked as recorded; its result is the task's, as returned)."""
    return run_secrets(run.task_name, to_json(run.kwargs))


def _result_message(run: Run, secrets: frozenset[str]) -> str | None:
    """The result's ``message``, masked and cut: workflow pages showed nothing of what a
    successful step reported (an audit: "settled 173,250.0 CNY for 2026-12-04")."""
    said = (run.result or {}).get("message")
    if not isinstance(said, str) or not said:
        return None
    text = redact(mask_values(said, secrets))
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _brief_error(error: JSON | None, secrets: frozenset[str]) -> JSON | None:
    """An error's type and message, masked: a summary leaves its traceback out."""
    if error is None:
        return None
    brief = {key: error.get(key) for key in ("type", "message")}
    masked: JSON = redact_json(to_json(brief), secrets)
    return masked


def run_summary(run: Run, tz: tzinfo, waiting: str | None = None) -> RunSummary:
    secrets = _secrets(run)
    return RunSummary(
        **_summary_fields(run, tz, secrets),
        error=_brief_error(run.error, secrets),
        waiting=waiting,
    )


def run_view(run: Run, tz: tzinfo, waiting: str | None = None) -> RunView:
    secrets = _secrets(run)
    return RunView(
        **_summary_fields(run, tz, secrets),
        waiting=waiting,
        kwargs=redact_kwargs(to_json(run.kwargs), secret_parameters(run.task_name)),
        # The design document's tasks put the exception text in the result's message.
        result=redact_json(to_json(run.result), secrets),
        error=redact_json(to_json(run.error), secrets),
        attempt_errors=redact_json(to_json(run.attempt_errors), secrets),
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
        message=redact(line.message),
    )


class RunEventView(View):
    """One run event as the event stream sends it."""

    kind: EventKind
    at: datetime
    run: RunSummary
    detail: dict[str, JsonValue]


def run_event_view(event: RunEvent, tz: tzinfo) -> RunEventView:
    return RunEventView(
        kind=event.kind,
        at=event.at,
        run=run_summary(event.run, tz),
        detail=redact_json(to_json(event.detail)),
    )
