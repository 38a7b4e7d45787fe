"""Value objects shared by every layer: what a schedule, a run, a lease ... is.

They are frozen, keyword-only dataclasses holding plain data (JSON-able dicts, UTC
datetimes), so every store can persist them without pickling code (the design
document's sketch pickled bound methods; see mission.md §2).
"""

from __future__ import annotations

import enum
import json
import operator
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

from schedkit.errors import ResultNotStorable
from schedkit.result_forms import lossless_form

JSON = dict[str, Any]


class RunStatus(enum.StrEnum):
    """Status of a run. The design document's five values plus the engine's extras."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    LOST = "lost"
    MISSED = "missed"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)

    @property
    def active(self) -> bool:
        return self in (RunStatus.PENDING, RunStatus.RUNNING)


FINISHED_STATUSES: frozenset[RunStatus] = frozenset(s for s in RunStatus if s.finished)
ACTIVE_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.PENDING, RunStatus.RUNNING})


class TriggerSource(enum.StrEnum):
    """Why a run exists."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"
    CATCH_UP = "catch_up"
    DEPENDENCY = "dependency"
    #: A past fire run on request (``Scheduler.backfill``).
    BACKFILL = "backfill"
    WORKFLOW = "workflow"


class WorkflowStatus(enum.StrEnum):
    """Status of a workflow run (its steps have their own run statuses)."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class OverlapPolicy(enum.StrEnum):
    """What a fire does while ``max_instances`` runs of its schedule are still active."""

    ALLOW = "allow"
    SKIP = "skip"
    QUEUE_ONE = "queue_one"
    REPLACE = "replace"


#: ``\u0000`` as json.dumps writes a NUL, not preceded by an escaping backslash.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
#: ``json.dumps(value, allow_nan=False, ensure_ascii=False)``, its encoder built once
#: (dumps builds one per call when given options: most of its time on small values).
_strict_json = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode


def holds_nul_escape(text: str) -> bool:
    """Whether JSON ``text`` holds a NUL character (``\\u0000`` not itself escaped:
    ``\\\\u0000`` is text), which no store accepts."""
    # The substring test first: the pattern's search costs more.
    return "\\u0000" in text and _NUL_ESCAPE.search(text) is not None


def storable_json(value: Any) -> bytes:
    """``value`` as the UTF-8 JSON every store accepts, or ValueError saying why not:
    NaN/Infinity, lone surrogates (not UTF-8) and NUL characters (PostgreSQL's JSONB
    refuses them) are rejected here, before they can reach a store."""
    try:
        text = _strict_json(value)
        data = text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not storable as JSON: {exc}") from None
    if holds_nul_escape(text):
        raise ValueError("not storable as JSON: contains a NUL character (\\u0000)")
    return data


def result_json(value: Any) -> Any:
    """``value`` as a run's result keeps it: what JSON cannot carry natively in pydantic's
    form (dates, decimals and UUIDs as strings, sets and tuples as lists, enums by value,
    pydantic models and dataclasses as objects), the few other values with a lossless
    form in it (:func:`~schedkit.result_forms.lossless_form`: ObjectIds, numpy's numbers),
    bytes as text if they are UTF-8; else ResultNotStorable. Other bytes get no second
    form (base64 with a marker): the data's shape would change with its content, and its
    readers could not tell it from a string the task returned."""
    try:
        return to_jsonable_python(value, fallback=lossless_form)
    except UnicodeDecodeError as exc:
        raise ResultNotStorable(
            f"not storable as JSON: bytes that are not UTF-8 text ({exc}); return them "
            "encoded (base64.b64encode(data).decode()), or store them elsewhere and "
            "return a reference"
        ) from None
    except ResultNotStorable:
        raise
    except Exception as exc:  # a value's own code (a model's serializer, a generator)
        raise ResultNotStorable(f"not storable as JSON: {type(exc).__name__}: {exc}") from exc


def to_json(value: Any) -> Any:
    """JSON-able form of a value object (datetimes ISO 8601, enums by value)."""
    return to_jsonable_python(value)


#: The executor of runs that schedkit nodes execute themselves (the others are handed
#: off, e.g. to Celery: ``schedkit.placement``).
LOCAL_EXECUTOR = "local"

#: What a label may look like: it is stored joined with commas, and typed in configs.
_LABEL_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
#: Most labels one node offers: a claim matches its runs against every subset of them.
MAX_NODE_LABELS = 8


def labels_of(values: Any) -> tuple[str, ...]:
    """Labels in their one stored form: sorted, without duplicates, each validated
    (lowercase letters, digits, ``_ . -``; ValueError naming the bad one)."""
    if isinstance(values, str):
        values = [values]
    found: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not _LABEL_RE.fullmatch(value):
            raise ValueError(
                f"label {value!r} must be 1-40 lowercase letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        found.add(value)
    return tuple(sorted(found))


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are rejected (invariant 7)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given where an aware one is required")
    return value.astimezone(UTC)


_last_ms = 0
_seq = 0


def new_id() -> str:
    """A 32-hex-digit id that sorts by creation time (UUIDv7 layout, stdlib only).

    Ids must be unique, not unguessable (nothing is authorised by knowing one), so the
    random bits come from ``random`` (reseeded in forked children by the module itself)
    rather than a system call per id: a busy scheduler makes thousands a second.
    """
    global _last_ms, _seq
    ms = time.time_ns() // 1_000_000
    if ms <= _last_ms:
        _seq = (_seq + 1) & 0xFFF
        if _seq == 0:
            _last_ms += 1
        ms = _last_ms
    else:
        _last_ms, _seq = ms, 0
    rand = random.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (_seq << 64) | (0b10 << 62) | rand
    return f"{value:032x}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """When a task runs, with its kwargs and policies. Plain data, never code.

    ``trigger`` is the validated trigger spec as a JSON dict (see ``schedkit.triggers``).
    ``next_fire_time`` is the *nominal* next fire (jitter is applied at firing time, never
    stored, so jitter cannot drift the series). ``version`` increases on every change made
    by a user so that an in-memory copy can tell it is stale.

    End conditions: ``max_runs`` (None: no limit) ends the schedule once ``run_count``
    fires have started runs; ``run_count`` is advanced by the leader in the same write as
    those fires (:meth:`Store.record_fires`), and a user's write never changes it. An end
    date is the trigger's ``end_date``. An ended schedule has no ``next_fire_time``.
    """

    id: str
    task_name: str
    trigger: JSON
    kwargs: JSON = field(default_factory=dict)
    paused: bool = False
    pause_note: str | None = None
    misfire_grace_time: float | None = 300.0
    coalesce: bool = True
    max_instances: int = 1
    overlap: OverlapPolicy = OverlapPolicy.SKIP
    timeout: float | None = None
    #: Labels a node must offer to execute this schedule's runs, on top of its task's.
    labels: tuple[str, ...] = ()
    #: Where this schedule's runs execute (``"local"``, ``"celery"``); None: where its
    #: task says (``BaseTask.executor``). Recorded on each run (``Run.executor``).
    executor: str | None = None
    origin: str = "code"
    max_runs: int | None = None
    run_count: int = 0
    next_fire_time: datetime | None = None
    last_fire_time: datetime | None = None
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def __repr__(self) -> str:
        # Short and safe to log: kwargs may hold secrets (the API masks them).
        return (
            f"Schedule(id={self.id!r}, task_name={self.task_name!r}, "
            f"trigger={self.trigger.get('trigger')!r}, paused={self.paused}, "
            f"next_fire_time={_when(self.next_fire_time)}, version={self.version})"
        )

    @property
    def runs_left(self) -> int | None:
        """How many more runs the schedule may start (None: no ``max_runs``)."""
        if self.max_runs is None:
            return None
        return max(0, self.max_runs - self.run_count)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleCounts:
    """One task's schedules in numbers (what a task listing shows without reading them)."""

    task_name: str
    #: Schedules of the task.
    total: int
    #: How many of them are paused.
    paused: int
    #: Earliest ``next_fire_time`` of its unpaused schedules, or None.
    next_fire_time: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """One firing of a schedule or one manual trigger; attempts are retries of it.

    ``scheduled_for`` is the nominal fire time; with ``schedule_id`` it forms the fencing
    key (invariant 1). Manual runs have ``schedule_id=None`` and are never deduplicated.
    ``blocked_by`` holds a run id this run waits for (the ``queue_one`` overlap policy);
    a blocked run cannot be claimed until that run finishes.
    """

    id: str
    task_name: str
    schedule_id: str | None
    trigger_source: TriggerSource
    scheduled_for: datetime
    status: RunStatus = RunStatus.PENDING
    priority: int = 2
    attempt: int = 1
    max_attempts: int = 1
    kwargs: JSON = field(default_factory=dict)
    not_before: datetime = field(default_factory=utcnow)
    blocked_by: str | None = None
    node_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    duration: float | None = None
    result: JSON | None = None
    error: JSON | None = None
    attempt_errors: list[JSON] = field(default_factory=list)
    progress: JSON | None = None
    reason: str | None = None
    cancel_requested: bool = False
    timeout: float | None = None
    created_at: datetime = field(default_factory=utcnow)
    created_by: str | None = None
    #: Labels a node must offer to claim this run (sorted, unique; see :func:`labels_of`).
    labels: tuple[str, ...] = ()
    #: Where the run executes, decided when it is created (its schedule's choice, else
    #: its task's): schedkit nodes claim only ``"local"`` runs; the others are handed to
    #: that executor (``schedkit.engine.handoff``). Retries and requeues keep it.
    executor: str = LOCAL_EXECUTOR

    def __repr__(self) -> str:
        # Short and safe to log: kwargs and results may hold secrets (the API masks
        # them), and errors carry whole tracebacks.
        return (
            f"Run(id={self.id!r}, task_name={self.task_name!r}, status={self.status.value!r}, "
            f"trigger_source={self.trigger_source.value!r}, attempt={self.attempt}, "
            f"scheduled_for={_when(self.scheduled_for)}, finished_at={_when(self.finished_at)})"
        )


def _when(moment: datetime | None) -> str:
    return "None" if moment is None else repr(moment.isoformat())


#: The error type recorded for an attempt a drain handed back (``RunRequeue.spare``): it
#: ended ``cancelled`` without the task failing, and did not count against the run's
#: ``max_attempts``.
HANDED_BACK = "HandedBack"


def attempt_failure(record: JSON) -> JSON | None:
    """The error (``type``, ``message``, ...) of an ``attempt_errors`` record, or None
    when it has none (a cancelled workflow step that was retried)."""
    error = record.get("error")
    return error if isinstance(error, dict) else None


def handed_back(record: JSON) -> bool:
    """Whether an ``attempt_errors`` record is of an attempt a drain handed back."""
    error = attempt_failure(record)
    return error is not None and error.get("type") == HANDED_BACK


def failed_attempts(run: Run) -> int:
    """How many of ``run``'s earlier attempts failed: its ``attempt_errors`` records but
    those of attempts a drain handed back, which nothing made fail."""
    return sum(1 for record in run.attempt_errors if not handed_back(record))


def time_across_attempts(run: Run) -> float | None:
    """Seconds from a finished run's first attempt's start to its end, for a run of more
    than one attempt (None otherwise, or when no start is known): its ``duration`` is
    the last attempt's alone ("failed after 0.00s" of a run whose attempts and the
    retry delays between them took seconds)."""
    if run.attempt < 2 or run.finished_at is None:
        return None
    starts = [run.started_at]
    for record in run.attempt_errors:
        try:
            starts.append(datetime.fromisoformat(record["started_at"]))
        except (KeyError, TypeError, ValueError):
            continue
    known = [s for s in starts if s is not None and s.tzinfo is not None]
    return (run.finished_at - min(known)).total_seconds() if known else None


def last_failure(run: Run) -> JSON | None:
    """The error of ``run``'s latest failed attempt (not one a drain handed back), or
    None: what a run waiting for its retry last failed with."""
    for record in reversed(run.attempt_errors):
        error = attempt_failure(record)
        if error is not None and not handed_back(record):
            return error
    return None


#: Run's fields in declaration order (the SQL store's run columns are in this order).
RUN_FIELDS: tuple[str, ...] = tuple(Run.__dataclass_fields__)
_RUN_INDEX = {name: index for index, name in enumerate(RUN_FIELDS)}
_RUN_VALUES = operator.attrgetter(*RUN_FIELDS)
# The slots' own setters: they bypass the frozen ``__setattr__``, as ``__init__`` does.
_RUN_SETTERS = tuple(getattr(Run, name).__set__ for name in RUN_FIELDS)


def run_of_values(values: Sequence[Any]) -> Run:
    """A :class:`Run` from the values of :data:`RUN_FIELDS`, in order, taken as they are.

    For the hot paths (a claim's rows, a run's end): ``Run(**fields)`` and
    ``dataclasses.replace`` cost 4–10 µs a run, a tenth of an executed run's CPU, in
    keyword handling and one frozen ``__setattr__`` per field."""
    run: Run = object.__new__(Run)
    for set_value, value in zip(_RUN_SETTERS, values, strict=True):
        set_value(run, value)
    return run


def run_with(run: Run, **changes: Any) -> Run:
    """``dataclasses.replace(run, **changes)``, at the cost of :func:`run_of_values`."""
    values = list(_RUN_VALUES(run))
    for name, value in changes.items():
        values[_RUN_INDEX[name]] = value
    return run_of_values(values)


#: ``created_by`` of a workflow step's run is this prefix and the workflow run's id: how
#: a store finds the workflow run a step run belongs to (a purge keeps them together).
STEP_CREATOR = "workflow:"


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkflowRun:
    """One run of a workflow: the definition it was started with (so a code change never
    alters a run in flight) and its status. Its steps are runs of their tasks, linked by
    their fencing key (``schedkit.workflows.plan.step_key``). ``version`` counts status
    changes, which are compare-and-set."""

    id: str
    workflow: str
    definition: JSON
    trigger_source: TriggerSource
    scheduled_for: datetime
    status: WorkflowStatus = WorkflowStatus.RUNNING
    params: JSON = field(default_factory=dict)
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    created_by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOutcome:
    """The end of one attempt, written by :meth:`Store.finish_run` in one atomic step."""

    status: RunStatus
    finished_at: datetime
    duration: float | None = None
    result: JSON | None = None
    error: JSON | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFilter:
    """History query filter; every field is optional and they combine with AND.

    ``since``/``until`` bound ``scheduled_for`` (``since`` inclusive, ``until`` exclusive).
    """

    task_name: str | None = None
    schedule_id: str | None = None
    statuses: frozenset[RunStatus] | None = None
    trigger_source: TriggerSource | None = None
    since: datetime | None = None
    until: datetime | None = None
    node_id: str | None = None
    executor: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LogLine:
    """One log record emitted inside a run. ``seq`` orders lines within a run."""

    run_id: str
    seq: int
    attempt: int
    ts: datetime
    level: str
    logger: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Lease:
    """A time-limited claim on a name. ``term`` increases on every change of holder."""

    name: str
    holder: str
    term: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    """One process running schedkit."""

    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    roles: list[str] = field(default_factory=list)
    version: str = ""
    info: JSON = field(default_factory=dict)

    def alive(self, now: datetime, lost_after: float) -> bool:
        """Whether it heartbeated within ``lost_after`` seconds of ``now``: the rule the
        node list, the reaper, drains and the store's upgrade check all go by."""
        return (now - self.heartbeat_at).total_seconds() <= lost_after


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditEvent:
    """Who did what, when; ``before``/``after`` hold the changed object for edits."""

    id: str
    at: datetime
    actor: str
    action: str
    target: str
    before: JSON | None = None
    after: JSON | None = None
    detail: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiToken:
    """A built-in API token. Only the SHA-256 of the secret is stored."""

    id: str
    name: str
    role: str
    #: Kept out of ``repr()``: derived from the secret, it has no place in logs.
    token_hash: str = field(repr=False)
    created_at: datetime
    created_by: str | None = None
    last_used_at: datetime | None = None
    revoked: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class StateEntry:
    """A versioned value in the store's small key/value area (alert state and the like)."""

    key: str
    value: JSON
    version: int
    updated_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskStats:
    """Aggregates of one task's finished runs over a window."""

    task_name: str
    counts: Mapping[str, int]
    total: int
    success_rate: float | None
    mean_duration: float | None
    p50_duration: float | None
    p95_duration: float | None
    p99_duration: float | None
    #: True when the percentiles were read off the rollups' duration histogram (counts,
    #: success rate and mean stay exact): each is then within ``relative_error`` of the
    #: exact nearest-rank value. False for the exact query.
    percentiles_approximate: bool = False
    relative_error: float | None = None


def success_rate(counts: Mapping[str, int]) -> float | None:
    """Successes ÷ finished runs, skipped ones left out: a fire skipped on purpose (a
    calendar's day off, coalesced after an outage, an overlap) is no outcome of the task,
    and counted against it a never-failing task read 40 % after a restart. A missed fire
    counts against it (it was due to run). None before any run to judge."""
    judged = sum(
        n
        for status, n in counts.items()
        if RunStatus(status).finished and status != RunStatus.SKIPPED.value
    )
    return counts.get(RunStatus.SUCCESS.value, 0) / judged if judged else None


@dataclass(frozen=True, kw_only=True, slots=True)
class HourlyRunCount:
    """The runs of every task scheduled in one UTC hour with one status."""

    #: The hour's start, timezone-aware UTC.
    hour: datetime
    status: RunStatus
    count: int
