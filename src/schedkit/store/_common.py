"""Rules every backend applies the same way, written once (the contract suite pins them).

Backends store and perform atomic steps; the few decisions inside those steps that do
not depend on the database (in what order claimed runs come back, which part of a tick
may still be written, when a finish is the retry of one already stored, what a requeue
clears) live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from schedkit.models import Run, RunOutcome, RunStatus, Schedule, TriggerSource
from schedkit.store.values import RunFinish, ScheduleAdvance

#: The run fields a requeue (and a lost attempt sent back to pending) clears: the
#: attempt's outcome lives on in ``attempt_errors`` only.
REQUEUE_CLEARED: tuple[str, ...] = (
    "node_id",
    "started_at",
    "heartbeat_at",
    "finished_at",
    "duration",
    "result",
    "error",
    "reason",
)


#: The reason of a run ended ``cancelled`` by a requeue or a lost verdict of its attempt:
#: its cancel was requested while it ran, before its node heard of it.
CANCELLED_IN_ATTEMPT = "cancel requested during its attempt"


def claim_order(run: Run) -> tuple[int, datetime, str]:
    """The order :meth:`Store.claim_runs` hands runs back in: priority descending, then
    ``not_before``, then id (the order its index reads them in)."""
    return (-run.priority, run.not_before, run.id)


def stale_order(run: Run) -> tuple[datetime, str]:
    """The order of :meth:`Store.stale_runs`: oldest heartbeat first, then id."""
    assert run.heartbeat_at is not None  # stale runs are running: they have one
    return (run.heartbeat_at, run.id)


def waits_next(
    waiting: Sequence[tuple[str, str | None]],
    limits: Mapping[str, int],
    active: Mapping[str, Sequence[str]],
) -> dict[str, str | None]:
    """What each pending run whose blocker ended waits for now: None (released), or the
    newest of the other active runs of its schedule while those number its
    ``max_instances`` or more. A ``queue_one`` fire queues behind the newest active run
    only; with more runs active than the limit (left from an ``allow`` generation, a
    re-created schedule, a run pending for its retry) that one ending must not start it
    beside the others, so it waits for the next, until few enough are left.

    ``waiting``: (run id, schedule id), oldest first. ``limits``: the ``max_instances``
    of the schedules that have one (not ``allow``; a schedule gone or a backfill's key
    space has none: its runs are released). ``active``: per schedule, its runs pending
    or running and waiting for nothing, oldest first. A run released here counts as
    active for the ones after it, so two runs released together never both start."""
    running = {sid: list(ids) for sid, ids in active.items()}
    after: dict[str, str | None] = {}
    for run_id, schedule_id in waiting:
        if schedule_id is None or (limit := limits.get(schedule_id)) is None:
            after[run_id] = None
            continue
        started = running.setdefault(schedule_id, [])
        others = [r for r in started if r != run_id]
        after[run_id] = others[-1] if len(others) >= limit else None
        if after[run_id] is None:
            started.append(run_id)
    return after


def nothing_to_claim(
    limit: int, task_names: Sequence[str] | None, run_ids: Sequence[str] | None = None
) -> bool:
    """A claim that cannot return anything (no room, or an empty task or run filter):
    answered without a query."""
    return limit <= 0 or any(f is not None and not f for f in (task_names, run_ids))


def labels_key(labels: Sequence[str]) -> str:
    """A run's required labels as stored: sorted, joined with commas ('' for none), so
    that one equality test says whether a node offers exactly that set."""
    return ",".join(labels)


def offered_keys(labels: Sequence[str]) -> list[str]:
    """The stored label keys of every run a node offering ``labels`` may claim: every
    subset of them ('' included). A claim filters on ``labels IN`` these, which works
    alike on every backend (no JSON operators); nodes offer at most
    ``models.MAX_NODE_LABELS`` labels, so at most 256 keys."""
    ordered = sorted(set(labels))
    return [
        labels_key([label for bit, label in enumerate(ordered) if mask >> bit & 1])
        for mask in range(1 << len(ordered))
    ]


def check_finishes(items: Sequence[RunFinish]) -> None:
    """ValueError unless every item ends its run with a final status."""
    for item in items:
        if not item.outcome.status.finished:
            raise ValueError(
                f"run {item.run_id}: a run can only finish with a final status, "
                f"not {item.outcome.status.value!r}"
            )


def finish_already_stored(
    item: RunFinish,
    *,
    status: RunStatus,
    attempt: int,
    node_id: str | None,
    finished_at: datetime | None,
) -> bool:
    """Whether the stored run shows ``item`` applied already: the same attempt finished
    with the same status at the same instant by the same node. A finish re-sent after
    its acknowledgement was lost then counts as applied (finishing is idempotent)."""
    outcome: RunOutcome = item.outcome
    return (
        attempt == item.attempt
        and status == outcome.status
        and finished_at == outcome.finished_at
        and node_id == item.node_id
    )


def held_for_finish(
    item: RunFinish, *, status: RunStatus, attempt: int, node_id: str | None
) -> bool:
    """Whether the stored run is where ``item`` may finish it: ``running`` at its attempt
    on its node, or ``pending`` at its attempt when the item names no node."""
    if attempt != item.attempt:
        return False
    if item.node_id is None:
        return status is RunStatus.PENDING
    return status is RunStatus.RUNNING and node_id == item.node_id


def still_current(
    runs: Sequence[Run], advances: Sequence[ScheduleAdvance], current: set[str]
) -> tuple[list[Run], list[ScheduleAdvance]]:
    """The part of a tick's writes :meth:`Store.record_fires` may apply, given the ids of
    the schedules found at the version their advance names: runs of schedules named in
    ``advances`` but not current are dropped with their advance; other runs are kept."""
    named = {advance.schedule_id for advance in advances}
    kept = [run for run in runs if run.schedule_id not in named or run.schedule_id in current]
    return kept, [advance for advance in advances if advance.schedule_id in current]


#: Per schedule named in a tick's advances: the version and ``run_count`` it was planned
#: from (see :func:`planned_from`).
Planned = Mapping[str, tuple[int, int | None]]


def planned_from(advances: Sequence[ScheduleAdvance]) -> dict[str, tuple[int, int | None]]:
    """The state each schedule of ``advances`` was planned from: the first advance naming
    it, planned from the state stored before this write."""
    planned: dict[str, tuple[int, int | None]] = {}
    for advance in advances:
        planned.setdefault(advance.schedule_id, (advance.version, advance.run_count))
    return planned


def is_planned_state(planned: Planned, schedule_id: str, version: int, run_count: int) -> bool:
    """Whether a schedule stored at ``version`` with ``run_count`` is still what its tick
    was planned from. The count is checked as the version is: the leader plans a
    ``max_runs`` schedule's fires from its copy's count, and a copy short by a run
    (however it fell behind) would fire past the end; such a tick writes nothing for
    the schedule, and the leader reads it again."""
    version_planned, count_planned = planned[schedule_id]
    return version == version_planned and count_planned in (None, run_count)


def count_inserted(advances: Sequence[ScheduleAdvance], inserted: set[str]) -> list[int]:
    """Per advance, how many of its ``counted`` runs are among ``inserted``: what
    :meth:`Store.record_fires` adds to the schedule's ``run_count``, unless
    :func:`recounts` names the advance."""
    return [sum(run_id in inserted for run_id in advance.counted) for advance in advances]


#: The trigger sources of the runs a scheduler tick stores for a schedule's fires.
FIRED_SOURCES: tuple[TriggerSource, ...] = (TriggerSource.SCHEDULE, TriggerSource.CATCH_UP)
#: The statuses a fire is stored with when it starts no run; all others count.
NOT_STARTED: tuple[RunStatus, ...] = (RunStatus.SKIPPED, RunStatus.MISSED)


@dataclass(frozen=True, slots=True)
class Recount:
    """An advance whose count is read from the runs stored: ``index`` in the advances,
    the runs of ``schedule_id`` fired after ``after`` (None: from the first) up to
    ``until``, of :data:`FIRED_SOURCES`, not :data:`NOT_STARTED`."""

    index: int
    schedule_id: str
    after: datetime | None
    until: datetime


def recounts(
    runs: Sequence[Run],
    advances: Sequence[ScheduleAdvance],
    inserted: set[str],
    last_fired: Mapping[str, datetime | None],
) -> list[Recount]:
    """The advances of :meth:`Store.record_fires` whose count cannot be the runs this
    write inserted: a run of their schedule was found already stored. An earlier write
    of the same fires stored it and then stopped before its advance (the MongoDB store
    writes in several steps), or its reply was lost and it was sent again. The runs of
    those fires count once, whichever write stored them: all fires after the
    schedule's stored ``last_fire_time`` (``last_fired``), which moves in the same
    atomic step as ``run_count``. A fire at or before it was counted then (a second
    leader's tick planned from a copy read before that advance counts nothing)."""
    if len(inserted) == len(runs):  # every tick but those written again
        return []
    again = {r.schedule_id for r in runs if r.id not in inserted}
    after = dict(last_fired)
    found: list[Recount] = []
    for index, advance in enumerate(advances):
        sid, until = advance.schedule_id, advance.last_fire_time
        if sid not in again or until is None:
            continue
        found.append(Recount(index, sid, after.get(sid), until))
        after[sid] = until
    return found


def check_new_schedules(schedules: Sequence[Schedule]) -> None:
    """ValueError unless every schedule is a first version of its id (version 1 or more)
    and no id repeats (what :meth:`~schedkit.store.Store.insert_schedules` takes)."""
    _check_batch(schedules, lambda schedule: check_schedule_version(schedule, 0))


def check_replacements(schedules: Sequence[Schedule]) -> None:
    """ValueError unless every schedule is a later version (2 or more) and no id repeats
    (what :meth:`~schedkit.store.Store.replace_schedules` takes)."""

    def later(schedule: Schedule) -> None:
        if schedule.version < 2:
            raise ValueError(
                f"schedule {schedule.id!r} at version {schedule.version}: a replacement "
                "carries version 2 or more"
            )

    _check_batch(schedules, later)


def _check_batch(schedules: Sequence[Schedule], check: Callable[[Schedule], None]) -> None:
    """``check`` each schedule of a batch write, in order; ValueError on a repeated id."""
    seen: set[str] = set()
    for schedule in schedules:
        check(schedule)
        if schedule.id in seen:
            raise ValueError(f"schedule {schedule.id!r} is given twice")
        seen.add(schedule.id)


def check_schedule_version(schedule: Schedule, expected_version: int) -> None:
    """ValueError unless ``schedule`` is the next version after ``expected_version``, or,
    for a schedule to create (0), any version from 1: one created again under a deleted
    one's id continues from the deleted one's version."""
    if expected_version < 0:
        raise ValueError(f"expected_version must be 0 or more, not {expected_version}")
    if schedule.version < 1:
        raise ValueError(
            f"schedule {schedule.id!r} at version {schedule.version}: versions start at 1"
        )
    if expected_version and schedule.version != expected_version + 1:
        raise ValueError(
            f"schedule {schedule.id!r} written at version {schedule.version} over expected "
            f"version {expected_version}: a write must carry version {expected_version + 1}"
        )
