"""Runs in the SQL store: reading them, claiming them, their heartbeats, progress, log
lines and purge. (Ending an attempt is in :mod:`schedkit.store.sql.transitions`.)

Claims select their candidates with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that
concurrent claimers take disjoint runs without waiting; on SQLite the write lock, taken
up front, already excludes every other writer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.errors import StoreError
from schedkit.models import (
    FINISHED_STATUSES,
    JSON,
    LOCAL_EXECUTOR,
    STEP_CREATOR,
    LogLine,
    Run,
    RunFilter,
    RunStatus,
    TriggerSource,
    WorkflowStatus,
    run_of_values,
)
from schedkit.store._common import claim_order, nothing_to_claim, offered_keys, stale_order
from schedkit.store._rollups import DAY
from schedkit.store.sql.base import SQLBase, chunks, log, values_of
from schedkit.store.sql.queries import Query
from schedkit.store.sql.schema import ACTIVE_ONLY, PENDING_ONLY, RUNNING_ONLY
from schedkit.store.values import Held

# Purges delete in batches so a long purge never holds SQLite's write lock for long.
_PURGE_BATCH = 1000
#: Tasks per query of last_finished_runs (one subquery each).
_LATEST_PER_QUERY = 200


class RunsMixin(SQLBase):
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
        conditions = self._run_conditions(flt)
        stmt = (
            sa.select(sa.func.count()).select_from(self._t.runs).where(*conditions)
            if conditions
            else self._count_all
        )
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    @functools.cached_property
    def _count_all(self) -> sa.Select[tuple[int]]:
        """Every run: the finished ones from the day rollups, which every write that
        finishes, un-finishes or deletes a run keeps exact in its own transaction (see
        ``SQLBase._roll``), plus the active ones off their partial indexes. The
        console's runs page asks this first; counting a million runs' index entries took
        16-20 ms on SQLite and 60 ms on PostgreSQL. One statement, so one snapshot: a
        run finishing meanwhile is counted once, as active or as finished."""
        r, ru = self._t.runs, self._t.run_rollups
        finished = sa.select(sa.func.coalesce(sa.func.sum(ru.c.runs), 0)).where(ru.c.period == DAY)
        pending = sa.select(sa.func.count()).select_from(r).where(PENDING_ONLY)
        running = sa.select(sa.func.count()).select_from(r).where(RUNNING_ONLY)
        return sa.select(
            finished.scalar_subquery() + pending.scalar_subquery() + running.scalar_subquery()
        )

    async def last_finished_runs(self, task_names: Sequence[str]) -> dict[str, Run]:
        r = self._t.runs
        finished = sorted(status.value for status in FINISHED_STATUSES)
        found: dict[str, Run] = {}
        names = sorted(set(task_names))
        for start in range(0, len(names), _LATEST_PER_QUERY):
            # Per task, the newest finished run's id off runs_task_scheduled_ix (read
            # backwards, stopping at the first finished entry); the rows in one query.
            latest = [
                sa.select(r.c.id)
                .where(r.c.task_name == name, r.c.status.in_(finished))
                .order_by(r.c.scheduled_for.desc(), r.c.id.desc())
                .limit(1)
                .scalar_subquery()
                for name in names[start : start + _LATEST_PER_QUERY]
            ]
            for row in await self._fetch(sa.select(r).where(r.c.id.in_(latest))):
                run = Run(**row._asdict())
                found[run.task_name] = run
        return found

    async def active_runs(self, schedule_id: str) -> list[Run]:
        return (await self.active_runs_of([schedule_id]))[schedule_id]

    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        found: dict[str, list[Run]] = {sid: [] for sid in schedule_ids}
        query = self._active_runs

        def work(conn: Connection) -> list[Run]:
            return [
                run_of_values(row)
                for chunk in chunks(sorted(found))
                for row in query.all(conn, {"ids": chunk})
            ]

        for run in await self._db.read(work) if found else []:
            found[run.schedule_id or ""].append(run)
        return found

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
        if nothing_to_claim(limit, task_names, run_ids):
            return []
        if self._sqlite and not self._claim_found:
            # Idle nodes poll every second: a read that finds nothing takes no write lock.
            # Not after a claim that found runs: on a busy node it was one thread hop
            # more per claim, and most claims then find runs.
            claimable = self._claimable
            if not await self._db.read(lambda conn: claimable.all(conn, {"now": now})):
                return []
        query = self._claim(task_names is not None, run_ids is not None, executor is not None)
        # Parameter names no column has: given to an UPDATE on PostgreSQL, a key named
        # like a column would be taken as a value to set.
        params: dict[str, object] = {
            "claimer": node_id,
            "claimed_at": now,
            "wanted": limit,
            "offered": offered_keys(labels),
        }
        if task_names is not None:
            params["task_names"] = list(task_names)
        if run_ids is not None:
            params["run_ids"] = list(run_ids)
        if executor is not None:
            params["executor_name"] = executor
        rows = await self._db.write_one(lambda conn: query.all(conn, params))
        self._claim_found = bool(rows)
        if len(rows) >= limit and not self._sqlite and not self._statistics_checked:
            self._statistics_checked = True
            await self._analyze_if_never_analyzed()
        # The columns are Run's fields, in order.
        claimed = [run_of_values(row) for row in rows]
        # RETURNING comes in no particular order.
        return sorted(claimed, key=claim_order)

    async def _analyze_if_never_analyzed(self) -> None:
        """Give PostgreSQL's planner statistics of the runs table if it has none yet (a
        new database, one restored from a dump, until autovacuum's first pass). Without
        them it estimates a task's pending runs at one row and picks the (task, status)
        index, then sorts every pending run at each claim: 11–13 ms per claim of 100
        with 20,000 pending, against 3–4 ms off the claim index. Checked once per store,
        at its first full claim (a backlog): later ones are autovacuum's to keep."""
        name = self._t.runs.name

        def work(conn: Connection) -> bool:
            """Whether the table needs statistics this role may not give it."""
            row = conn.execute(
                sa.text(
                    "SELECT s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AS never, "
                    "pg_has_role(c.relowner, 'USAGE') AS owner FROM pg_stat_user_tables s "
                    "JOIN pg_class c ON c.oid = s.relid WHERE s.relid = to_regclass(:name)"
                ),
                {"name": name},
            ).one_or_none()
            if row is None or not row.never:
                return False
            if not row.owner:
                # The server only warns, to the client, which logged nothing.
                return True
            # SKIP_LOCKED: if autovacuum is analyzing it right now, that will do.
            conn.exec_driver_sql(f'ANALYZE (SKIP_LOCKED) "{name}"')
            return False

        try:
            not_owner = await self._db.write_one(work)
        except StoreError as exc:
            log.info("could not analyze %s (the claims may sort their candidates): %s", name, exc)
            return
        if not_owner:
            log.warning(
                "table %s has no planner statistics, and ANALYZE needs its owner's rights, "
                "which this role lacks: claims may sort every pending run until autovacuum "
                "analyzes it; run ANALYZE %s as its owner",
                name,
                name,
            )

    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> Held:
        if not run_ids:
            return {}
        r = self._t.runs
        stmt = (
            sa.update(r)
            .where(
                r.c.id.in_(sorted(run_ids)),
                # Wrapped so that it filters the key lookups: as ``node_id = ?`` it led
                # SQLite's planner (no statistics) to the node's index, reading every
                # run the node ever executed at each heartbeat.
                sa.func.coalesce(r.c.node_id, "") == node_id,
                r.c.status == RunStatus.RUNNING,
            )
            .values(heartbeat_at=now)
            .returning(r.c.id, r.c.cancel_requested)
        )
        rows = await self._fetch(stmt, write=True, urgent=True)
        return {row.id: row.cancel_requested for row in rows}

    async def update_progress(self, run_id: str, progress: JSON) -> None:
        r = self._t.runs
        await self._rowcount(sa.update(r).where(r.c.id == run_id).values(progress=progress))

    async def stale_runs(self, stale_before: datetime, limit: int) -> list[Run]:
        if limit <= 0:
            return []
        r = self._t.runs
        stmt = (
            sa.select(r)
            .where(RUNNING_ONLY, r.c.heartbeat_at < stale_before)
            # Off runs_reaper_ix (running runs only); ties are put in id order below.
            .order_by(r.c.heartbeat_at)
            .limit(limit)
        )
        return sorted((Run(**row._asdict()) for row in await self._fetch(stmt)), key=stale_order)

    async def count_purgeable_runs(self, finished_before: datetime) -> int:
        purgeable = self._purgeable(finished_before)
        stmt = sa.select(sa.func.count()).select_from(self._t.runs).where(purgeable)
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    def _purgeable(self, finished_before: datetime) -> sa.ColumnElement[bool]:
        r, w = self._t.runs, self._t.workflow_runs
        # A step run of a workflow run that is kept stays with it: the plan reads a
        # missing step run as "not started yet", so deleting a finished one made the
        # engine run that step again. A step run's created_by is "workflow:<its run id>".
        kept_workflow = (
            sa.select(w.c.id)
            .where(
                w.c.id == sa.func.substr(r.c.created_by, len(STEP_CREATOR) + 1),
                sa.or_(
                    w.c.status == WorkflowStatus.RUNNING,
                    w.c.finished_at.is_(None),
                    w.c.finished_at >= finished_before,
                ),
            )
            .exists()
        )
        is_step = sa.and_(
            r.c.trigger_source == TriggerSource.WORKFLOW,
            r.c.created_by.startswith(STEP_CREATOR, autoescape=True),
        )
        return sa.and_(
            r.c.finished_at < finished_before,
            r.c.status.in_(sorted(FINISHED_STATUSES)),
            sa.not_(sa.and_(is_step, kept_workflow)),
        )

    async def purge_runs(self, finished_before: datetime) -> int:
        r, logs = self._t.runs, self._t.run_logs
        purgeable = self._purgeable(finished_before)
        batch = sa.select(r.c.id).where(purgeable).limit(_PURGE_BATCH).scalar_subquery()
        delete_runs = (
            sa.delete(r)
            .where(r.c.id.in_(batch), purgeable)
            .returning(r.c.id, r.c.task_name, r.c.scheduled_for, r.c.status, r.c.duration)
        )

        def work(conn: Connection) -> int:
            deleted = list(conn.execute(delete_runs))
            if deleted:
                ids = [row[0] for row in deleted]
                conn.execute(sa.delete(logs).where(logs.c.run_id.in_(ids)))
                self._roll(conn, [tuple(row[1:]) for row in deleted], sign=-1)
            return len(deleted)

        total = 0
        while True:
            count = await self._db.write(work)
            total += count
            if count < _PURGE_BATCH:
                return total

    # -- run log lines -----------------------------------------------------------------

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        params = [values_of(line) for line in lines]
        # Idempotent on (run_id, seq): a batch re-sent after an error adds no duplicates.
        stmt = self._insert(self._t.run_logs).on_conflict_do_nothing()
        await self._db.write(lambda conn: conn.execute(stmt, params))

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

    # -- internals -----------------------------------------------------------------------

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
        if flt.executor is not None:
            conditions.append(r.c.executor == flt.executor)
            if flt.executor != LOCAL_EXECUTOR:
                # Implied, but said with the literal of runs_handoff_ix's WHERE: SQLite
                # uses a partial index only for a query repeating that term.
                conditions.append(r.c.executor != sa.literal(LOCAL_EXECUTOR, literal_execute=True))
        return conditions

    @functools.cached_property
    def _active_runs(self) -> Query:
        r = self._t.runs
        stmt = (
            sa.select(r)
            .where(
                r.c.schedule_id.in_(sa.bindparam("ids", expanding=True)),
                ACTIVE_ONLY,
            )
            .order_by(r.c.scheduled_for, r.c.id)
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cache  # noqa: B019 -- eight statements at most, held as long as the store
    def _claim(self, by_task: bool, by_id: bool, by_executor: bool) -> Query:
        """The claim of pending runs (``UPDATE ... RETURNING``), compiled once per shape
        of filter: built per call, with its rows decoded by SQLAlchemy, it cost a
        claim of 100 runs about 30 µs of CPU per run, twice the statement's own."""
        r = self._t.runs
        candidates = (
            sa.select(r.c.id)
            .where(
                PENDING_ONLY,
                r.c.not_before <= sa.bindparam("claimed_at", type_=r.c.not_before.type),
                r.c.blocked_by.is_(None),
                r.c.labels.in_(sa.bindparam("offered", expanding=True)),
            )
            .order_by(r.c.priority.desc(), r.c.not_before, r.c.id)
            .limit(sa.bindparam("wanted", type_=sa.Integer))
            # PostgreSQL: rows another claimer has locked are passed over, not waited
            # for. SQLite renders no FOR UPDATE; its write lock already excludes others.
            .with_for_update(skip_locked=True)
        )
        if by_task:
            tasks: sa.BindParameter[list[str]] = sa.bindparam("task_names", expanding=True)
            candidates = candidates.where(r.c.task_name.in_(tasks))
        if by_id:
            candidates = candidates.where(r.c.id.in_(sa.bindparam("run_ids", expanding=True)))
        if by_executor:
            candidates = candidates.where(r.c.executor == sa.bindparam("executor_name"))
        # A materialized CTE runs the locking SELECT exactly once. As a plain IN
        # (subquery), PostgreSQL may run it again while updating, and every run picks
        # further rows: claims were seen returning more runs than their limit.
        claimable_cte = candidates.cte("claimable").prefix_with("MATERIALIZED")
        # No second check that a candidate is still pending: SQLite's transaction holds
        # the write lock since it began, and PostgreSQL's FOR UPDATE locks the newest
        # version of each candidate only if it still meets the candidates' conditions
        # (read committed rechecks them). Given one, both planners searched the pending
        # runs' index for each claimed id: on PostgreSQL, with statistics from a history
        # of finished runs and a backlog of 20,000 pending, a claim of 100 took 330 ms
        # instead of 4 (on SQLite, 6 µs per run claimed out of 17).
        stmt = (
            sa.update(r)
            .where(r.c.id.in_(sa.select(claimable_cte.c.id)))
            .values(
                status=RunStatus.RUNNING,
                node_id=sa.bindparam("claimer"),
                started_at=sa.bindparam("claimed_at"),
                heartbeat_at=sa.bindparam("claimed_at"),
            )
            .returning(*r.c)
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _claimable(self) -> Query:
        """SQLite: whether any run may be claimable now (any task; off the claim index)."""
        r = self._t.runs
        stmt = (
            sa.select(sa.literal(1))
            .where(
                PENDING_ONLY,
                r.c.not_before <= sa.bindparam("now"),
                r.c.blocked_by.is_(None),
            )
            .limit(1)
        )
        return Query(stmt, on_sqlite=self._sqlite)
