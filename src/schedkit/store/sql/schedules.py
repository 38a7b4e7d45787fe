"""Schedules in the SQL store: compare-and-set writes, the leader's reads and advances,
and the tick's write (:meth:`SchedulesMixin.record_fires`).

A user's write is one conditional statement (``INSERT ... ON CONFLICT DO NOTHING`` when
the schedule must be new, ``UPDATE ... WHERE version = expected`` otherwise) whose row
count says whether it applied; a bounded create counts the schedules first, in the same
transaction (PostgreSQL: under an advisory lock only bounded creates take). A tick's
write is one transaction: the lease fence is checked and the schedules' versions read
under lock (SQLite: the write lock taken at ``BEGIN IMMEDIATE``; PostgreSQL: ``FOR
SHARE`` on the lease row, ``FOR UPDATE`` on the schedule rows), so neither a takeover nor
a user's write can land before its inserts and advances commit.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.errors import ScheduleConflictError, ScheduleLimitError
from schedkit.models import Run, Schedule, ScheduleCounts
from schedkit.store._common import (
    FIRED_SOURCES,
    NOT_STARTED,
    Planned,
    check_new_schedules,
    check_replacements,
    check_schedule_version,
    count_inserted,
    is_planned_state,
    planned_from,
    recounts,
    still_current,
)
from schedkit.store.sql.base import chunks, values_of
from schedkit.store.sql.columns import UTCDateTime
from schedkit.store.sql.leases import LeasesMixin
from schedkit.store.sql.queries import (
    BatchUpdate,
    BulkInsert,
    DuplicateKey,
    InsertIfAbsent,
    Query,
)
from schedkit.store.sql.queue import QueueMixin
from schedkit.store.sql.schema import ACTIVE_ONLY
from schedkit.store.values import FireRecord, LeaseFence, ScheduleAdvance

#: Columns a user's replacement of a schedule leaves as stored (see Store.put_schedule).
_KEPT = frozenset({"id", "run_count"})


class SchedulesMixin(LeasesMixin, QueueMixin):
    async def put_schedule(
        self, schedule: Schedule, *, expected_version: int, max_schedules: int | None = None
    ) -> None:
        check_schedule_version(schedule, expected_version)
        s = self._t.schedules
        # The values go as execute parameters, not .values(): SQLAlchemy coerced each
        # literal on every call (0.4 ms of an add_task's 2.5); the statement is cached.
        values = values_of(schedule)
        stmt: sa.Executable
        if expected_version == 0:
            stmt = self._insert(s).on_conflict_do_nothing()
        else:
            stmt, values = self._replace, _replacing(schedule)
        version_of = sa.select(s.c.version).where(s.c.id == schedule.id)

        def work(conn: Connection) -> tuple[bool, int | None]:
            if expected_version == 0:
                self._check_room(conn, 1, max_schedules)
            if conn.execute(stmt, values).rowcount == 1:
                if expected_version:
                    self._settle_queued(conn, [schedule.id])
                return True, schedule.version
            return False, conn.execute(version_of).scalar()

        written, actual = await self._db.write(work)
        if not written:
            raise ScheduleConflictError(schedule.id, expected_version, actual)

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        s = self._t.schedules
        rows = await self._fetch(sa.select(s).where(s.c.id == schedule_id))
        return Schedule(**rows[0]._asdict()) if rows else None

    async def insert_schedules(
        self, schedules: Sequence[Schedule], *, max_schedules: int | None = None
    ) -> None:
        check_new_schedules(schedules)
        if not schedules:
            return
        s = self._t.schedules
        rows = [values_of(schedule) for schedule in schedules]

        # One transaction: raising inside it rolls every row back.
        def work(conn: Connection) -> None:
            self._check_room(conn, len(rows), max_schedules)
            if self._sqlite:
                # Under the write lock taken at BEGIN: nothing can appear after the check.
                for chunk in chunks(sorted(schedule.id for schedule in schedules)):
                    stmt = sa.select(s.c.id).where(s.c.id.in_(chunk)).order_by(s.c.id).limit(1)
                    found = conn.execute(stmt).scalar()
                    if found is not None:
                        raise DuplicateKey(found)
            # PostgreSQL: the primary key refuses a duplicate and fails the transaction.
            self._schedule_inserter.insert(conn, rows)

        try:
            await self._db.write(work)
        except DuplicateKey as duplicate:
            sid = duplicate.key or ""
            raise ScheduleConflictError(sid, 0, await self._version_of(sid)) from None

    async def replace_schedules(self, schedules: Sequence[Schedule]) -> None:
        check_replacements(schedules)
        if not schedules:
            return
        # In id order, so that concurrent batches lock rows in one order (no deadlock).
        ordered = sorted(schedules, key=lambda schedule: schedule.id)
        rows = [_replacing(schedule) for schedule in ordered]

        # One transaction: raising inside it rolls back every row written before.
        def work(conn: Connection) -> None:
            for schedule, values in zip(ordered, rows, strict=True):
                if conn.execute(self._replace, values).rowcount != 1:
                    raise _Stale(schedule)
            self._settle_queued(conn, [schedule.id for schedule in ordered])

        try:
            await self._db.write(work)
        except _Stale as stale:
            sid, expected = stale.schedule.id, stale.schedule.version - 1
            raise ScheduleConflictError(sid, expected, await self._version_of(sid)) from None

    def _check_room(self, conn: Connection, adding: int, limit: int | None) -> None:
        """ScheduleLimitError when ``adding`` more schedules would pass ``limit``, counted
        in the caller's transaction as a bounded create (see Store): no other bounded
        create can insert between this count and the caller's commit."""
        if limit is None:
            return
        if not self._sqlite:  # SQLite: the write lock taken at BEGIN holds them off
            conn.execute(self._room_lock)
        stored = int(conn.execute(self._schedule_count).scalar_one())
        if stored + adding > limit:
            raise ScheduleLimitError(stored, adding, limit)

    async def _version_of(self, schedule_id: str) -> int | None:
        s = self._t.schedules
        stmt = sa.select(s.c.version).where(s.c.id == schedule_id)
        found: int | None = await self._db.read(lambda conn: conn.execute(stmt).scalar())
        return found

    async def list_schedules(
        self, task_name: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Schedule]:
        s = self._t.schedules
        stmt = sa.select(s).order_by(s.c.id)
        if task_name is not None:
            stmt = stmt.where(s.c.task_name == task_name)
        if limit is not None:
            stmt = stmt.limit(limit).offset(offset)
        elif offset:
            stmt = stmt.offset(offset)
        return [Schedule(**row._asdict()) for row in await self._fetch(stmt)]

    async def count_schedules(self, task_name: str | None = None) -> int:
        s = self._t.schedules
        stmt = sa.select(sa.func.count()).select_from(s)
        if task_name is not None:
            stmt = stmt.where(s.c.task_name == task_name)
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    async def schedule_counts(self) -> list[ScheduleCounts]:
        s = self._t.schedules
        paused = sa.case((s.c.paused == sa.true(), 1), else_=0)
        unpaused_next = sa.case((s.c.paused == sa.false(), s.c.next_fire_time), else_=None)
        stmt = (
            sa.select(
                s.c.task_name,
                sa.func.count(),
                sa.func.sum(paused),
                sa.func.min(sa.type_coerce(unpaused_next, s.c.next_fire_time.type)),
            )
            .group_by(s.c.task_name)
            .order_by(s.c.task_name)
        )
        return [
            ScheduleCounts(
                task_name=name, total=int(total), paused=int(n_paused or 0), next_fire_time=nxt
            )
            for name, total, n_paused, nxt in (tuple(row) for row in await self._fetch(stmt))
        ]

    async def delete_schedule(
        self, schedule_id: str, *, expected_version: int | None = None
    ) -> bool:
        s = self._t.schedules
        stmt = sa.delete(s).where(s.c.id == schedule_id)
        if expected_version is None:
            return await self._rowcount(stmt) > 0
        version_of = sa.select(s.c.version).where(s.c.id == schedule_id)

        def work(conn: Connection) -> tuple[bool, int | None]:
            if conn.execute(stmt.where(s.c.version == expected_version)).rowcount == 1:
                return True, expected_version
            return False, conn.execute(version_of).scalar()

        deleted, actual = await self._db.write(work)
        if actual is None:
            return False
        if not deleted:
            raise ScheduleConflictError(schedule_id, expected_version, actual)
        return True

    async def due_schedules(
        self, until: datetime, limit: int, *, task_name: str | None = None
    ) -> list[Schedule]:
        s = self._t.schedules
        stmt = (
            sa.select(s)
            .where(s.c.paused == sa.false(), s.c.next_fire_time <= until)
            .order_by(s.c.next_fire_time, s.c.id)
            .limit(limit)
        )
        if task_name is not None:
            stmt = stmt.where(s.c.task_name == task_name)
        return [Schedule(**row._asdict()) for row in await self._fetch(stmt)]

    async def due_schedule_keys(
        self, until: datetime, limit: int
    ) -> list[tuple[str, int, datetime]]:
        query, params = self._due_keys, {"until": until, "limit": limit}
        rows = await self._db.read(lambda conn: query.all(conn, params))
        return [(sid, version, nxt) for sid, version, nxt in rows]

    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        s = self._t.schedules
        found: list[Schedule] = []
        for chunk in chunks(sorted(set(schedule_ids))):
            stmt = sa.select(s).where(s.c.id.in_(chunk))
            found += [Schedule(**row._asdict()) for row in await self._fetch(stmt)]
        return found

    async def next_fire_time(self) -> datetime | None:
        s = self._t.schedules
        # ORDER BY ... LIMIT 1 rather than MIN(): reads one index entry on both databases.
        stmt = (
            sa.select(s.c.next_fire_time)
            .where(s.c.paused == sa.false(), s.c.next_fire_time.is_not(None))
            .order_by(s.c.next_fire_time)
            .limit(1)
        )
        found: datetime | None = await self._db.read(lambda conn: conn.execute(stmt).scalar())
        return found

    async def advance_schedules(self, advances: Sequence[ScheduleAdvance]) -> int:
        if not advances:
            return 0
        return await self._db.write(
            lambda conn: self._advance_in(conn, advances, [0] * len(advances))
        )

    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        if not runs:
            return []
        inserted = await self._db.write(lambda conn: self._insert_runs_in(conn, runs))
        return [run.id for run in runs if run.id in inserted]

    async def record_fires(
        self,
        runs: Sequence[Run],
        advances: Sequence[ScheduleAdvance],
        *,
        fence: LeaseFence | None,
        now: datetime,
    ) -> FireRecord:
        if not runs and not advances:
            return FireRecord(inserted=[], advanced=0)
        wanted = planned_from(advances)

        # One transaction, one commit (one fsync) per tick.
        def work(conn: Connection) -> FireRecord:
            if fence is not None and not self._lease_held_in(conn, fence, now):
                return FireRecord(inserted=[], advanced=0, fenced=True)
            last_fired = self._current(conn, wanted)
            kept, moved = still_current(runs, advances, set(last_fired))
            inserted = self._insert_runs_in(conn, kept) if kept else set()
            counts = count_inserted(moved, inserted)
            recounted: dict[str, int] = {}
            for recount in recounts(kept, moved, inserted, last_fired):
                counts[recount.index] = recounted[recount.schedule_id] = self._started_between(
                    conn, recount.schedule_id, recount.after, recount.until
                )
            advanced = self._advance_in(conn, moved, counts) if moved else 0
            return FireRecord(
                inserted=[run.id for run in runs if run.id in inserted],
                advanced=advanced,
                recounted=recounted,
            )

        return await self._db.write(work)

    # -- internals -----------------------------------------------------------------------

    def _insert_runs_in(self, conn: Connection, runs: Sequence[Run]) -> set[str]:
        """Insert-if-absent on the fencing key; the ids inserted."""
        # Same key order in every batch: two PostgreSQL transactions inserting the same
        # keys then wait on each other in one direction only (no deadlock).
        ordered = sorted(runs, key=lambda run: (run.schedule_id or "", run.scheduled_for, run.id))
        blockers = sorted({run.blocked_by for run in ordered if run.blocked_by is not None})
        if blockers and not self._sqlite:
            # A run queued behind one that ends before this commits would wait forever:
            # the finish releases its queue before this row exists. Its active blockers
            # are held (FOR SHARE) until the commit, so a finish's status update waits
            # and its release then sees these rows; locked before the inserts and the
            # rollups, as a finish takes the run before its rollups (no deadlock).
            # SQLite: the write lock, held since BEGIN IMMEDIATE, excludes the finish.
            for chunk in chunks(blockers):
                self._active_blockers.all(conn, {"ids": chunk})
        inserted = self._run_inserter.insert(conn, [values_of(run) for run in ordered])
        queued = [run.id for run in ordered if run.blocked_by is not None and run.id in inserted]
        self._release_behind_ended(conn, queued)
        # Runs stored finished (missed fires, imported history) count in the rollups.
        self._roll(
            conn,
            [
                (run.task_name, run.scheduled_for, run.status, run.duration)
                for run in ordered
                if run.status.finished and run.id in inserted
            ],
        )
        return inserted

    def _current(self, conn: Connection, wanted: Planned) -> dict[str, datetime | None]:
        """The ``last_fire_time`` of each of ``wanted`` stored as planned (the version and
        count it names: ``_common.is_planned_state``), read under lock (see the module
        docstring), in id order like the advance (no deadlock)."""
        current: dict[str, datetime | None] = {}
        for chunk in chunks(sorted(wanted)):
            rows = self._versions.all(conn, {"ids": chunk})
            current.update(
                (sid, last)
                for sid, version, count, last in rows
                if is_planned_state(wanted, sid, version, count)
            )
        return current

    def _started_between(
        self, conn: Connection, schedule_id: str, after: datetime | None, until: datetime
    ) -> int:
        """How many of the schedule's fires after ``after`` up to ``until`` started a
        run (``_common.recounts``; rare, so not one of the prepared queries)."""
        r = self._t.runs
        stmt = sa.select(sa.func.count()).where(
            r.c.schedule_id == schedule_id,
            r.c.scheduled_for <= until,
            r.c.trigger_source.in_(FIRED_SOURCES),
            r.c.status.not_in(NOT_STARTED),
        )
        if after is not None:
            stmt = stmt.where(r.c.scheduled_for > after)
        return int(conn.execute(stmt).scalar_one())

    def _advance_in(
        self, conn: Connection, advances: Sequence[ScheduleAdvance], counts: Sequence[int]
    ) -> int:
        """Version-checked advances, each adding its count to ``run_count``; how many
        applied."""
        # Sorted by id so that concurrent batches lock rows in one order (no deadlock).
        ordered = sorted(zip(advances, counts, strict=True), key=lambda ac: ac[0].schedule_id)
        rows = [
            {
                "id": a.schedule_id,
                "version": a.version,
                "next": a.next_fire_time,
                "last": a.last_fire_time,
                "runs": count,
            }
            for a, count in ordered
        ]
        if len({a.schedule_id for a in advances}) < len(advances):
            # A schedule named twice must see both; one UPDATE ... FROM joins it once.
            return sum(self._advance.applied(conn, [row])[0] for row in rows)
        return sum(self._advance.applied(conn, rows))

    # The hot path's statements, defined once (see queries.py).

    @functools.cached_property
    def _due_keys(self) -> Query:
        s = self._t.schedules
        stmt = (
            sa.select(s.c.id, s.c.version, s.c.next_fire_time)
            .where(s.c.paused == sa.false(), s.c.next_fire_time <= sa.bindparam("until"))
            .order_by(s.c.next_fire_time, s.c.id)
            .limit(sa.bindparam("limit", type_=sa.Integer))
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _versions(self) -> Query:
        s = self._t.schedules
        stmt = (
            sa.select(s.c.id, s.c.version, s.c.run_count, s.c.last_fire_time)
            .where(s.c.id.in_(sa.bindparam("ids", expanding=True)))
            .order_by(s.c.id)
        )
        # PostgreSQL locks the rows (SQLite renders no FOR UPDATE: its write lock holds).
        return Query(stmt.with_for_update(), on_sqlite=self._sqlite)

    @functools.cached_property
    def _advance(self) -> BatchUpdate:
        s = self._t.schedules
        template = (
            sa.update(s)
            .where(s.c.id == sa.bindparam("id"), s.c.version == sa.bindparam("version"))
            .values(
                next_fire_time=sa.bindparam("next"),
                last_fire_time=sa.bindparam("last"),
                run_count=s.c.run_count + sa.bindparam("runs"),
            )
        )
        types: dict[str, Any] = {
            "id": sa.String(),
            "version": sa.Integer(),
            "next": UTCDateTime(),
            "last": UTCDateTime(),
            "runs": sa.Integer(),
        }
        return BatchUpdate(template, types, s.c.id, on_sqlite=self._sqlite)

    @functools.cached_property
    def _replace(self) -> sa.Update:
        """A user's replacement of a schedule at the version it read (see _replacing)."""
        s = self._t.schedules
        # Where-parameters named apart from every column: a column-named one would be
        # taken as a value to SET.
        return sa.update(s).where(
            s.c.id == sa.bindparam("where_id"), s.c.version == sa.bindparam("where_version")
        )

    @functools.cached_property
    def _room_lock(self) -> sa.Select[Any]:
        """PostgreSQL: the advisory lock of bounded creates, held to the commit. Per
        table prefix: two stores sharing a database do not share their limit."""
        key = zlib.crc32(f"schedkit-schedule-room:{self._t.prefix}".encode())
        return sa.select(sa.func.pg_advisory_xact_lock(key))

    @functools.cached_property
    def _schedule_count(self) -> sa.Select[Any]:
        return sa.select(sa.func.count()).select_from(self._t.schedules)

    @functools.cached_property
    def _schedule_inserter(self) -> BulkInsert:
        return BulkInsert(self._t.schedules, on_sqlite=self._sqlite)

    @functools.cached_property
    def _run_inserter(self) -> InsertIfAbsent:
        r = self._t.runs
        return InsertIfAbsent(r, r.c.id, on_sqlite=self._sqlite)

    @functools.cached_property
    def _active_blockers(self) -> Query:
        r = self._t.runs
        stmt = (
            sa.select(r.c.id)
            .where(r.c.id.in_(sa.bindparam("ids", expanding=True)), ACTIVE_ONLY)
            .order_by(r.c.id)
            .with_for_update(read=True)
        )
        return Query(stmt, on_sqlite=self._sqlite)


class _Stale(Exception):
    """A schedule of a batch replacement is not at the version before its own."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__(schedule.id)
        self.schedule = schedule


def _replacing(schedule: Schedule) -> dict[str, Any]:
    """The parameters of ``_replace`` writing ``schedule`` over the version before it."""
    values = {k: v for k, v in values_of(schedule).items() if k not in _KEPT}
    values.update(where_id=schedule.id, where_version=schedule.version - 1)
    return values
