"""Request bodies and the API's own response models (the read models are in schedkit.readmodels)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
)
from pydantic_core import PydanticCustomError

from schedkit.backfill_bounds import parse_bound
from schedkit.errors import ValidationError
from schedkit.limits import (
    MAX_CANCEL_REASON_CHARS,
    MAX_SCHEDULE_BATCH,
    MAX_SCHEDULE_ID_CHARS,
    SCHEDULE_ID_PATTERN,
)
from schedkit.models import RunStatus
from schedkit.readmodels import (
    AuditView,
    CalendarWarningView,
    FailingLoopView,
    LogLineView,
    RunSummary,
    RunView,
    ScheduleView,
    TokenView,
)
from schedkit.service.past_dates import ScheduleNote
from schedkit.tokens import Role

__all__ = [
    "MAX_SCHEDULE_BATCH",
    "SCHEDULE_BODY_EXAMPLES",
    "AuditPage",
    "BackfillRequest",
    "CancelRequest",
    "ExecuteRequest",
    "Health",
    "LogPage",
    "PauseRequest",
    "Readiness",
    "ReadyStatus",
    "RunAccepted",
    "RunPage",
    "ScheduleBatchCreated",
    "ScheduleBatchItem",
    "SchedulePage",
    "ScheduleResponse",
    "ScheduleWarning",
    "TaskSchedules",
    "TokenCreateRequest",
    "TokenCreated",
    "UtcDatetime",
    "WorkflowStartRequest",
]

T = TypeVar("T")


_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?([eE][-+]?\d+)?\s*")


def _iso_text(value: object) -> object:
    # pydantic reads numbers (and numeric strings) as Unix timestamps; the API documents
    # ISO 8601 date-times only.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(
            "expected an ISO 8601 date-time with offset, e.g. 2025-01-31T02:00:00+08:00"
        )
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None


#: A query/body datetime: must carry an offset; converted to UTC.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_to_utc)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecuteRequest(_Body):
    """Parameters of a manual run; validated against the task's declared parameters."""

    kwargs: dict[str, JsonValue] = Field(
        default_factory=dict, description="Keyword arguments for the task's execute()."
    )


class PauseRequest(_Body):
    note: str | None = Field(
        default=None, max_length=1000, description="Why it is paused, shown to operators."
    )


class WorkflowStartRequest(_Body):
    params: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The workflow run's params; every step reads them in its context.",
    )


class CancelRequest(_Body):
    reason: str | None = Field(default=None, max_length=MAX_CANCEL_REASON_CHARS)


def _day_or_moment(value: object) -> object:
    # The bound's text is read by the one parser the CLI and Python use too (pydantic's
    # own took "2024-03-10 00:00+08:00", "+0800" and a midnight date-time as a date: an
    # audit). Its refusal is the whole answer, naming the field, not one error per member
    # of the union, and without pydantic's "Value error, " prefix.
    if isinstance(value, int | float):
        value = str(value)  # a Unix timestamp is not a bound: refused like any bad text
    if not isinstance(value, str):
        return value  # pydantic says what is wrong with it
    try:
        return parse_bound(value, field="")
    except ValidationError as exc:
        raise PydanticCustomError("backfill_bound", "{reason}", {"reason": exc.message}) from None


#: A backfill bound: a date (YYYY-MM-DD, the whole day) or a date-time with offset.
_BackfillBound = Annotated[
    AwareDatetime | Annotated[date, Strict()], BeforeValidator(_day_or_moment)
]


