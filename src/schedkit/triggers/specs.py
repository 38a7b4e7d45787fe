"""Schedule specs as validated data: the trigger union and the schedule's policies.

Everything a user can type goes through :meth:`ScheduleSpec.parse` (or
:meth:`ScheduleSpec.from_json` / :func:`parse_trigger` for stored data), which turns
pydantic's errors into :class:`schedkit.errors.ValidationError` naming the field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar
from zoneinfo import ZoneInfo

import pydantic
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schedkit._suggest import close_names, did_you_mean, unknown_timezone
from schedkit.calendars.rules import CalendarField
from schedkit.errors import ValidationError
from schedkit.models import MAX_NODE_LABELS, OverlapPolicy, labels_of
from schedkit.triggers.cron import gap_end as cron_gap_end
from schedkit.triggers.cronfields import FIELDS as CRON_FIELDS
from schedkit.triggers.cronfields import check_field, compile_fields
from schedkit.triggers.crontab import compile_crontab
from schedkit.triggers.fields import FieldError

INTERVAL_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
TRIGGER_TYPES = ("cron", "interval", "date")

_T = TypeVar("_T")
# The day fields a "never fires" error points at, the most specific first.
_DATE_FIELDS = ("day", "week", "day_of_week", "month", "year")


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` for a name the tz database lacks."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        # ZoneInfo signals a bad key as ZoneInfoNotFoundError (a KeyError), ValueError
        # (malformed path) or IsADirectoryError ("Asia"); users only need to know it is unknown.
        raise ValueError(unknown_timezone(name)) from None


def _shown(expression: str) -> str:
    """``expression`` quoted for an error message, cut when it is long."""
    return repr(expression if len(expression) <= 80 else expression[:77] + "...")


def _custom_error(message: str, field: str | None = None) -> PydanticCustomError:
    # The message goes through a context value so that braces in it are not read as a
    # template; "field" lets a model-level check name the field at fault. The type is
    # pydantic's for a failed check, as the API's 422 items say it (errors[].type).
    context: dict[str, Any] = {"reason": message}
    if field is not None:
        context["field"] = field
    return PydanticCustomError("value_error", "{reason}", context)


def _int_or_text(value: object) -> object:
    # Checked before the int | str union so that a wrong type is one error on the field
    # instead of one per union member.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | str)):
        raise _custom_error(f"expected an integer or a cron expression string, got {value!r}")
    return value


CronValue = Annotated[int | str | None, BeforeValidator(_int_or_text)]


def _number(value: object) -> object:
    # As for cron values: one error on the field, and ints stay ints in the stored JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _custom_error(f"expected a number, got {value!r}")
    return value


IntervalAmount = Annotated[int | float, BeforeValidator(_number), Field(ge=0)]


def _in_spec_zone(value: datetime, info: ValidationInfo, *, gap_end: bool = False) -> datetime:
    """Naive datetimes are wall times in the spec's zone; aware ones are shown in it.
    ``gap_end``: a naive wall time in a DST gap is the gap's end, where a cron's fixed
    time in the gap fires (else PEP 495's ``fold``: 02:30 in New York's gap is 03:30)."""
    name = info.data.get("timezone")
    if name is None:
        # Without a zone yet the value stays as given; ScheduleSpec.parse and
        # build_trigger fill the zone and validate again.
        return value
    tz = zone(name)
    try:
        local = value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
        if gap_end and value.tzinfo is None and (end := cron_gap_end(tz, value)) is not None:
            local = end.astimezone(tz)
        local.astimezone(UTC)  # where the triggers compute: 0001-01-01 at +14 is year 0
        return local
    except (OverflowError, ValueError):
        raise _custom_error(f"{value.isoformat()} is out of the supported date range") from None


#: Bounds of a schedule's policies (the CLI's options state them too).
MAX_JITTER = 86_400
MAX_INSTANCES = 10_000
MAX_RUNS = 1_000_000_000


class _TriggerSpecBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: str
    timezone: str | None = None
    #: At most a day: jitter spreads fires, it does not move them to another day.
    jitter: float | None = Field(default=None, ge=0, le=MAX_JITTER)
    #: A calendar name (built in or stored) or ``{"name": ..., "nth": ...}``; which
    #: calendars exist is known to the store, not here (see schedkit.calendars).
    calendar: CalendarField | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except ValueError as exc:
                raise _custom_error(str(exc)) from None
        return value

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict (datetimes as ISO strings with offsets); what Schedule.trigger holds."""
        return {"trigger": self.trigger, **self.model_dump(mode="json", exclude_defaults=True)}


