"""The SQL store: SQLite (the embedded default, one file) and PostgreSQL.

SQLAlchemy Core. The tables live in :mod:`schedkit.store._sql_schema`, connections and
transactions in :mod:`schedkit.store._sql_engine`; this module holds the queries. Every
method is one unit of work: a function of a ``Connection`` run as one read, or as one
write transaction (``BEGIN IMMEDIATE`` on SQLite). How the atomic steps of the
contract are atomic:

* claims select candidates with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that
  concurrent claimers take disjoint runs without waiting; on SQLite the write lock,
  taken up front, already excludes every other writer;
* every other atomic step is a conditional statement (``UPDATE ... WHERE <expected
  state>``, ``INSERT ... ON CONFLICT DO NOTHING``) whose row count says whether it
  applied, so no read-then-write window exists on either database. The steps that
  read first hold what they read: ``request_cancel`` locks the row (``SELECT ... FOR
  UPDATE``), and on SQLite every write transaction holds the database's write lock
  from its start (which is what lets ``finish_runs`` decide a batch in Python there).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from schedkit.models import (
    FINISHED_STATUSES,
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
    utcnow,
)
from schedkit.store._sql_engine import SQLOptions, create_runner, json_dumps
from schedkit.store._sql_schema import UTCDateTime, build_tables, from_epoch_us, to_epoch_us
from schedkit.store._sqlite_rows import DriverTable, driver
from schedkit.store._stats import PERCENTILES, summarized, task_stats
from schedkit.store.base import Store, still_current

__all__ = ["SQLOptions", "SQLStore"]

log = logging.getLogger(__name__)

# Longest id list in one IN (...): far below SQLite's and asyncpg's parameter limits.
_MAX_IN_LIST = 10_000
# Purges delete in batches so a long purge never holds SQLite's write lock for long.
_PURGE_BATCH = 1000
# run_stats counts per status in this order (so the counts read in it too).
_STATUSES: tuple[RunStatus, ...] = tuple(sorted(RunStatus))


# The run columns a RunOutcome sets (they are named like its fields).
_OUTCOME = tuple(f.name for f in dataclasses.fields(RunOutcome))

# Field names per value-object class: dataclasses.fields() is slow on the hot path.
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _values(obj: Any) -> dict[str, Any]:
    """A value object as column values (the columns are named after the fields)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in dataclasses.fields(obj))
    return {name: getattr(obj, name) for name in names}