class BackfillRequest(_Body):
    """A past range of a schedule to run. A date alone (YYYY-MM-DD) is that whole day in
    the schedule's timezone (``to`` inclusive); a date-time needs an offset (``to``
    exclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: _BackfillBound = Field(
        alias="from",
        examples=["2026-11-01"],
        description="First day (YYYY-MM-DD, from its midnight) or a date-time with offset.",
    )
    end: _BackfillBound = Field(
        alias="to",
        examples=["2026-11-15"],
        description="Last day (YYYY-MM-DD, included) or a date-time with offset (excluded).",
    )
    concurrency: int = Field(
        default=1, ge=1, le=100, description="Most runs of this backfill running at once."
    )


class ScheduleBatchItem(_Body):
    """One schedule of a batch: its task, its schedule, its id (default: the task name)."""

    id: str | None = Field(
        default=None, max_length=MAX_SCHEDULE_ID_CHARS, pattern=SCHEDULE_ID_PATTERN
    )
    task: str = Field(min_length=1, max_length=200)
    schedule: dict[str, JsonValue] | str = Field(
        description="Any form POST /tasks/{task_name}/schedule takes."
    )


class ScheduleWarning(BaseModel):
    """What a schedule saved will not run (it is stored all the same)."""

    kind: Literal["past_run_date", "past_end_date", "fire_recorded"] = Field(
        description="past_run_date: a one-off later than its misfire grace already, to be "
        "recorded missed; past_end_date: no fire left before its end_date, stored as "
        "ended; fire_recorded: its fire due now was run already under this schedule id "
        "(a fire runs once per schedule id)."
    )
    schedule_id: str
    message: str = Field(description="The warning in words, as logged.")

    @classmethod
    def of(cls, note: ScheduleNote) -> ScheduleWarning:
        return cls(kind=note.kind, schedule_id=note.schedule_id, message=note.message())


_WARNINGS_DOC = (
    "What a schedule saved will not run, e.g. a one-off whose run date is past its "
    "misfire grace (a naive date-time read in the configured zone); empty when all is well."
)


class ScheduleBatchCreated(BaseModel):
    created: int = Field(description="How many schedules were created (all of the batch).")
    ids: list[str]
    warnings: list[ScheduleWarning] = Field(default_factory=list, description=_WARNINGS_DOC)


class TokenCreateRequest(_Body):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$",
        description="Unique among unrevoked tokens; shown in the audit trail as the actor.",
    )
    role: Role


class _Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Matching items, all pages.")
    limit: int
    offset: int


class RunPage(_Page[RunSummary]):
    """A page of runs, newest scheduled first."""


class SchedulePage(_Page[ScheduleView]):
    """A page of schedules, in id order."""


class AuditPage(_Page[AuditView]):
    """A page of audit events, newest first."""


class LogPage(BaseModel):
    run_id: str
    items: list[LogLineView]
    next_after_seq: int = Field(description="Pass as ?after_seq= to read the lines after these.")


class RunAccepted(BaseModel):
    """A run was created (202), or has finished when waited for (200)."""

    run_id: str
    task_name: str
    status: RunStatus
    finished: bool
    run: RunView


class ScheduleResponse(BaseModel):
    schedule: ScheduleView
    next_fire_times: list[datetime] = Field(
        description="The next 5 fires from now that its business calendar allows (as "
        "schedule.next_fire_time), UTC."
    )
    next_fire_times_local: list[datetime] = Field(description="The same, in the configured zone.")
    warnings: list[ScheduleWarning] = Field(default_factory=list, description=_WARNINGS_DOC)


class TaskSchedules(BaseModel):
    task_name: str
    schedules: list[ScheduleView]


class Health(BaseModel):
    status: Literal["ok"] = Field(
        "ok", description="The process serves requests: ok also while a loop fails."
    )
    failing: list[FailingLoopView] = Field(
        default_factory=list,
        description="This node's loops whose passes fail although its store answers "
        "(/ready answers 503 meanwhile); the error with credentials only.",
    )


class AlertsReadiness(BaseModel):
    enabled: bool = Field(description="Alerts are on (``alerts.enabled`` with channels).")
    healthy: bool = Field(
        description="Every alert channel delivers (none failed ``unhealthy_after`` times in "
        "a row, none misconfigured); details in ``GET /alerts/status``."
    )


class ReadyStatus(BaseModel):
    """What ``/ready`` tells a caller without credentials (a load balancer)."""

    status: Literal["ready"] = "ready"
    store: Literal["ok"] = "ok"


class Readiness(ReadyStatus):
    """What ``/ready`` tells an authenticated caller (any role)."""

    node_id: str = Field(description="This node: host name, process id and a random part.")
    scheduler: Literal["leader", "standby", "disabled"] = Field(
        description="leader: this node fires schedules; standby: another node holds the lease."
    )
    calendar_warnings: list[CalendarWarningView] = Field(
        default_factory=list,
        description="Business calendars schedules use whose coming years no source "
        'confirms ("calendar cn_workdays for 2027 not confirmed"): the node is ready, '
        "but those schedules follow an estimate until an operator enters the year.",
    )
    alerts: AlertsReadiness | None = Field(
        default=None,
        description="This node's alert delivery; null without a Monitor. An unhealthy "
        "channel does not make the node unready (restarting it would not help).",
    )


class AlertChannelStatus(BaseModel):
    name: str
    scheme: str
    healthy: bool
    consecutive_failures: int
    sent: int
    failed: int
    throttled: int
    dropped: int
    queued: int
    last_error: str | None = Field(description="Redacted: secrets of the channel masked.")
    last_success_at: AwareDatetime | None
    last_failure_at: AwareDatetime | None


class AlertStatus(BaseModel):
    alerts_enabled: bool
    healthy: bool = Field(description="Every channel healthy.")
    channels: list[AlertChannelStatus]
    events_queued: int = Field(description="Run events waiting for the alert rules.")
    last_check: AwareDatetime | None = Field(
        description="When the lease holder last checked the store-wide rules."
    )
    leader: bool = Field(description="This node holds the lease (checks store-wide rules).")
    tracing: bool


class AlertChannelTest(BaseModel):
    channel: str = Field(description="The channel's name (its scheme or SMS type unless named).")
    scheme: str
    delivered: bool = Field(description="The channel accepted the test message.")
    error: str | None = Field(
        description="Why it did not (the channel's answer, secrets masked); null if it did."
    )


class AlertTestResult(BaseModel):
    node: str = Field(description="The node that sent the test message.")
    at: AwareDatetime
    at_local: str = Field(description="``at`` in the alerts' time zone, as the message says it.")
    delivered: bool = Field(description="Every channel tested delivered it.")
    channels: list[AlertChannelTest]


class Caller(BaseModel):
    """Who calls: what the console needs to offer only what the caller's role may do."""

    name: str = Field(description="As the audit trail records the caller's actions.")
    role: Role


class TokenCreated(BaseModel):
    token: TokenView
    secret: str = Field(description="The token itself. Shown once: it is stored hashed.")


#: Examples for the schedule bodies (document shape, nested spec, crontab string).
SCHEDULE_BODY_EXAMPLES: dict[str, dict[str, Any]] = {
    "document": {
        "summary": "The design document's shape",
        "value": {
            "trigger": "cron",
            "hour": 2,
            "minute": 0,
            "misfire_grace_time": 300,
            "max_instances": 1,
        },
    },
    "nested": {
        "summary": "The richer spec: trigger plus policies",
        "value": {
            "trigger": {
                "trigger": "cron",
                "expression": "30 6 * * 1-5",
                "timezone": "Asia/Shanghai",
                "calendar": "cn_workdays",
            },
            "overlap": "skip",
            "timeout": 600,
            "kwargs": {"dry_run": False},
        },
    },
    "interval": {
        "summary": "Every 10 minutes",
        "value": {"trigger": "interval", "minutes": 10, "jitter": 5},
    },
    "crontab": {"summary": "A crontab string", "value": "0 2 * * *"},
}
