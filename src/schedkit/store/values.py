"""The value objects that cross the store contract (:class:`~schedkit.store.Store`)
besides the models themselves: what one call asks the store to change, and what a tick's
write reports back. Frozen and keyword-only, so a call site names every field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from schedkit.models import JSON, RunOutcome, RunStatus

#: :meth:`Store.heartbeat_runs`' answer: each run still running on the node, with
#: whether its cancel was requested.
Held = dict[str, bool]


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleAdvance:
    """Move schedule ``schedule_id`` on to its next fire, if it is still at ``version``.
    ``counted`` names the runs of the same tick that count towards its ``max_runs``:
    :meth:`~schedkit.store.Store.record_fires` adds to ``run_count`` how many of them it
    inserts (a fire already stored is not counted twice). ``run_count`` is the count the
    tick was planned from: when given, the runs and the advance apply only if the
    stored count is still that one, as for the version (None: not checked)."""

    schedule_id: str
    version: int
    next_fire_time: datetime | None
    last_fire_time: datetime | None
    counted: tuple[str, ...] = ()
    run_count: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseFence:
    """The lease a write is conditional on: ``name`` held by ``holder`` at ``term``."""

    name: str
    holder: str
    term: int


@dataclass(frozen=True, kw_only=True, slots=True)
class FireRecord:
    """What :meth:`~schedkit.store.Store.record_fires` wrote."""

    #: Ids of the runs inserted, in the order given.
    inserted: list[str]
    #: How many schedule advances applied.
    advanced: int
    #: True when the lease fence no longer held: then nothing at all was written.
    fenced: bool = False
    #: The schedules whose ``run_count`` this write moved by the runs stored for the
    #: fires of their advance, not by its own inserts (``_common.recounts``: fires
    #: planned again after a write that stored their runs but not their advance), with
    #: what it added: the planner's copies count the same.
    recounted: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFinish:
    """End attempt ``attempt`` of run ``run_id`` with ``outcome``. ``node_id`` is the node
    running it, or None for a run that is still ``pending`` (cancelled or skipped before
    it started)."""

    run_id: str
    attempt: int
    node_id: str | None
    outcome: RunOutcome


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRequeue:
    """Send attempt ``attempt`` of run ``run_id``, now in one of ``from_statuses``, back to
    ``pending`` for the next attempt, not before ``not_before``; ``attempt_error`` is
    appended to the run's ``attempt_errors``. ``now``: when the attempt ended (the run's
    finished_at, should a requested cancel end it instead). ``spare``: the attempt does
    not count against the run's ``max_attempts``, which grows by one (a drain handed it
    back: the run's retries are kept for its task's own failures)."""

    run_id: str
    attempt: int
    from_statuses: frozenset[RunStatus]
    not_before: datetime
    attempt_error: JSON
    now: datetime
    spare: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class LostRun:
    """The engine's verdict on a running attempt whose node went silent: applies only if
    the run is still ``running`` at ``attempt`` on ``node_id`` with a heartbeat older than
    ``stale_before``. ``retry_at`` None: the run ends ``lost`` (finished_at ``now``, with
    ``reason``); otherwise it goes straight back to ``pending`` for its next attempt, not
    before ``retry_at``, with ``attempt_error`` appended to its ``attempt_errors``."""

    run_id: str
    attempt: int
    node_id: str
    stale_before: datetime
    now: datetime
    retry_at: datetime | None
    attempt_error: JSON
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RollupRebuild:
    """What :meth:`~schedkit.store.Store.rebuild_rollups` did: the rollups now count
    ``runs`` finished runs of ``tasks`` tasks in ``hours`` (task, UTC hour) rollups;
    before, they counted ``runs_before`` (the difference is the drift repaired; runs
    finishing during the rebuild move both). ``seconds``: the time it took."""

    tasks: int
    hours: int
    runs: int
    runs_before: int
    seconds: float