class _WindowedSpecBase(_TriggerSpecBase):
    #: Whether a naive start_date/end_date in a DST gap is the gap's end (cron).
    trigger_gap_end: ClassVar[bool] = False

    start_date: datetime | None = None
    end_date: datetime | None = None

    @field_validator("start_date", "end_date")
    @classmethod
    def _window(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        # A cron's bounds are read as its fires are: its 02:30 fires at 03:00 on the day
        # 02:30 does not exist, so start_date 02:30 must not be 03:30 and skip that fire
        # (an audit) while end_date 02:30 kept it. An interval's start_date is its first
        # fire, an instant: PEP 495's reading stays (documented in schedules.md).
        value = _in_spec_zone(value, info, gap_end=cls.trigger_gap_end)
        start = info.data.get("start_date")
        if (
            info.field_name == "end_date"
            and start is not None
            and (start.tzinfo is None) == (value.tzinfo is None)
            and value < start
        ):
            raise _custom_error(
                f"end_date {value.isoformat()} is before start_date {start.isoformat()}"
            )
        return value


class CronSpec(_WindowedSpecBase):
    """A cron schedule: a crontab ``expression`` or APScheduler's cron fields, not both.

    ``expression`` has standard crontab semantics (5 fields, or 6 with a leading seconds
    field; day-of-week 0 and 7 are Sunday). The fields follow APScheduler 3's
    ``CronTrigger`` (``day_of_week`` 0 is Monday; names such as ``"mon-fri"`` work).
    """

    trigger_gap_end: ClassVar[bool] = True

    trigger: Literal["cron"] = "cron"
    expression: str | None = None
    year: CronValue = None
    month: CronValue = None
    day: CronValue = None
    week: CronValue = None
    day_of_week: CronValue = None
    hour: CronValue = None
    minute: CronValue = None
    second: CronValue = None

    @field_validator("expression")
    @classmethod
    def _valid_crontab(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        try:
            fields = compile_crontab(value)
        except FieldError as exc:
            raise _custom_error(f"{exc.message} in crontab {_shown(value)}") from None
        if fields.never_fires():
            raise _custom_error(
                f"crontab {_shown(value)} never fires: no date in any year matches its "
                "day-of-month, month and day-of-week fields"
            )
        return value

    @field_validator(*CRON_FIELDS)
    @classmethod
    def _valid_cron_field(cls, value: CronValue, info: ValidationInfo) -> CronValue:
        if value is not None:
            try:
                check_field(str(info.field_name), value)
            except FieldError as exc:
                raise _custom_error(exc.message) from None
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        fields = self.cron_fields()
        if self.expression is not None and fields:
            raise _custom_error(
                f"give either expression or cron fields, not both (got {', '.join(fields)})",
                field="expression",
            )
        if self.expression is None and not fields:
            raise _custom_error(
                f"a cron trigger needs expression or one of the fields {', '.join(CRON_FIELDS)}",
                field="expression",
            )
        if fields:
            try:
                compiled = compile_fields(fields)
            except FieldError as exc:
                raise _custom_error(exc.message, field=exc.field) from None
            if compiled.never_fires():
                given = ", ".join(f"{k}={v!r}" for k, v in fields.items() if k in _DATE_FIELDS)
                blame = next(name for name in _DATE_FIELDS if name in fields)
                raise _custom_error(
                    f"the cron fields never fire: no date in any year matches {given}",
                    field=blame,
                )
        return self

    def cron_fields(self) -> dict[str, int | str]:
        """The APScheduler cron fields that were given."""
        values = {name: getattr(self, name) for name in CRON_FIELDS}
        return {name: value for name, value in values.items() if value is not None}


class IntervalSpec(_WindowedSpecBase):
    """Every fixed length of real time (DST does not stretch or shrink it)."""

    trigger: Literal["interval"] = "interval"
    weeks: IntervalAmount = 0
    days: IntervalAmount = 0
    hours: IntervalAmount = 0
    minutes: IntervalAmount = 0
    seconds: IntervalAmount = 0

    @property
    def blamed_unit(self) -> str:
        """The field an error about the interval's length names: its smallest unit given."""
        given = [unit for unit in INTERVAL_UNITS if unit in self.model_fields_set]
        return given[-1] if given else "seconds"

    @model_validator(mode="after")
    def _positive(self) -> Self:
        blame = self.blamed_unit
        try:
            length = self.length()
        except OverflowError:
            raise _custom_error("interval is too long", field=blame) from None
        if length <= timedelta(0):
            raise _custom_error(
                "interval must be longer than zero (set weeks, days, hours, minutes or seconds)",
                field=blame,
            )
        return self

    def length(self) -> timedelta:
        return timedelta(
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )


class DateSpec(_TriggerSpecBase):
    """Once, at ``run_date``."""

    trigger: Literal["date"] = "date"
    run_date: datetime

    @field_validator("run_date")
    @classmethod
    def _run_date_in_zone(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _in_spec_zone(value, info)


TriggerSpec = Annotated[CronSpec | IntervalSpec | DateSpec, Field(discriminator="trigger")]
TRIGGER_SPEC_TYPES = (CronSpec, IntervalSpec, DateSpec)
_SPEC_BY_TYPE: dict[str, type[_TriggerSpecBase]] = {
    "cron": CronSpec,
    "interval": IntervalSpec,
    "date": DateSpec,
}
_TRIGGER_ADAPTER: TypeAdapter[CronSpec | IntervalSpec | DateSpec] = TypeAdapter(TriggerSpec)


class ScheduleSpec(BaseModel):
    """What a user passes to schedule a task: the trigger plus the firing policies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger: TriggerSpec
    misfire_grace_time: float | None = Field(default=300.0, gt=0)
    max_instances: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    coalesce: bool = True
    overlap: OverlapPolicy = OverlapPolicy.SKIP
    timeout: float | None = Field(default=None, gt=0)
    #: End after this many runs (None: no limit). An end date is the trigger's end_date.
    max_runs: int | None = Field(default=None, ge=1, le=MAX_RUNS)
    kwargs: dict[str, JsonValue] = Field(default_factory=dict)
    #: Labels a node must offer to execute the runs, on top of the task's (docs/cluster.md).
    labels: list[str] = Field(default_factory=list, max_length=MAX_NODE_LABELS)
    #: Where the runs execute: schedkit nodes (``local``) or Celery workers (``celery``);
    #: None: where the task says (docs/cluster.md). Recorded on each run.
    executor: Literal["local", "celery"] | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        return list(labels_of(value))

    @classmethod
    def parse(
        cls,
        data: ScheduleSpec | CronSpec | IntervalSpec | DateSpec | Mapping[str, Any] | str,
        *,
        default_timezone: str = "Asia/Shanghai",
    ) -> ScheduleSpec:
        """Validate any accepted form; the result always names its timezone.

        Forms: the design document's flat dict (``{"trigger": "cron", "hour": 2,
        "max_instances": 1}``), a nested dict (``{"trigger": {...}, "overlap": ...}``), a
        crontab string, a trigger spec or a ScheduleSpec.
        """
        return _validate(_SCHEDULE_ADAPTER, _nested(data, default_timezone), ())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScheduleSpec:
        """The inverse of :meth:`to_json`."""
        return _validate(_SCHEDULE_ADAPTER, data, ())

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict; ``["trigger"]`` is what :class:`schedkit.models.Schedule` stores."""
        policies = self.model_dump(mode="json", exclude={"trigger"})
        return {"trigger": self.trigger.to_json(), **policies}


_POLICY_FIELDS = frozenset(ScheduleSpec.model_fields) - {"trigger"}
_SCHEDULE_ADAPTER = TypeAdapter(ScheduleSpec)


def parse_trigger(
    data: Mapping[str, Any] | CronSpec | IntervalSpec | DateSpec,
    *,
    default_timezone: str = "Asia/Shanghai",
) -> CronSpec | IntervalSpec | DateSpec:
    """A trigger spec from a dict (e.g. ``Schedule.trigger``) or a spec, timezone filled in.

    Errors name ``trigger.<field>``, as for a whole schedule.
    """
    if isinstance(data, TRIGGER_SPEC_TYPES):
        if data.timezone is not None:
            return data
        data = _spec_data(data)
    if isinstance(data, Mapping) and data.get("timezone") is None:
        data = {**data, "timezone": default_timezone}
    return _validate(_TRIGGER_ADAPTER, data, ("trigger",))


def _spec_data(spec: CronSpec | IntervalSpec | DateSpec) -> dict[str, Any]:
    """The fields given to ``spec`` as Python values, for validating again."""
    return {"trigger": spec.trigger, **spec.model_dump(exclude_defaults=True)}


def _nested(data: object, default_timezone: str) -> object:
    """Bring every accepted input form to ``{"trigger": {...}, <policies>}``."""
    if isinstance(data, ScheduleSpec):
        # exclude_unset keeps model_fields_set, which tells callers the policies left out.
        policies = data.model_dump(exclude={"trigger"}, exclude_unset=True)
        nested: dict[str, Any] = {**policies, "trigger": data.trigger}
    elif isinstance(data, TRIGGER_SPEC_TYPES):
        nested = {"trigger": data}
    elif isinstance(data, str):
        nested = {"trigger": {"trigger": "cron", "expression": data}}
    elif isinstance(data, Mapping) and isinstance(data.get("trigger"), str):
        kind: str = data["trigger"]
        trigger = {k: v for k, v in data.items() if k not in _POLICY_FIELDS and k != "trigger"}
        if kind not in TRIGGER_TYPES and (" " in kind.strip() or kind.startswith("@")):
            trigger = {"trigger": "cron", "expression": kind, **trigger}
        else:
            trigger = {"trigger": kind, **trigger}
        nested = {"trigger": trigger, **{k: v for k, v in data.items() if k in _POLICY_FIELDS}}
    elif isinstance(data, Mapping):
        nested = dict(data)
    else:
        return data
    trigger_data = nested.get("trigger")
    if isinstance(trigger_data, TRIGGER_SPEC_TYPES):
        trigger_data = _spec_data(trigger_data)
    if isinstance(trigger_data, Mapping) and trigger_data.get("timezone") is None:
        nested["trigger"] = {**trigger_data, "timezone": default_timezone}
    return nested


def _validate(adapter: TypeAdapter[_T], data: object, prefix: tuple[str, ...]) -> _T:
    try:
        return adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        raise _convert(exc, prefix) from None


def _convert(exc: pydantic.ValidationError, prefix: tuple[str, ...]) -> ValidationError:
    problems: list[dict[str, Any]] = []
    for error in exc.errors():
        loc = [*prefix, *error["loc"]]
        model: type[BaseModel] = ScheduleSpec
        if len(loc) >= 2 and loc[0] == "trigger" and loc[1] in _SPEC_BY_TYPE:
            # A discriminated union puts the tag in the location; users never typed it.
            model = _SPEC_BY_TYPE[str(loc.pop(1))]
        context = error.get("ctx") or {}
        message = str(error["msg"])
        if error["type"] == "union_tag_invalid":
            loc.append("trigger")
            message = f"unknown trigger type {context.get('tag')!r}; expected one of " + ", ".join(
                TRIGGER_TYPES
            )
        elif error["type"] == "union_tag_not_found":
            loc.append("trigger")
            message = "missing trigger type; expected one of " + ", ".join(TRIGGER_TYPES)
        elif error["type"] == "extra_forbidden":
            message = _unknown_field_message(str(loc[-1]), model, top=len(loc) <= 2)
        if "field" in context:
            loc.append(context["field"])
        problems.append({"loc": loc, "msg": message, "type": error["type"]})
    first = problems[0]
    message = first["msg"]
    if len(problems) > 1:
        rest = "; ".join(f"{_dotted(p['loc'])}: {p['msg']}" for p in problems[1:])
        message = f"{message} (also {rest})"
    return ValidationError(message, field=_dotted(first["loc"]) or None, errors=problems)


#: APScheduler's ``add_job`` options a migrated schedule may still carry, and where each
#: went: they are no typo, so a close spelling would not help.
_APSCHEDULER_OPTIONS = {
    "replace_existing": (
        "APScheduler's option: add_task replaces the schedule with the same id already; "
        "expected_version=0 refuses to replace one"
    ),
    "next_run_time": (
        "APScheduler's option: for next_run_time=None, pause the task once added "
        "(pause_task pauses all its schedules); for a later first fire, give the trigger a "
        "start_date"
    ),
    "id": (
        "a schedule's id is not part of its config: pass schedule_id, which defaults to "
        "the task name, so a task's second schedule needs one"
    ),
    "name": "a schedule has no name: schedule_id names it, its task's description describes it",
    "jobstore": (
        "APScheduler's option: every schedule is kept in the one store the nodes share (store_url)"
    ),
}


def _unknown_field_message(name: str, model: type[BaseModel], *, top: bool) -> str:
    """``top``: ``name`` is a key of the schedule or of its trigger, where APScheduler's
    options would be (not of a calendar inside the trigger)."""
    if top and name in _APSCHEDULER_OPTIONS:
        return f"unknown field {name!r} ({_APSCHEDULER_OPTIONS[name]})"
    kind = next((k for k, spec in _SPEC_BY_TYPE.items() if spec is model), None)
    owners = [k for k, spec in _SPEC_BY_TYPE.items() if k != kind and name in spec.model_fields]
    if kind is not None and owners:
        # A close spelling of a field of this type would only mislead ("minutes" on a
        # date trigger is not a typo of "max_instances").
        return f"{name!r} is a field of {' and '.join(owners)} triggers, not of {kind} triggers"
    known = [field for field in model.model_fields if field != "trigger"]
    if model is not ScheduleSpec:
        known += sorted(_POLICY_FIELDS)
    close = close_names(name, known, n=1)
    hint = f" ({did_you_mean(close)})" if close else ""
    return f"unknown field {name!r}{hint}"


def _dotted(loc: list[Any]) -> str:
    return ".".join(str(part) for part in loc)