class SQLStore(Store):
    """The store on SQLite (``sqlite:///path``) or PostgreSQL (``postgresql://...``).

    Options (see :class:`SQLOptions`): ``table_prefix`` (default ``schedkit_``),
    ``pool_size``, ``busy_timeout`` (SQLite), ``connect_timeout`` (PostgreSQL), ``echo``.
    """

    def __init__(self, url: str, **options: Any) -> None:
        opts = SQLOptions.parse(options)
        self._t = build_tables(opts.table_prefix)
        self._db = create_runner(url, opts)
        self._sqlite = self._db.is_sqlite
        self._driver_runs = DriverTable(self._t.runs)
        self._driver_schedules = DriverTable(self._t.schedules)
        self.display_url = self._db.display_url
        self._open = False

    @property
    def sync_engine(self) -> sa.Engine:
        """The SQLAlchemy engine, to attach events to (instrumentation, tests)."""
        return self._db.sync_engine

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._open:
            return
        version = await self._db.start(self._t)
        self._open = True
        log.info("store %s open at schema version %d", self.display_url, version)

    async def close(self) -> None:
        self._open = False
        await self._db.close()

    async def ping(self) -> None:
        await self._db.read(lambda conn: conn.execute(sa.select(1)).scalar_one())

    async def schema_version(self) -> int:
        stmt = sa.select(sa.func.max(self._t.schema_version.c.version))
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    # -- schedules -------------------------------------------------------------------

    async def put_schedule(self, schedule: Schedule) -> None:
        await self._upsert(self._t.schedules, _values(schedule), "id")

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        s = self._t.schedules
        rows = await self._fetch(sa.select(s).where(s.c.id == schedule_id))
        return Schedule(**rows[0]._asdict()) if rows else None

    async def list_schedules(self, task_name: str | None = None) -> list[Schedule]:
        s = self._t.schedules
        stmt = sa.select(s).order_by(s.c.id)
        if task_name is not None:
            stmt = stmt.where(s.c.task_name == task_name)
        return [Schedule(**row._asdict()) for row in await self._fetch(stmt)]

    async def delete_schedule(self, schedule_id: str) -> bool:
        s = self._t.schedules
        return await self._rowcount(sa.delete(s).where(s.c.id == schedule_id)) > 0

    async def due_schedules(self, until: datetime, limit: int) -> list[Schedule]:
        s = self._t.schedules
        stmt = (
            sa.select(s)
            .where(s.c.paused == sa.false(), s.c.next_fire_time <= until)
            .order_by(s.c.next_fire_time, s.c.id)
            .limit(limit)
        )
        return [Schedule(**row._asdict()) for row in await self._fetch(stmt)]

    async def due_schedule_keys(
        self, until: datetime, limit: int
    ) -> list[tuple[str, int, datetime]]:
        s = self._t.schedules
        if self._sqlite:
            # Read every second by the firing node: the driver's rows, converted here.
            sql = (
                f'SELECT id, version, next_fire_time FROM "{s.name}" '
                "WHERE paused = 0 AND next_fire_time <= ? ORDER BY next_fire_time, id LIMIT ?"
            )
            params = (to_epoch_us(until), limit)
            rows = await self._db.read(lambda conn: driver(conn).execute(sql, params).fetchall())
            return [(sid, version, from_epoch_us(nxt)) for sid, version, nxt in rows]
        stmt = (
            sa.select(s.c.id, s.c.version, s.c.next_fire_time)
            .where(s.c.paused == sa.false(), s.c.next_fire_time <= until)
            .order_by(s.c.next_fire_time, s.c.id)
            .limit(limit)
        )
        return [(row.id, row.version, row.next_fire_time) for row in await self._fetch(stmt)]

    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        s = self._t.schedules
        ids = sorted(set(schedule_ids))
        found: list[Schedule] = []
        for start in range(0, len(ids), _MAX_IN_LIST):
            stmt = sa.select(s).where(s.c.id.in_(ids[start : start + _MAX_IN_LIST]))
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

    async def advance_schedules(
        self, updates: Sequence[tuple[str, int, datetime | None, datetime | None]]
    ) -> int:
        if not updates:
            return 0
        return await self._db.write(lambda conn: self._advance_in(conn, updates))

    # -- runs ------------------------------------------------------------------------

    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        if not runs:
            return []
        inserted = await self._db.write(lambda conn: self._insert_runs_in(conn, runs))
        return [run.id for run in runs if run.id in inserted]

    async def record_fires(
        self,
        runs: Sequence[Run],
        advances: Sequence[tuple[str, int, datetime | None, datetime | None]],
    ) -> tuple[list[str], int]:
        if not runs and not advances:
            return [], 0

        wanted = {sid: version for sid, version, _, _ in advances}

        # One transaction, one commit (one fsync) per tick instead of two.
        def work(conn: Connection) -> tuple[set[str], int]:
            kept, moved = still_current(runs, advances, self._current(conn, wanted))
            inserted = self._insert_runs_in(conn, kept) if kept else set()
            return inserted, self._advance_in(conn, moved) if moved else 0

        inserted, advanced = await self._db.write(work)
        return [run.id for run in runs if run.id in inserted], advanced

    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        found: dict[str, list[Run]] = {sid: [] for sid in schedule_ids}
        ids = sorted(found)
        stmt = self._active_runs_stmt
        active = (RunStatus.PENDING.value, RunStatus.RUNNING.value)

        def work(conn: Connection) -> list[Run]:
            runs: list[Run] = []
            for start in range(0, len(ids), _MAX_IN_LIST):
                chunk = ids[start : start + _MAX_IN_LIST]
                if self._sqlite:  # asked every tick: the driver's rows, decoded here
                    where = (
                        f"schedule_id IN ({', '.join('?' * len(chunk))}) AND status IN (?, ?) "
                        "ORDER BY scheduled_for, id"
                    )
                    runs += self._driver_runs.select_objects(conn, where, (*chunk, *active), Run)
                else:
                    runs += [Run(**row._asdict()) for row in conn.execute(stmt, {"ids": chunk})]
            return runs

        for run in await self._db.read(work) if ids else []:
            found[run.schedule_id or ""].append(run)
        return found

    async def get_run(self, run_id: str) -> Run | None:
        r = self._t.runs
        rows = await self._fetch(sa.select(r).where(r.c.id == run_id))
        return Run(**rows[0]._asdict()) if rows else None

    async def list_runs(
        self, flt: RunFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Run]:
        r = self._t.runs
        stmt = (
            sa.select(r)
            .where(*self._run_conditions(flt))
            .order_by(r.c.scheduled_for.desc(), r.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [Run(**row._asdict()) for row in await self._fetch(stmt)]

    async def count_runs(self, flt: RunFilter | None = None) -> int:
        r = self._t.runs
        stmt = sa.select(sa.func.count()).select_from(r).where(*self._run_conditions(flt))
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    async def active_runs(self, schedule_id: str) -> list[Run]:
        return (await self.active_runs_of([schedule_id]))[schedule_id]

    async def claim_runs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        task_names: Sequence[str] | None = None,
    ) -> list[Run]:
        if limit <= 0 or (task_names is not None and not task_names):
            return []
        if self._sqlite and not await self._db.read(lambda conn: self._claimable(conn, now)):
            # Idle nodes poll every second: a read that finds nothing takes no write lock
            # and builds no UPDATE.
            return []
        r = self._t.runs
        candidates = (
            sa.select(r.c.id)
            .where(
                r.c.status == RunStatus.PENDING,
                r.c.not_before <= now,
                r.c.blocked_by.is_(None),
            )
            .order_by(r.c.priority.desc(), r.c.not_before, r.c.id)
            .limit(limit)
            # PostgreSQL: rows another claimer has locked are passed over, not waited
            # for. SQLite renders no FOR UPDATE; its write lock already excludes others.
            .with_for_update(skip_locked=True)
        )
        if task_names is not None:
            candidates = candidates.where(r.c.task_name.in_(list(task_names)))
        # A materialized CTE runs the locking SELECT exactly once. As a plain IN
        # (subquery), PostgreSQL may run it again while updating, and every run picks
        # further rows: claims were seen returning more runs than their limit.
        claimable = candidates.cte("claimable").prefix_with("MATERIALIZED")
        stmt = (
            sa.update(r)
            .where(r.c.id.in_(sa.select(claimable.c.id)), r.c.status == RunStatus.PENDING)
            .values(status=RunStatus.RUNNING, node_id=node_id, started_at=now, heartbeat_at=now)
            .returning(*r.c)
        )
        claimed = [Run(**row._asdict()) for row in await self._fetch(stmt, write=True)]
        # RETURNING comes in no particular order; hand runs back in claim order.
        claimed.sort(key=lambda run: (-run.priority, run.not_before, run.id))
        return claimed

    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> set[str]:
        if not run_ids:
            return set()
        r = self._t.runs
        stmt = (
            sa.update(r)
            .where(
                r.c.id.in_(sorted(run_ids)),
                r.c.node_id == node_id,
                r.c.status == RunStatus.RUNNING,
            )
            .values(heartbeat_at=now)
            .returning(r.c.id, r.c.cancel_requested)
        )
        return {row.id for row in await self._fetch(stmt, write=True) if row.cancel_requested}

    async def update_progress(self, run_id: str, progress: JSON) -> None:
        r = self._t.runs
        await self._rowcount(sa.update(r).where(r.c.id == run_id).values(progress=progress))

    async def finish_run(
        self, run_id: str, attempt: int, node_id: str | None, outcome: RunOutcome
    ) -> bool:
        (applied,) = await self.finish_runs([(run_id, attempt, node_id, outcome)])
        return applied

    async def finish_runs(
        self, items: Sequence[tuple[str, int, str | None, RunOutcome]]
    ) -> list[bool]:
        if not items:
            return []
        for *_, outcome in items:
            _check_outcome(outcome)
        if self._sqlite:
            return await self._db.write(lambda conn: self._finish_many_sqlite(conn, items))
        if len({item[0] for item in items}) < len(items):
            # A run named twice must see the first item's effect; in one UPDATE ... FROM
            # it would be joined twice and updated once, by either item.
            return await self._db.write(
                lambda conn: [self._finish_one(conn, *item) for item in items]
            )
        return await self._db.write(lambda conn: self._finish_many_postgres(conn, items))

    async def requeue_run(
        self,
        run_id: str,
        attempt: int,
        from_statuses: Sequence[RunStatus],
        not_before: datetime,
        attempt_error: JSON,
    ) -> bool:
        if not from_statuses:
            return False
        r = self._t.runs
        stmt = (
            sa.update(r)
            .where(
                r.c.id == run_id,
                r.c.attempt == attempt,
                r.c.status.in_(list(from_statuses)),
            )
            .values(
                status=RunStatus.PENDING,
                attempt=r.c.attempt + 1,
                not_before=not_before,
                attempt_errors=self._json_append(r.c.attempt_errors, attempt_error),
                # The failed attempt's outcome lives on in attempt_errors only.
                node_id=None,
                started_at=None,
                heartbeat_at=None,
                finished_at=None,
                duration=None,
                result=None,
                error=None,
                reason=None,
            )
        )
        return await self._rowcount(stmt) == 1

    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        r = self._t.runs
        select_run = sa.select(r).where(r.c.id == run_id).with_for_update()
        this_run = sa.update(r).where(r.c.id == run_id)

        def work(conn: Connection) -> Run | None:
            row = conn.execute(select_run).first()
            if row is None:
                return None
            run = Run(**row._asdict())
            if run.status == RunStatus.PENDING:
                conn.execute(
                    this_run.values(status=RunStatus.CANCELLED, finished_at=now, reason=reason)
                )
                self._release_blocked(conn, run_id)
                return dataclasses.replace(
                    run, status=RunStatus.CANCELLED, finished_at=now, reason=reason
                )
            if run.status == RunStatus.RUNNING and not run.cancel_requested:
                conn.execute(this_run.values(cancel_requested=True))
                return dataclasses.replace(run, cancel_requested=True)
            return run

        return await self._db.write(work)

    async def mark_lost(self, stale_before: datetime, now: datetime) -> list[Run]:
        r = self._t.runs
        stmt = (
            sa.update(r)
            # One statement: a heartbeat committed before it makes the row not match,
            # one committed after finds the run no longer running.
            .where(r.c.status == RunStatus.RUNNING, r.c.heartbeat_at < stale_before)
            .values(
                status=RunStatus.LOST,
                finished_at=now,
                reason=f"no heartbeat from its node since before {stale_before.isoformat()}",
            )
            .returning(*r.c)
        )

        def work(conn: Connection) -> list[Run]:
            marked = [Run(**row._asdict()) for row in conn.execute(stmt)]
            if marked:
                # A dead run must not hold its queued successor forever.
                self._release_blocked(conn, *(run.id for run in marked))
            return marked

        lost = await self._db.write(work)
        lost.sort(key=lambda run: (run.scheduled_for, run.id))
        return lost

    async def purge_runs(self, finished_before: datetime) -> int:
        r, logs = self._t.runs, self._t.run_logs
        purgeable = sa.and_(
            r.c.finished_at < finished_before, r.c.status.in_(sorted(FINISHED_STATUSES))
        )
        batch = sa.select(r.c.id).where(purgeable).limit(_PURGE_BATCH).scalar_subquery()
        delete_runs = sa.delete(r).where(r.c.id.in_(batch), purgeable).returning(r.c.id)

        def work(conn: Connection) -> int:
            deleted = list(conn.execute(delete_runs).scalars())
            if deleted:
                conn.execute(sa.delete(logs).where(logs.c.run_id.in_(deleted)))
            return len(deleted)

        total = 0
        while True:
            count = await self._db.write(work)
            total += count
            if count < _PURGE_BATCH:
                return total

    async def run_stats(self, since: datetime, task_name: str | None = None) -> list[TaskStats]:
        r = self._t.runs
        tasks = self._stats_tasks(task_name)
        named = tasks.c.name.is_not(None)

        def in_window(*statuses: RunStatus) -> list[sa.ColumnElement[bool]]:
            # Every status named, even when all are wanted: per task and status the
            # window is then one range of runs_task_status_scheduled_ix (equality on its
            # first two columns), chosen without planner statistics on both databases.
            return [
                r.c.task_name == tasks.c.name,
                r.c.status.in_(statuses) if len(statuses) > 1 else r.c.status == statuses[0],
                r.c.scheduled_for >= since,
            ]

        if self._sqlite:
            # Counting stays in SQL: one index range per task and status. Ranking does
            # not: SQLite sorts at about 1 µs a row, and ROW_NUMBER() over the window
            # took 3-4× as long as reading the durations out unsorted and sorting them
            # here. They are read per task, one float column, straight from the
            # driver: through SQLAlchemy's rows each cost about twice as much.
            counts_stmt = sa.select(
                tasks.c.name,
                *(
                    sa.select(sa.func.count()).where(*in_window(s)).scalar_subquery()
                    for s in _STATUSES
                ),
            ).where(named)
            durations_sql = self._sqlite_durations_sql
            statuses = [s.value for s in _STATUSES]

            def work(conn: Connection) -> list[TaskStats]:
                raw = driver(conn)
                start = to_epoch_us(since)
                # One read transaction, so that counts and durations are one snapshot.
                raw.execute("BEGIN")
                try:
                    counts: dict[str, dict[str, int]] = {}
                    for name, *ns in conn.execute(counts_stmt):
                        found = {s.value: n for s, n in zip(_STATUSES, ns, strict=True) if n}
                        if found:
                            counts[name] = found
                    stats = []
                    for name, found in counts.items():
                        rows = raw.execute(durations_sql, (name, *statuses, start))
                        durations = [duration for (duration,) in rows]
                        durations.sort()
                        stats.append(task_stats(name, found, durations))
                    return stats
                finally:
                    raw.execute("ROLLBACK")

        else:
            # PostgreSQL ranks the durations itself: percentile_disc is the nearest rank
            # (the ceil(p * n)-th smallest, p the same double as _stats uses), one sort
            # per task of its window only. The sum adds the durations in ascending
            # order like _stats does (so the same mean, bit for bit, where Python's
            # sum() adds left to right: up to 3.11). One statement, one snapshot.
            fractions = [p / 100 for p in PERCENTILES]
            per_task = (
                sa.select(
                    *(sa.func.count().filter(r.c.status == s) for s in _STATUSES),
                    sa.func.count(r.c.duration),
                    sa.func.sum(postgresql.aggregate_order_by(r.c.duration, r.c.duration)),
                    sa.func.percentile_disc(
                        sa.cast(sa.literal(fractions), postgresql.ARRAY(sa.Float))
                    ).within_group(r.c.duration),
                )
                .where(*in_window(*_STATUSES))
                .lateral("per_task")
            )
            stmt = (
                sa.select(tasks.c.name, per_task)
                .select_from(tasks)
                .join(per_task, sa.true())
                .where(named)
            )

            def work(conn: Connection) -> list[TaskStats]:
                stats = []
                for name, *ns, n, total, percentiles in conn.execute(stmt):
                    found = {s.value: c for s, c in zip(_STATUSES, ns, strict=True) if c}
                    if found:
                        mean = total / n if n else None
                        stats.append(summarized(name, found, mean, percentiles or ()))
                return stats

        stats = await self._db.read(work)
        stats.sort(key=lambda s: s.task_name)
        return stats

    @functools.cached_property
    def _sqlite_durations_sql(self) -> str:
        """SQLite: the durations of one task's runs in the statistics window (parameters:
        the task name, every status, the window's start in microseconds), off
        runs_task_status_scheduled_ix alone (it holds the duration)."""
        statuses = ", ".join("?" * len(_STATUSES))
        return (
            f"SELECT duration FROM {self._t.runs.name} WHERE task_name = ? "
            f"AND status IN ({statuses}) AND scheduled_for >= ? AND duration IS NOT NULL"
        )

    def _stats_tasks(self, task_name: str | None) -> sa.CTE:
        """The names of the tasks ``run_stats`` reports on (a column ``name``, NULLs to
        be skipped): the one asked for, or every task with runs, found by a loose index
        scan: each name is the first index entry after the previous one, so distinct
        names cost one index seek each instead of a read of the whole history."""
        if task_name is not None:
            return sa.select(sa.literal(task_name, sa.String).label("name")).cte("tasks")
        r = self._t.runs
        tasks = sa.select(sa.func.min(r.c.task_name).label("name")).cte("tasks", recursive=True)
        following = sa.select(sa.func.min(r.c.task_name)).where(r.c.task_name > tasks.c.name)
        return tasks.union_all(
            sa.select(following.scalar_subquery()).where(tasks.c.name.is_not(None))
        )

    # -- run log lines -----------------------------------------------------------------

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        params = [_values(line) for line in lines]
        await self._db.write(lambda conn: conn.execute(self._append_logs_stmt, params))

    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        lg = self._t.run_logs
        stmt = (
            sa.select(lg)
            .where(lg.c.run_id == run_id, lg.c.seq > after_seq)
            .order_by(lg.c.seq)
            .limit(limit)
        )
        return [LogLine(**row._asdict()) for row in await self._fetch(stmt)]

    # -- leases --------------------------------------------------------------------------

    async def acquire_lease(
        self, name: str, holder: str, ttl: float, now: datetime
    ) -> Lease | None:
        ls = self._t.leases
        expires = now + timedelta(seconds=ttl)
        first = (
            self._insert(ls)
            .values(name=name, holder=holder, term=1, acquired_at=now, expires_at=expires)
            .on_conflict_do_nothing()
            .returning(*ls.c)
        )
        extending = sa.and_(ls.c.holder == holder, ls.c.expires_at > now)
        # SET expressions see the row as it was, so the CASEs test the old holder/expiry.
        take_or_extend = (
            sa.update(ls)
            .where(ls.c.name == name, sa.or_(extending, ls.c.expires_at <= now))
            .values(
                holder=holder,
                term=sa.case((extending, ls.c.term), else_=ls.c.term + 1),
                acquired_at=sa.case(
                    (extending, ls.c.acquired_at), else_=sa.literal(now, UTCDateTime())
                ),
                expires_at=expires,
            )
            .returning(*ls.c)
        )

        def work(conn: Connection) -> Lease | None:
            row = conn.execute(first).first() or conn.execute(take_or_extend).first()
            return Lease(**row._asdict()) if row is not None else None

        return await self._db.write(work)

    async def renew_lease(
        self, name: str, holder: str, term: int, ttl: float, now: datetime
    ) -> Lease | None:
        ls = self._t.leases
        stmt = (
            sa.update(ls)
            .where(
                ls.c.name == name,
                ls.c.holder == holder,
                ls.c.term == term,
                ls.c.expires_at > now,
            )
            .values(expires_at=now + timedelta(seconds=ttl))
            .returning(*ls.c)
        )
        rows = await self._fetch(stmt, write=True)
        return Lease(**rows[0]._asdict()) if rows else None

    async def release_lease(self, name: str, holder: str) -> bool:
        ls = self._t.leases
        # The row stays so that the next holder's term still counts up (terms fence
        # stale holders); the lease just ends at the moment its term began.
        stmt = (
            sa.update(ls)
            .where(ls.c.name == name, ls.c.holder == holder, ls.c.expires_at > ls.c.acquired_at)
            .values(expires_at=ls.c.acquired_at)
        )
        return await self._rowcount(stmt) == 1

    async def get_lease(self, name: str) -> Lease | None:
        ls = self._t.leases
        rows = await self._fetch(sa.select(ls).where(ls.c.name == name))
        return Lease(**rows[0]._asdict()) if rows else None

    # -- nodes ---------------------------------------------------------------------------

    async def upsert_node(self, node: Node) -> None:
        await self._upsert(self._t.nodes, _values(node), "id")

    async def list_nodes(self) -> list[Node]:
        n = self._t.nodes
        return [Node(**row._asdict()) for row in await self._fetch(sa.select(n).order_by(n.c.id))]

    async def delete_node(self, node_id: str) -> bool:
        n = self._t.nodes
        return await self._rowcount(sa.delete(n).where(n.c.id == node_id)) > 0

    # -- audit ---------------------------------------------------------------------------

    async def add_audit(self, event: AuditEvent) -> None:
        await self._rowcount(sa.insert(self._t.audit_events).values(_values(event)))

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        a = self._t.audit_events
        stmt = (
            sa.select(a)
            .where(*self._audit_conditions(actor, action, target))
            .order_by(a.c.at.desc(), a.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [AuditEvent(**row._asdict()) for row in await self._fetch(stmt)]

    async def count_audit(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None
    ) -> int:
        a = self._t.audit_events
        stmt = (
            sa.select(sa.func.count())
            .select_from(a)
            .where(*self._audit_conditions(actor, action, target))
        )
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    # -- API tokens ------------------------------------------------------------------------

    async def put_token(self, token: ApiToken) -> None:
        await self._upsert(self._t.api_tokens, _values(token), "id")

    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        tk = self._t.api_tokens
        rows = await self._fetch(sa.select(tk).where(tk.c.token_hash == token_hash))
        return ApiToken(**rows[0]._asdict()) if rows else None

    async def list_tokens(self) -> list[ApiToken]:
        tk = self._t.api_tokens
        stmt = sa.select(tk).order_by(tk.c.created_at, tk.c.id)
        return [ApiToken(**row._asdict()) for row in await self._fetch(stmt)]

    async def revoke_token(self, token_id: str) -> bool:
        tk = self._t.api_tokens
        return (
            await self._rowcount(sa.update(tk).where(tk.c.id == token_id).values(revoked=True)) > 0
        )

    async def touch_token(self, token_id: str, now: datetime) -> None:
        tk = self._t.api_tokens
        await self._rowcount(sa.update(tk).where(tk.c.id == token_id).values(last_used_at=now))

    # -- key/value state ---------------------------------------------------------------------

    async def get_state(self, key: str) -> StateEntry | None:
        kv = self._t.kv_state
        rows = await self._fetch(sa.select(kv).where(kv.c.key == key))
        return StateEntry(**rows[0]._asdict()) if rows else None

    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        kv = self._t.kv_state
        now = utcnow()
        stmt: sa.Executable
        if expected_version == 0:
            stmt = (
                self._insert(kv)
                .values(key=key, value=value, version=1, updated_at=now)
                .on_conflict_do_nothing()
            )
        else:
            stmt = (
                sa.update(kv)
                .where(kv.c.key == key, kv.c.version == expected_version)
                .values(value=value, version=kv.c.version + 1, updated_at=now)
            )
        return await self._rowcount(stmt) == 1

    async def delete_state(self, key: str) -> None:
        kv = self._t.kv_state
        await self._rowcount(sa.delete(kv).where(kv.c.key == key))

    # -- internals -----------------------------------------------------------------------

    # The hot path's fixed statements are built once: building one (and its cache key)
    # costs about as much as executing it.

    @functools.cached_property
    def _insert_runs_stmt(self) -> sa.Executable:
        r = self._t.runs
        # No conflict target: a duplicate fencing key and a re-sent run id (a batch
        # retried after a lost commit acknowledgement) are both skipped, not errors.
        return self._insert(r).on_conflict_do_nothing().returning(r.c.id)

    def _insert_runs_in(self, conn: Connection, runs: Sequence[Run]) -> set[str]:
        """Insert-if-absent on the fencing key; the ids inserted."""
        # Same key order in every batch: two PostgreSQL transactions inserting the same
        # keys then wait on each other in one direction only (no deadlock).
        ordered = sorted(runs, key=lambda run: (run.schedule_id or "", run.scheduled_for, run.id))
        if self._sqlite:
            rows = [self._driver_runs.row(run) for run in ordered]
            return set(self._driver_runs.insert_returning(conn, rows, "id"))
        # executemany with RETURNING: SQLAlchemy sends multi-row INSERTs in pages.
        params = [_values(run) for run in ordered]
        return set(conn.execute(self._insert_runs_stmt, params).scalars())

    def _claimable(self, conn: Connection, now: datetime) -> bool:
        """Whether any run may be claimable now (any task; off the claim index)."""
        sql = (
            f'SELECT 1 FROM "{self._t.runs.name}" '
            "WHERE status = ? AND not_before <= ? AND blocked_by IS NULL LIMIT 1"
        )
        params = (RunStatus.PENDING.value, to_epoch_us(now))
        return driver(conn).execute(sql, params).fetchone() is not None

    def _current(self, conn: Connection, wanted: dict[str, int]) -> set[str]:
        """The ids of ``wanted`` stored at the version it names, read under lock (SQLite:
        the write lock taken at BEGIN; PostgreSQL: FOR UPDATE, in id order like the
        advance), so no change can slip in before this transaction's writes."""
        ids = sorted(wanted)
        if self._sqlite:
            found = self._driver_schedules.select_in(conn, ("id", "version"), "id", ids)
            return {sid for sid, version in found if wanted[sid] == version}
        s = self._t.schedules
        current: set[str] = set()
        for start in range(0, len(ids), _MAX_IN_LIST):
            stmt = (
                sa.select(s.c.id, s.c.version)
                .where(s.c.id.in_(ids[start : start + _MAX_IN_LIST]))
                .order_by(s.c.id)
                .with_for_update()
            )
            current.update(sid for sid, version in conn.execute(stmt) if wanted[sid] == version)
        return current

    def _advance_in(
        self,
        conn: Connection,
        updates: Sequence[tuple[str, int, datetime | None, datetime | None]],
    ) -> int:
        """Version-checked schedule advances; how many applied."""
        s = self._t.schedules
        # Sorted by id so that concurrent batches lock rows in one order (no deadlock).
        ordered = sorted(updates, key=lambda u: u[0])
        if self._sqlite:
            enc = self._driver_schedules.encode
            params = [
                (enc("next_fire_time", n), enc("last_fire_time", la), i, v)
                for i, v, n, la in ordered
            ]
            # The sqlite3 driver sums executemany row counts.
            return self._driver_schedules.execute_many(conn, self._advance_sql, params)
        # asyncpg reports no row count for executemany: one UPDATE ... FROM unnest(arrays).
        array_types: tuple[postgresql.ARRAY[Any], ...] = (
            postgresql.ARRAY(sa.String),
            postgresql.ARRAY(sa.Integer),
            postgresql.ARRAY(UTCDateTime()),
            postgresql.ARRAY(UTCDateTime()),
        )
        arrays: list[sa.ColumnElement[Any]] = [
            sa.cast(sa.literal(list(column), array_type), array_type)
            for column, array_type in zip(zip(*ordered, strict=True), array_types, strict=True)
        ]
        given = (
            sa.func.unnest(*arrays)
            .table_valued(
                sa.column("id", sa.String),
                sa.column("version", sa.Integer),
                sa.column("next", UTCDateTime()),
                sa.column("last", UTCDateTime()),
            )
            .render_derived(name="given")
        )
        stmt = (
            sa.update(s)
            .where(s.c.id == given.c.id, s.c.version == given.c.version)
            .values(next_fire_time=given.c.next, last_fire_time=given.c.last)
        )
        return int(conn.execute(stmt).rowcount)

    @functools.cached_property
    def _advance_sql(self) -> str:
        return self._driver_schedules.update_sql(
            ["next_fire_time", "last_fire_time"], ["id", "version"]
        )

    @functools.cached_property
    def _active_runs_stmt(self) -> sa.Executable:
        # Built once, with an expanding IN: the scheduler asks every tick.
        r = self._t.runs
        return (
            sa.select(r)
            .where(
                r.c.schedule_id.in_(sa.bindparam("ids", expanding=True)),
                r.c.status.in_([RunStatus.PENDING, RunStatus.RUNNING]),
            )
            .order_by(r.c.scheduled_for, r.c.id)
        )

    @functools.cached_property
    def _finish_sql(self) -> str:
        return self._driver_runs.update_sql(_OUTCOME, ["id"])

    @functools.cached_property
    def _append_logs_stmt(self) -> sa.Executable:
        # Idempotent on (run_id, seq): a batch re-sent after an error adds no duplicates.
        return self._insert(self._t.run_logs).on_conflict_do_nothing()

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT, which has ON CONFLICT (same API on both)."""
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    def _json_append(self, column: sa.ColumnElement[Any], item: JSON) -> sa.ColumnElement[Any]:
        """``column`` (a JSON array) with ``item`` appended, computed in the database so
        the append is part of the conditional UPDATE (no read-modify-write race)."""
        if self._sqlite:
            return sa.func.json_insert(
                column, "$[#]", sa.func.json(sa.literal(item, sa.JSON(none_as_null=True)))
            )
        appended = sa.cast(sa.literal([item], postgresql.JSONB), postgresql.JSONB)
        return column.op("||", return_type=postgresql.JSONB)(appended)

    def _release_blocked(self, conn: Connection, *run_ids: str) -> None:
        if self._sqlite:
            self._driver_runs.update_in(conn, "blocked_by = NULL", "blocked_by", run_ids)
            return
        r = self._t.runs
        conn.execute(sa.update(r).where(r.c.blocked_by.in_(run_ids)).values(blocked_by=None))

    def _finish_one(
        self, conn: Connection, run_id: str, attempt: int, node_id: str | None, outcome: RunOutcome
    ) -> bool:
        r = self._t.runs
        if node_id is None:
            held = r.c.status == RunStatus.PENDING
        else:
            held = sa.and_(r.c.status == RunStatus.RUNNING, r.c.node_id == node_id)
        stmt = (
            sa.update(r)
            .where(r.c.id == run_id, r.c.attempt == attempt, held)
            .values(
                status=outcome.status,
                finished_at=outcome.finished_at,
                duration=outcome.duration,
                result=outcome.result,
                error=outcome.error,
                reason=outcome.reason,
            )
        )
        if conn.execute(stmt).rowcount != 1:
            return False
        self._release_blocked(conn, run_id)
        return True

    def _finish_many_sqlite(
        self, conn: Connection, items: Sequence[tuple[str, int, str | None, RunOutcome]]
    ) -> list[bool]:
        """A batch in three statements: read the runs' states, decide each item in order,
        write the applied ones with one executemany. Safe only because the transaction
        holds SQLite's write lock from its first statement: no state read here can
        change before the writes."""
        ids = sorted({run_id for run_id, *_ in items})
        state: dict[str, tuple[RunStatus | None, int | None, str | None]] = {}
        columns = ("id", "status", "attempt", "node_id")
        for run_id, status, stored_attempt, stored_node in self._driver_runs.select_in(
            conn, columns, "id", ids
        ):
            state[run_id] = (RunStatus(status), stored_attempt, stored_node)
        applied: list[bool] = []
        writes: list[tuple[Any, ...]] = []
        for run_id, attempt, node_id, outcome in items:
            status, stored_attempt, stored_node = state.get(run_id, (None, None, None))
            if node_id is None:
                held = status == RunStatus.PENDING
            else:
                held = status == RunStatus.RUNNING and stored_node == node_id
            ok = held and stored_attempt == attempt
            applied.append(ok)
            if ok:
                state[run_id] = (outcome.status, attempt, stored_node)
                enc = self._driver_runs.encode
                writes.append((*(enc(name, getattr(outcome, name)) for name in _OUTCOME), run_id))
        if writes:
            self._driver_runs.execute_many(conn, self._finish_sql, writes)
            self._release_blocked(conn, *sorted({w[-1] for w in writes}))
        return applied

    def _finish_many_postgres(
        self, conn: Connection, items: Sequence[tuple[str, int, str | None, RunOutcome]]
    ) -> list[bool]:
        """Every item of a batch (distinct run ids) in one UPDATE ... FROM unnest(...)."""
        r = self._t.runs
        jsonb = postgresql.JSONB
        text_array = postgresql.ARRAY(sa.String)
        columns: list[tuple[str, sa.types.TypeEngine[Any], list[Any]]] = [
            ("id", text_array, [run_id for run_id, *_ in items]),
            ("attempt", postgresql.ARRAY(sa.Integer), [item[1] for item in items]),
            ("node_id", text_array, [item[2] for item in items]),
            ("status", text_array, [o.status.value for *_, o in items]),
            ("finished_at", postgresql.ARRAY(UTCDateTime()), [o.finished_at for *_, o in items]),
            ("duration", postgresql.ARRAY(sa.Float), [o.duration for *_, o in items]),
            # JSON as text, cast per row: asyncpg has no jsonb[] codec SQLAlchemy feeds.
            ("result", text_array, [_json_text(o.result) for *_, o in items]),
            ("error", text_array, [_json_text(o.error) for *_, o in items]),
            ("reason", text_array, [o.reason for *_, o in items]),
        ]
        given = (
            sa.func.unnest(*(sa.cast(sa.literal(v, t), t) for _, t, v in columns))
            .table_valued(*(name for name, _, _ in columns))
            .render_derived(name="given")
        )
        held = sa.or_(
            sa.and_(given.c.node_id.is_(None), r.c.status == RunStatus.PENDING),
            sa.and_(r.c.status == RunStatus.RUNNING, r.c.node_id == given.c.node_id),
        )
        stmt = (
            sa.update(r)
            .where(r.c.id == given.c.id, r.c.attempt == given.c.attempt, held)
            .values(
                status=given.c.status,
                finished_at=given.c.finished_at,
                duration=given.c.duration,
                result=sa.cast(given.c.result, jsonb),
                error=sa.cast(given.c.error, jsonb),
                reason=given.c.reason,
            )
            .returning(r.c.id)
        )
        applied = set(conn.execute(stmt).scalars())
        if applied:
            self._release_blocked(conn, *sorted(applied))
        return [run_id in applied for run_id, *_ in items]

    def _run_conditions(self, flt: RunFilter | None) -> list[sa.ColumnElement[bool]]:
        if flt is None:
            return []
        r = self._t.runs
        conditions: list[sa.ColumnElement[bool]] = []
        if flt.task_name is not None:
            conditions.append(r.c.task_name == flt.task_name)
        if flt.schedule_id is not None:
            conditions.append(r.c.schedule_id == flt.schedule_id)
        if flt.statuses is not None:
            conditions.append(r.c.status.in_(sorted(flt.statuses)))
        if flt.trigger_source is not None:
            conditions.append(r.c.trigger_source == flt.trigger_source)
        if flt.since is not None:
            conditions.append(r.c.scheduled_for >= flt.since)
        if flt.until is not None:
            conditions.append(r.c.scheduled_for < flt.until)
        if flt.node_id is not None:
            conditions.append(r.c.node_id == flt.node_id)
        return conditions

    def _audit_conditions(
        self, actor: str | None, action: str | None, target: str | None
    ) -> list[sa.ColumnElement[bool]]:
        a = self._t.audit_events
        given = ((a.c.actor, actor), (a.c.action, action), (a.c.target, target))
        return [column == value for column, value in given if value is not None]

    async def _upsert(self, table: sa.Table, values: dict[str, Any], key: str) -> None:
        stmt = self._insert(table).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={name: stmt.excluded[name] for name in values if name != key},
        )
        await self._rowcount(stmt)

    async def _fetch(self, stmt: sa.Executable, *, write: bool = False) -> list[sa.Row[Any]]:
        """All rows of one statement (a write transaction with ``write``: RETURNING)."""

        def work(conn: Connection) -> list[sa.Row[Any]]:
            return list(conn.execute(stmt))

        return await (self._db.write(work) if write else self._db.read(work))

    async def _rowcount(self, stmt: sa.Executable) -> int:
        """Run one write statement in its own transaction; its row count."""
        return await self._db.write(lambda conn: conn.execute(stmt).rowcount)


def _check_outcome(outcome: RunOutcome) -> None:
    if not outcome.status.finished:
        raise ValueError(f"a run can only finish with a final status, not {outcome.status.value!r}")


def _json_text(value: JSON | None) -> str | None:
    return None if value is None else json_dumps(value)
