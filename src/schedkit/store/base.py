"""The store contract: every backend implements :class:`Store`, and nothing else.

Rules every backend follows (the contract suite in ``tests/store`` checks them):

* All datetimes going in and coming out are timezone-aware UTC with microseconds kept
  exactly (invariant 7). JSON values (kwargs, results, audit before/after) round-trip as
  given, including non-ASCII text and nesting.
* Backends hold no scheduling logic: they store, filter and perform the few atomic
  steps named below. Deciding *what* to fire, retry or alert is the engine's job.
* Methods are coroutine functions and are safe to call concurrently from many tasks,
  threads' event loops excluded: one ``Store`` instance belongs to one event loop.
* Atomic steps (each is all-or-nothing and safe against other processes sharing the
  store): :meth:`insert_runs` per run (insert-if-absent on the fencing key),
  :meth:`claim_runs` per run, :meth:`finish_run`, :meth:`requeue_run`, every lease
  method, :meth:`set_state`.
* A backend that cannot reach its server raises :class:`~schedkit.errors.StoreUnavailableError`;
  callers back off and retry.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from schedkit.models import (
    JSON,
    ApiToken,
    AuditEvent,
    Lease,
    LogLine,
    Node,
    Run,
    RunFilter,
    RunOutcome,
    RunStatus,
    Schedule,
    StateEntry,
    TaskStats,
)

#: Serialized size limit of a run's ``result`` (and of its ``error``). Over it, the
#: engine fails the run with a clear error instead of sending the value to the store.
MAX_RESULT_BYTES = 1_000_000


Advance = tuple[str, int, datetime | None, datetime | None]


def still_current(
    runs: Sequence[Run], advances: Sequence[Advance], current: set[str]
) -> tuple[list[Run], list[Advance]]:
    """The part of a tick's writes :meth:`Store.record_fires` may apply, given the ids of
    the schedules found at the version named in ``advances``."""
    named = {update[0] for update in advances}
    kept = [run for run in runs if run.schedule_id not in named or run.schedule_id in current]
    return kept, [update for update in advances if update[0] in current]


class Store(abc.ABC):
    """Persistent state of schedkit: schedules, runs, log lines, leases, nodes, audit
    events, API tokens and a small versioned key/value area."""

    #: URL with the password masked, for messages.
    display_url: str = ""

    # -- lifecycle -------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, then create or upgrade the schema / indexes (idempotent).

        Raises StoreUnavailableError when the server cannot be reached.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the store answers right now."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The schema / index version the store is at."""

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

    @abc.abstractmethod
    async def put_schedule(self, schedule: Schedule) -> None:
        """Insert or fully replace the schedule with ``schedule.id``."""

    @abc.abstractmethod
    async def get_schedule(self, schedule_id: str) -> Schedule | None: ...

    @abc.abstractmethod
    async def list_schedules(self, task_name: str | None = None) -> list[Schedule]:
        """All schedules (of one task if given), ordered by id."""

    @abc.abstractmethod
    async def delete_schedule(self, schedule_id: str) -> bool:
        """Delete; runs keep their history. True if it existed."""

    @abc.abstractmethod
    async def due_schedules(self, until: datetime, limit: int) -> list[Schedule]:
        """Unpaused schedules with ``next_fire_time <= until``, earliest first.

        Must use an index on (paused, next_fire_time): never scan all schedules.
        """

    async def due_schedule_keys(
        self, until: datetime, limit: int
    ) -> list[tuple[str, int, datetime]]:
        """(id, version, next_fire_time) of :meth:`due_schedules`, in its order.

        The scheduler re-reads its window every second but needs whole schedules only
        for those it does not hold at that version; backends should read just these
        columns (off the same index).
        """
        due = await self.due_schedules(until, limit)
        return [(s.id, s.version, s.next_fire_time) for s in due if s.next_fire_time]

    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        """The schedules among ``schedule_ids`` that exist (any order); backends should
        read them in one query."""
        found = [await self.get_schedule(sid) for sid in schedule_ids]
        return [schedule for schedule in found if schedule is not None]

    @abc.abstractmethod
    async def next_fire_time(self) -> datetime | None:
        """Earliest ``next_fire_time`` of unpaused schedules (index-backed)."""

    @abc.abstractmethod
    async def advance_schedules(
        self, updates: Sequence[tuple[str, int, datetime | None, datetime | None]]
    ) -> int:
        """Set (next_fire_time, last_fire_time) for each (id, version, next, last).

        An update applies only if the stored ``version`` still equals the given one, so a
        user's concurrent change is never overwritten. Returns how many applied.
        """

    # -- runs ------------------------------------------------------------------------

    @abc.abstractmethod
    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        """Insert each run unless a run with the same (schedule_id, scheduled_for) exists.

        This is the fencing key (invariant 1): whatever the number of concurrent callers,
        processes or nodes, one (schedule_id, scheduled_for) yields at most one run. Runs
        with ``schedule_id=None`` are never deduplicated. Returns the ids inserted.
        """

    async def record_fires(
        self,
        runs: Sequence[Run],
        advances: Sequence[tuple[str, int, datetime | None, datetime | None]],
    ) -> tuple[list[str], int]:
        """What one scheduler tick writes: the runs of its fires, and its schedules
        advanced as in :meth:`advance_schedules` (each an (id, version, next, last)).

        The scheduler plans from a copy of the schedules read up to a second before. A
        run of a schedule named in ``advances`` is therefore inserted (as in
        :meth:`insert_runs`, fenced) only if that schedule still exists at the version
        given: a schedule paused, edited or deleted since, on any node, does not fire
        from the stale copy. Returns the run ids inserted and the advances applied.

        Backends with transactions write all of it in one (one commit per tick; the
        SQL store does). This default checks the versions, then inserts, then advances:
        a crash between the writes leaves the schedules unadvanced, and fires planned
        again from them are fenced by the runs already inserted. A change landing
        between its check and its writes can let that one tick fire.
        """
        wanted = {sid: version for sid, version, _, _ in advances}
        found = await self.get_schedules(list(wanted)) if wanted else []
        current = {s.id for s in found if s.version == wanted[s.id]}
        kept, moved = still_current(runs, advances, current)
        inserted = await self.insert_runs(kept) if kept else []
        advanced = await self.advance_schedules(moved) if moved else 0
        return inserted, advanced

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> Run | None: ...

    @abc.abstractmethod
    async def list_runs(
        self, flt: RunFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Run]:
        """Runs matching ``flt``, newest ``scheduled_for`` first (ties: newest id first)."""

    @abc.abstractmethod
    async def count_runs(self, flt: RunFilter | None = None) -> int: ...

    @abc.abstractmethod
    async def active_runs(self, schedule_id: str) -> list[Run]:
        """Pending and running runs of a schedule, oldest first (for overlap policies)."""

    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        """:meth:`active_runs` of many schedules (every id given is a key). Backends should
        answer in one query: the scheduler asks once per tick for every due schedule."""
        return {sid: await self.active_runs(sid) for sid in schedule_ids}

    @abc.abstractmethod
    async def claim_runs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        task_names: Sequence[str] | None = None,
    ) -> list[Run]:
        """Atomically move up to ``limit`` claimable runs to ``running`` for ``node_id``.

        Claimable: status pending, ``not_before <= now``, ``blocked_by`` is null, and the
        task is in ``task_names`` when given. Order: priority descending, then
        ``not_before`` ascending, then id. Sets node_id, started_at = heartbeat_at = now.
        Each run is claimed by exactly one caller however many race (invariant 3);
        the returned runs carry the new state.
        """

    @abc.abstractmethod
    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> set[str]:
        """Set heartbeat_at = now on the given running runs of ``node_id``.

        Returns the ids among them whose ``cancel_requested`` is set, so a node learns of
        a cancel made on another node in the same round trip.
        """

    @abc.abstractmethod
    async def update_progress(self, run_id: str, progress: JSON) -> None:
        """Store the run's latest progress (done, total, note, updated_at)."""

    @abc.abstractmethod
    async def finish_run(
        self, run_id: str, attempt: int, node_id: str | None, outcome: RunOutcome
    ) -> bool:
        """Finish a run in one atomic write (invariant 5).

        Applies only if the run is ``running`` at ``attempt`` and held by ``node_id``
        (``None``: a run still ``pending``, e.g. cancelled or skipped before starting).
        A zombie node whose run was reaped as lost therefore cannot overwrite it. When the
        outcome is final, runs ``blocked_by`` this run are released (``blocked_by`` null).
        Returns whether it applied.
        """

    async def finish_runs(
        self, items: Sequence[tuple[str, int, str | None, RunOutcome]]
    ) -> list[bool]:
        """:meth:`finish_run` for many runs, each (run_id, attempt, node_id, outcome).

        Each item is atomic on its own, exactly as :meth:`finish_run`; backends should
        write the batch in one round trip / transaction (the executor batches the ends of
        runs finishing together). Returns, per item, whether it applied.
        """
        return [await self.finish_run(*item) for item in items]

    @abc.abstractmethod
    async def requeue_run(
        self,
        run_id: str,
        attempt: int,
        from_statuses: Sequence[RunStatus],
        not_before: datetime,
        attempt_error: JSON,
    ) -> bool:
        """Put a failed / timed-out / lost attempt back to ``pending`` for a retry.

        Applies only if the run's status is in ``from_statuses`` and its attempt equals
        ``attempt``; then attempt += 1, node/started/heartbeat cleared, ``not_before``
        set, ``attempt_error`` appended to ``attempt_errors``. Atomic. Returns whether it
        applied.
        """

    @abc.abstractmethod
    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        """Cancel a run: a pending run becomes ``cancelled`` at once (finished_at = now,
        reason set, blocked runs released); a running run gets ``cancel_requested`` so
        its node stops it. Returns the run after the change, or None if unknown.
        A finished run is returned unchanged. The cancel request is the last thing written,
        so a caller that also cancels the run locally acts before any heartbeat reports it.
        """

    @abc.abstractmethod
    async def mark_lost(self, stale_before: datetime, now: datetime) -> list[Run]:
        """Mark ``lost`` every running run whose heartbeat_at < ``stale_before``.

        Atomic per run (a run that heartbeats concurrently is not marked). Sets
        finished_at = now and a reason, and releases runs ``blocked_by`` a run marked
        (a dead run must not hold a queued one forever). Returns the runs marked
        (invariant 4).
        """

    @abc.abstractmethod
    async def purge_runs(self, finished_before: datetime) -> int:
        """Delete finished runs with finished_at < cut-off and their log lines.

        Returns the number of runs deleted.
        """

    @abc.abstractmethod
    async def run_stats(self, since: datetime, task_name: str | None = None) -> list[TaskStats]:
        """Per task: run counts by status and duration statistics of runs scheduled
        since ``since``. Percentiles come from sorted durations (nearest rank)."""

    # -- run log lines -----------------------------------------------------------------

    @abc.abstractmethod
    async def append_logs(self, lines: Sequence[LogLine]) -> None: ...

    @abc.abstractmethod
    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        """A run's log lines with seq > ``after_seq``, in seq order."""

    # -- leases --------------------------------------------------------------------------

    @abc.abstractmethod
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, now: datetime
    ) -> Lease | None:
        """Take the lease if it is free or expired (term + 1), or extend it if ``holder``
        already holds it (same term). Returns the lease held, or None if another holder's
        lease is still valid. Atomic against every other caller."""

    @abc.abstractmethod
    async def renew_lease(
        self, name: str, holder: str, term: int, ttl: float, now: datetime
    ) -> Lease | None:
        """Extend the lease if ``holder`` still holds it at ``term`` and it has not
        expired; None otherwise (the holder must stop acting on it)."""

    @abc.abstractmethod
    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up; only its holder can. True if it was released."""

    @abc.abstractmethod
    async def get_lease(self, name: str) -> Lease | None:
        """The current lease record (possibly expired), or None."""

    # -- nodes ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def upsert_node(self, node: Node) -> None: ...

    @abc.abstractmethod
    async def list_nodes(self) -> list[Node]: ...

    @abc.abstractmethod
    async def delete_node(self, node_id: str) -> bool: ...

    # -- audit ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_audit(self, event: AuditEvent) -> None: ...

    @abc.abstractmethod
    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Newest first."""

    @abc.abstractmethod
    async def count_audit(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None
    ) -> int: ...

    # -- API tokens ------------------------------------------------------------------------

    @abc.abstractmethod
    async def put_token(self, token: ApiToken) -> None: ...

    @abc.abstractmethod
    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None: ...

    @abc.abstractmethod
    async def list_tokens(self) -> list[ApiToken]: ...

    @abc.abstractmethod
    async def revoke_token(self, token_id: str) -> bool: ...

    @abc.abstractmethod
    async def touch_token(self, token_id: str, now: datetime) -> None: ...

    # -- key/value state ---------------------------------------------------------------------

    @abc.abstractmethod
    async def get_state(self, key: str) -> StateEntry | None: ...

    @abc.abstractmethod
    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        """Compare-and-set: write ``value`` at version ``expected_version + 1`` only if the
        current version is ``expected_version`` (0: the key must not exist). Atomic across
        processes; exactly one of several racing writers with the same expectation wins."""

    @abc.abstractmethod
    async def delete_state(self, key: str) -> None: ...
