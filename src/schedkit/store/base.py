"""The store contract: every backend implements :class:`Store`, and nothing else.

Rules every backend follows (the contract suite in ``tests/store`` checks them on
SQLite, PostgreSQL and MongoDB):

* All datetimes going in and coming out are timezone-aware UTC with microseconds kept
  exactly (invariant 7). JSON values (kwargs, results, audit before/after, state values)
  round-trip as given, including non-ASCII text and nesting.
* Backends hold no scheduling logic: they store, filter and perform the atomic steps
  named below. Deciding *what* to fire, retry or alert is the engine's job; the few
  rules applied inside those steps are written once, in ``schedkit.store._common``.
* Methods are coroutine functions, safe to call concurrently from many tasks of one
  event loop: one ``Store`` instance belongs to one event loop.
* "Atomic" means all-or-nothing and safe against every other process sharing the store.
  Where a method takes a batch, each item is atomic on its own unless said otherwise.
* A backend that cannot reach its server raises
  :class:`~schedkit.errors.StoreUnavailableError` (callers back off and retry); any
  other failure of the database is a :class:`~schedkit.errors.StoreError`. Bad
  arguments (naive datetimes, a non-final outcome) raise ValueError before anything is
  written.
* A pending run ``blocked_by`` another (a ``queue_one`` fire, a backfill chain) is
  *settled* when that run ends, in the same atomic step as the end: released
  (``blocked_by`` null), unless its schedule (stored, its overlap policy not ``allow``)
  still has ``max_instances`` or more other runs pending or running and waiting for
  nothing (a run pending for its retry counts). Then it is queued behind the newest of
  them instead, and settled again when that one ends (``_common.waits_next``). Runs
  released together count for each other. A write that replaces a schedule
  (put_schedule over a stored one, replace_schedules) settles its queued runs the same
  way, after the write (SQL: in its transaction): a limit raised or lifted releases them
  at once. Deleting it does not: its queued runs still wait for the runs they are queued
  behind (a deletion must not start two at once), then are released. No run is left
  waiting for a run that has ended, nor held by a limit its schedule no longer has
  once that run ends, and none is released to run beside more of its schedule's runs
  than ``max_instances`` allows.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from schedkit.models import (
    JSON,
    HourlyRunCount,
    Lease,
    LogLine,
    Run,
    RunFilter,
    RunStatus,
    Schedule,
    ScheduleCounts,
    TaskStats,
    WorkflowRun,
    WorkflowStatus,
)
from schedkit.store._upgrade import UpgradeCheck
from schedkit.store.base_admin import AdminStore
from schedkit.store.values import (
    FireRecord,
    Held,
    LeaseFence,
    LostRun,
    RunFinish,
    RunRequeue,
    ScheduleAdvance,
)


class Store(AdminStore):
    """Persistent state of schedkit: schedules, runs, log lines, leases, and (from
    :class:`~schedkit.store.base_admin.AdminStore`) nodes, audit events, API tokens and a
    small versioned key/value area."""

    #: URL with the password masked, for messages.
    display_url: str = ""

    # -- lifecycle: opening creates or upgrades what the store needs ------------------
    @abc.abstractmethod
    async def open(self, *, create: bool = True, upgrade: UpgradeCheck | bool = True) -> None:
        """Connect, then create or upgrade the schema / indexes. Idempotent, and safe when
        several processes open one store at once. Raises StoreUnavailableError when the
        server cannot be reached, StoreError when its schema is newer than this code's
        and not compatible with it, StoreNotFoundError when ``create`` is false and the
        database holds no store.

        ``upgrade`` False (what reads open with): an older store is not upgraded but
        refused with StoreOutdatedError, nothing changed, and nothing is written to a
        store at this code's version. Otherwise an upgrade that code of the version found
        cannot work with raises StoreError, changing nothing, while nodes are alive on
        the store (heartbeated within ``upgrade.lost_after``, default 20 s) unless
        ``upgrade.ignore_live_nodes``: they run older code (:mod:`schedkit.store._upgrade`)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections (work already started finishes first). Safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the store answers right now; StoreUnavailableError otherwise."""

    async def server_time(self) -> datetime | None:
        """The store server's clock (aware UTC); None without a server (SQLite). Nodes
        measure their clock against it (:mod:`schedkit.service.clock_sync`)."""
        return None

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The schema (SQL) or index (MongoDB) version the store is at."""

    #: The schema (index) version :meth:`open` found: 0 if it created the schema, below
    #: :meth:`schema_version` if it upgraded it; None until opened.
    found_version: int | None = None
    #: The schema (index) version this code writes, set by :meth:`open`: a store at a
    #: higher one is newer than this release (and compatible with it, once open).
    code_version: int | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- schedules -------------------------------------------------------------------
    # Written by users (through the façade) and by the leader (advances, fires). Every
    # user write is compare-and-set on ``version``; the leader's writes never change the
    # version and apply only at the version they were planned from, so neither side
    # can overwrite the other's change unseen.
    #
    # Bounded creates: a create given ``max_schedules`` (put_schedule, insert_schedules)
    # counts the schedules and inserts as one step against every other bounded create,
    # in any process: of creates racing for the last room, those that fit are stored and
    # the rest refused (ScheduleLimitError, nothing written), so they never take the
    # store past the limit. (Creates without one, a node storing its tasks' default
    # schedules, are neither counted nor held back.) SQLite: counted under the write lock
    # the transaction takes at BEGIN. PostgreSQL: the transaction first takes an advisory
    # lock (one per table prefix, released at commit) that only bounded creates take, so
    # replacements, deletes and the leader's writes never wait for it. MongoDB: a lock
    # document held across the count and the inserts, its age renewed after each batch
    # of a bulk insert; a writer that finds it lost (stalled past ``recover_after``, the
    # lock broken as stale) deletes what it inserted and raises StoreError, so an excess
    # stays only if that writer dies before: one batch of 1,000 at most. The price: a
    # count of the schedules (at most the limit) per bounded create, and bounded creates
    # of one store made one at a time.

    @abc.abstractmethod
    async def put_schedule(
        self, schedule: Schedule, *, expected_version: int, max_schedules: int | None = None
    ) -> None:
        """Create or fully replace the schedule ``schedule.id``, compare-and-set.

        ``expected_version`` 0: the schedule must not exist yet; it is inserted at its
        ``schedule.version``, 1 or more (a schedule created again under a deleted one's id
        continues from the deleted one's version). Otherwise the stored version must equal
        it and ``schedule.version`` must be ``expected_version + 1`` (ValueError
        otherwise). Atomic: of several writers expecting one version,
        exactly one succeeds. Replacing keeps the stored ``run_count`` (it belongs to the
        leader's advances, which do not change the version); a new schedule starts with
        the one given. Raises :class:`~schedkit.errors.ScheduleConflictError`
        (with the version found) when the expectation does not hold; nothing is written.
        With ``max_schedules``, a create is bounded (see above): one that would leave more
        schedules stored raises :class:`~schedkit.errors.ScheduleLimitError` (checked
        before the id); a replacement ignores it."""

    @abc.abstractmethod
    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule, or None if it does not exist."""

    @abc.abstractmethod
    async def insert_schedules(
        self, schedules: Sequence[Schedule], *, max_schedules: int | None = None
    ) -> None:
        """Create many new schedules at once (a bulk import), all or nothing: each at its
        own version, 1 or more (as a create of :meth:`put_schedule`), the ids distinct
        (ValueError otherwise, before anything is written);
        if any id is stored already, ScheduleConflictError names the first one found
        (expected 0, its stored version) and none is stored. With ``max_schedules``,
        bounded as a whole (see above): ScheduleLimitError, checked before the ids, when
        the batch would pass it. SQL: one transaction (SQLite holds its write lock, ~1 s
        per 100,000). MongoDB: readers may see part meanwhile."""

    @abc.abstractmethod
    async def replace_schedules(self, schedules: Sequence[Schedule]) -> None:
        """Replace many schedules (a task paused or resumed), all or nothing, each
        compare-and-set at the version before its own as :meth:`put_schedule`: if one is
        not stored at that version, ScheduleConflictError names the first in id order and
        none is written (ValueError first if an id repeats or a version is under 2). Per
        backend as :meth:`insert_schedules` (MongoDB: readers may see part meanwhile)."""

    @abc.abstractmethod
    async def list_schedules(
        self, task_name: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Schedule]:
        """Schedules (of one task if given), ordered by id: all of them, or ``limit``
        from ``offset`` on (index-backed pages)."""

    @abc.abstractmethod
    async def count_schedules(self, task_name: str | None = None) -> int:
        """How many schedules there are (of one task if given)."""

    @abc.abstractmethod
    async def schedule_counts(self) -> list[ScheduleCounts]:
        """Per task that has schedules (ordered by name): how many, how many paused, and
        the earliest next fire of the unpaused ones. Aggregated by the database: the
        schedules themselves are not sent."""

    @abc.abstractmethod
    async def delete_schedule(
        self, schedule_id: str, *, expected_version: int | None = None
    ) -> bool:
        """Delete the schedule; its runs keep their history, and its queued runs wait for
        the runs they are queued behind (see "settling" above). With ``expected_version``,
        compare-and-set: a schedule at another version is left alone and
        ScheduleConflictError raised. Atomic. Returns True if it existed (and was
        deleted), False if it did not exist."""

    @abc.abstractmethod
    async def due_schedules(
        self, until: datetime, limit: int, *, task_name: str | None = None
    ) -> list[Schedule]:
        """Up to ``limit`` unpaused schedules with ``next_fire_time <= until``, earliest
        first (ties by id), of one task if given. Index-backed: never a scan of all
        schedules."""

    @abc.abstractmethod
    async def due_schedule_keys(
        self, until: datetime, limit: int
    ) -> list[tuple[str, int, datetime]]:
        """(id, version, next_fire_time) of :meth:`due_schedules`, in its order, read
        from the same index without whole documents (the leader asks every second)."""

    @abc.abstractmethod
    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        """The schedules among ``schedule_ids`` that exist, in any order, in one query."""

    @abc.abstractmethod
    async def next_fire_time(self) -> datetime | None:
        """Earliest ``next_fire_time`` of unpaused schedules, or None (index-backed)."""

    @abc.abstractmethod
    async def advance_schedules(self, advances: Sequence[ScheduleAdvance]) -> int:
        """Set ``next_fire_time`` and ``last_fire_time`` of each schedule still at the
        ``version`` its advance names (a user's concurrent change is never overwritten;
        the version is not changed, nor ``run_count``: no run is inserted here). Each
        advance is atomic; they apply in the order given. Returns how many applied."""

    @abc.abstractmethod
    async def record_fires(
        self,
        runs: Sequence[Run],
        advances: Sequence[ScheduleAdvance],
        *,
        fence: LeaseFence | None,
        now: datetime,
    ) -> FireRecord:
        """Write one scheduler tick: insert the runs of its fires (as
        :meth:`insert_runs`: insert-if-absent on the fencing key) and advance its
        schedules (as :meth:`advance_schedules`), adding to each schedule's
        ``run_count`` how many runs of its advance's ``counted`` this write inserted: the
        count moves in the same step as the runs it counts, so ``max_runs`` holds
        however many leaders come and go (``_common.count_inserted``). For a schedule
        with a run of this write found already stored (an earlier write of the same
        fires stored it and stopped before its advance), the count is the started runs
        stored for its fires after its stored ``last_fire_time``, whichever write
        stored them, reported in ``FireRecord.recounted`` (``_common.recounts``).

        The tick was planned from copies of the schedules read up to a second before:
        a run of a schedule named in ``advances`` is inserted only if that schedule is
        still at the version named (and the ``run_count`` named, when given), and no
        schedule write can land between that check and the writes. Runs of schedules
        not named in ``advances`` are inserted as given.

        With ``fence``, nothing at all is written unless lease ``fence.name`` is held by
        ``fence.holder`` at ``fence.term`` with ``expires_at > now`` when the tick is
        written: a node whose lease expired or was taken over cannot insert runs or
        advance schedules. The result then says ``fenced=True``. (How each backend
        makes the check and the writes one step is in its module docstring.)

        Returns the ids inserted (in the order given), the count of advances applied
        and the schedules recounted."""

    # -- runs: creating and reading ----------------------------------------------------

    @abc.abstractmethod
    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        """Insert each run unless a run with the same (schedule_id, scheduled_for) or
        the same id exists. This is the fencing key (invariant 1): whatever the number
        of concurrent callers, one (schedule_id, scheduled_for) yields at most one run.
        Runs with ``schedule_id=None`` are never deduplicated. Atomic per run (a batch
        re-sent after a lost acknowledgement inserts nothing twice). A run inserted
        ``blocked_by`` a stored run that has ended (not pending or running) is settled
        as that run's end would have (module docstring), atomically with that end: the
        end settled its queue before this run existed. Returns the ids inserted, in the
        order given."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> Run | None:
        """The run with its live fields (heartbeat, progress, cancel request), or None."""

    @abc.abstractmethod
    async def list_runs(
        self, flt: RunFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Run]:
        """Runs matching ``flt``, newest ``scheduled_for`` first (ties: newest id first)."""

    @abc.abstractmethod
    async def count_runs(self, flt: RunFilter | None = None) -> int:
        """How many runs match ``flt``."""

    @abc.abstractmethod
    async def last_finished_runs(self, task_names: Sequence[str]) -> dict[str, Run]:
        """The latest finished run (newest ``scheduled_for``, ties: newest id) of each
        task named; tasks without one are left out. One query on SQL (a correlated,
        index-backed subquery per task). MongoDB: one indexed query per task, sent
        concurrently (FerretDB v1's ``$group`` has no ``$first``)."""

    @abc.abstractmethod
    async def active_runs(self, schedule_id: str) -> list[Run]:
        """Pending and running runs of a schedule, oldest ``scheduled_for`` first (ties
        by id), for overlap policies."""

    @abc.abstractmethod
    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        """:meth:`active_runs` of many schedules in one query (every id given is a key):
        the leader asks once per tick for every due schedule."""

    # -- runs: claiming, running, ending ---------------------------------------------------
    # Each (status, attempt) a run passes through has one way out, taken once: claim or
    # cancel out of ``pending``, finish / requeue / lose out of ``running``, requeue out
    # of a finished status. Every transition below is conditional on the state it
    # leaves, so a late or repeated call (a zombie node, a retried request) changes
    # nothing that moved on.

    @abc.abstractmethod
    async def claim_runs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        task_names: Sequence[str] | None = None,
        labels: Sequence[str] = (),
        *,
        run_ids: Sequence[str] | None = None,
        executor: str | None = None,
    ) -> list[Run]:
        """Move up to ``limit`` claimable runs to ``running`` for ``node_id``.

        Claimable: status pending, ``not_before <= now``, ``blocked_by`` null, the task
        in ``task_names`` when given (an empty list claims nothing), every label the run
        requires (``Run.labels``) among the ``labels`` the node offers (a node offering
        none claims only runs that require none), the run's ``executor`` equal to
        ``executor`` when given (a schedkit node's claim loop claims ``"local"`` runs
        only; runs stored before runs had an executor are ``"local"``), and the run's id
        in ``run_ids`` when given (``run_ids`` is how a worker claims the run its
        message names, e.g. a Celery hand-off, whatever its executor). Sets node_id,
        started_at = heartbeat_at = now. Atomic per run: each run is claimed by exactly
        one caller however many race (invariant 3). Returns the runs claimed with their
        new state, in claim order (``_common.claim_order``: priority descending, then
        ``not_before``, then id).
        """

    @abc.abstractmethod
    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> Held:
        """Set heartbeat_at = now on those of ``run_ids`` still running on ``node_id``:
        the ids of those (the others were taken from the node) with whether their cancel
        was requested, so a node learns of both in the same round trip."""

    @abc.abstractmethod
    async def update_progress(self, run_id: str, progress: JSON) -> None:
        """Store the run's latest progress (done, total, note, updated_at), if known."""

    @abc.abstractmethod
    async def finish_runs(self, items: Sequence[RunFinish]) -> list[bool]:
        """End attempts, each in one atomic write (invariant 5): status, finished_at,
        duration, result, error, reason.

        An item applies only if the run is ``running`` at its attempt on its node (or
        ``pending`` at its attempt when it names no node): a zombie node whose run was
        reaped cannot overwrite it. When it applies, runs ``blocked_by`` the run are
        settled (module docstring) in the same step. Idempotent: an item whose
        attempt is already stored finished with the same status and finished_at by the
        same node counts as applied (a finish re-sent after its acknowledgement was
        lost). Items are applied in the order given (of two for one attempt, the first
        wins); a batch is written in one round trip / transaction where the backend can.
        ValueError (nothing written) if an outcome's status is not final. Returns, per
        item, whether it applied.
        """

    async def finish_run(self, item: RunFinish) -> bool:
        """:meth:`finish_runs` of one item."""
        (applied,) = await self.finish_runs([item])
        return applied

    @abc.abstractmethod
    async def requeue_run(self, item: RunRequeue) -> RunStatus | None:
        """Send a failed / timed-out / lost (or still running) attempt back to ``pending``
        for a retry, if the run's status is in ``item.from_statuses`` at ``item.attempt``:
        attempt + 1 (``max_attempts`` + 1 if ``item.spare``), ``not_before`` set,
        ``attempt_error`` appended to ``attempt_errors``, ``_common.REQUEUE_CLEARED``
        cleared (a finished run's cancel request too: an explicit retry). An active run
        whose cancel was requested ends ``cancelled`` instead (finished_at ``item.now``,
        reason ``CANCELLED_IN_ATTEMPT``, error ``attempt_error``, blocked runs settled).
        Atomic: of racing requeues one applies. Returns the status it left the run in
        (pending, cancelled), or None if it did not apply."""

    @abc.abstractmethod
    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        """Cancel a run: a pending run becomes ``cancelled`` at once (finished_at = now,
        reason set, blocked runs settled, atomically); a running run gets
        ``cancel_requested`` and ``reason`` (its node ends it with that reason). A
        finished run is returned unchanged. Returns the run after the change, or None
        if unknown. The cancel request is the last thing written, so a caller that also
        cancels the run locally acts before any heartbeat reports it."""

    @abc.abstractmethod
    async def stale_runs(self, stale_before: datetime, limit: int) -> list[Run]:
        """Up to ``limit`` running runs whose heartbeat_at < ``stale_before``, oldest
        heartbeat first (``_common.stale_order``): the candidates the engine judges
        with :meth:`lose_runs`. A read; nothing changes."""

    @abc.abstractmethod
    async def lose_runs(self, items: Sequence[LostRun]) -> list[bool]:
        """Apply the engine's verdict on silent runs, each item in ONE atomic step.

        An item applies only if the run is still ``running`` at ``item.attempt`` on
        ``item.node_id`` with heartbeat_at < ``item.stale_before`` (a heartbeat that
        lands first wins: the run is left alone). Then either the run ends
        (``retry_at`` None: status ``lost``, finished_at = ``now``, ``reason``) or it
        goes straight back to ``pending`` as :meth:`requeue_run` sends it (``not_before``
        = ``retry_at``, ``reason`` kept in attempt_errors only; ``cancelled`` instead if
        its cancel was requested). A run that ends settles the runs ``blocked_by`` it in
        the same step (a dead run must not hold a queued one); one sent back for its
        retry keeps them blocked until that retry ends (a backfill chain or a
        ``queue_one`` fire waits for it, as for a live run). No state in between is ever
        stored, so a reaper dying halfway leaves the run as it was. Returns, per item,
        whether it applied.
        """

    @abc.abstractmethod
    async def purge_runs(self, finished_before: datetime) -> int:
        """Delete finished runs with finished_at < ``finished_before``, with their log
        lines (in batches). Returns the number of runs deleted.

        A workflow step's run (``created_by`` = :data:`~schedkit.models.STEP_CREATOR` +
        the workflow run's id) is kept while its workflow run is kept (see
        :meth:`purge_workflow_runs`: ``running``, or ended at or after
        ``finished_before``): the workflow's plan reads a missing step run as a step not
        started, which the engine would start again. It goes with its workflow run, or
        once that is gone."""

    @abc.abstractmethod
    async def count_purgeable_runs(self, finished_before: datetime) -> int:
        """How many runs :meth:`purge_runs` with ``finished_before`` would delete now (a
        purge's dry run; index-backed on SQL). A read; nothing changes."""

    @abc.abstractmethod
    async def run_stats(
        self, since: datetime, task_name: str | None = None, *, exact: bool = False
    ) -> list[TaskStats]:
        """Per task (ordered by name): run counts by status and duration statistics of
        runs scheduled since ``since``.

        Counts, success rate and mean are exact. Percentiles are nearest-rank
        (``store._stats``): with ``exact``, from the sorted durations; otherwise read
        off the rollups' duration histogram (``store._rollups``), each within
        ``relative_error`` of the exact value, and the result says so
        (``percentiles_approximate``). The rollups count every finished
        run stored, whichever way it was stored, finished, sent back or deleted."""

    @abc.abstractmethod
    async def run_counts_per_hour(self, since: datetime, until: datetime) -> list[HourlyRunCount]:
        """Runs of every task per UTC hour of ``scheduled_for`` and status, for the whole
        hours from the one holding ``since`` to the one holding ``until`` (both included,
        all of their runs counted), ordered by hour then status; zero counts left out.

        Finished runs are counted off the hour rollups (as :meth:`run_stats` reads them:
        never run by run, so the cost does not grow with the runs in the window); runs not
        finished from the runs themselves (few in a healthy store). One snapshot on SQL."""

    @abc.abstractmethod
    async def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """The runs among ``run_ids`` that exist (as :meth:`get_run`), in any order, in
        one query: the step runs of a workflow run, whose ids are known in advance."""

    # -- workflow runs -------------------------------------------------------------------
    # A workflow run's steps are ordinary runs (created with :meth:`insert_runs`, fenced
    # on a key per step); this record holds the definition it was started with and its
    # status. Only the status changes, compare-and-set on ``version``.

    @abc.abstractmethod
    async def insert_workflow_run(self, run: WorkflowRun) -> bool:
        """Insert the workflow run unless one with its id exists (insert-if-absent,
        atomic: a start repeated after a crash inserts nothing twice). Returns whether
        it was inserted."""

    @abc.abstractmethod
    async def get_workflow_run(self, run_id: str) -> WorkflowRun | None:
        """The workflow run, or None."""

    @abc.abstractmethod
    async def list_workflow_runs(
        self,
        *,
        workflow: str | None = None,
        statuses: frozenset[WorkflowStatus] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WorkflowRun]:
        """Workflow runs matching every filter given, newest ``created_at`` first (ties:
        newest id first)."""

    @abc.abstractmethod
    async def count_workflow_runs(
        self, *, workflow: str | None = None, statuses: frozenset[WorkflowStatus] | None = None
    ) -> int:
        """How many workflow runs match every filter given."""

    @abc.abstractmethod
    async def set_workflow_status(
        self,
        run_id: str,
        *,
        expected_version: int,
        status: WorkflowStatus,
        finished_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Compare-and-set the status: applies only if the workflow run is at
        ``expected_version``; then status and finished_at are set, updated_at = ``now``
        and version + 1. Atomic: of several writers expecting one version, exactly one
        applies. Returns whether it applied (False for an unknown run too)."""

    @abc.abstractmethod
    async def purge_workflow_runs(self, finished_before: datetime) -> int:
        """Delete workflow runs that ended (not ``running``) with finished_at <
        ``finished_before`` (their step runs go with :meth:`purge_runs`, which keeps
        the step runs of the others). Returns how many were deleted."""

    @abc.abstractmethod
    async def count_purgeable_workflow_runs(self, finished_before: datetime) -> int:
        """How many workflow runs :meth:`purge_workflow_runs` with ``finished_before``
        would delete now (a purge's dry run). A read; nothing changes."""

    # -- run log lines -----------------------------------------------------------------

    @abc.abstractmethod
    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        """Store log lines; idempotent on (run_id, seq): a batch re-sent adds nothing."""

    @abc.abstractmethod
    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        """A run's log lines with seq > ``after_seq``, in seq order, up to ``limit``."""

    # -- leases --------------------------------------------------------------------------
    # A lease is a named, time-limited claim (the ``scheduler`` lease elects the leader).
    # Terms count up with every new holder, so a write fenced by (holder, term) — see
    # record_fires — is refused once anyone else has held the lease since.

    @abc.abstractmethod
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, now: datetime
    ) -> Lease | None:
        """Take the lease if it is free or expired (term + 1), or extend it if ``holder``
        already holds it (same term). Returns the lease held, or None if another
        holder's lease is still valid. Atomic against every other caller."""

    @abc.abstractmethod
    async def renew_lease(
        self, name: str, holder: str, term: int, ttl: float, now: datetime
    ) -> Lease | None:
        """Extend the lease if ``holder`` still holds it at ``term`` and it has not
        expired; None otherwise (the holder must stop acting on it). Atomic."""

    @abc.abstractmethod
    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up (it expires at once, its term stays counted); only its
        holder can. True if it was released."""

    @abc.abstractmethod
    async def get_lease(self, name: str) -> Lease | None:
        """The current lease record (possibly expired), or None."""
