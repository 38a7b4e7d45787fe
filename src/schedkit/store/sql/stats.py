"""Run statistics in the SQL store: counts per task and status off the (task, status)
index, durations ranked in the database on PostgreSQL and in Python on SQLite (see the
comments in :meth:`StatsMixin.run_stats` for why); runs per hour off the hour rollups."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from schedkit.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    HourlyRunCount,
    RunStatus,
    TaskStats,
)
from schedkit.store._rollups import (
    DAY,
    HOUR,
    WindowAggregate,
    add_rows,
    approximate_stats,
    hourly_counts,
    hours_span,
    period_start,
    window_plan,
)
from schedkit.store._stats import PERCENTILES, summarized, task_stats
from schedkit.store.sql.base import SQLBase
from schedkit.store.sql.columns import UTCDateTime, to_epoch_us
from schedkit.store.sql.queries import Query
from schedkit.store.sql.rows import driver

# run_stats counts per status in this order (so the counts read in it too).
_STATUSES: tuple[RunStatus, ...] = tuple(sorted(RunStatus))
_T = TypeVar("_T")


class StatsMixin(SQLBase):
    async def run_stats(
        self, since: datetime, task_name: str | None = None, *, exact: bool = False
    ) -> list[TaskStats]:
        if exact:
            return await self._exact_stats(since, task_name)
        plan = window_plan(since)
        params = {"since": since, "task": task_name, **plan.params()}
        parts, union = self._rollup_queries[task_name is not None]

        def work(conn: Connection) -> list[TaskStats]:
            tasks: dict[str, WindowAggregate] = {}
            if self._sqlite:
                # In process: the parts one by one, skipping empty ranges.
                active, edge, hours, days = parts
                add_rows(tasks, active.all(conn, params))
                if plan.edge_from < plan.edge_to:
                    add_rows(tasks, edge.all(conn, params))
                if plan.hours_from < plan.hours_to:
                    add_rows(tasks, hours.all(conn, params))
                add_rows(tasks, days.all(conn, params))
            else:
                # One round trip, not four.
                add_rows(tasks, conn.execute(union, params))
            return approximate_stats(tasks)

        return await self._snapshot(work)

    async def run_counts_per_hour(self, since: datetime, until: datetime) -> list[HourlyRunCount]:
        start, end = hours_span(since, until)
        hours, active = self._hourly_queries
        params = {"start": start, "end": end}

        def work(conn: Connection) -> list[HourlyRunCount]:
            rows = [(hour, status, n) for hour, status, n in conn.execute(hours, params)]
            rows += [
                (period_start(at, HOUR), status, 1) for at, status in conn.execute(active, params)
            ]
            return hourly_counts(rows)

        return await self._snapshot(work)

    @functools.cached_property
    def _hourly_queries(self) -> tuple[sa.Select[Any], sa.Select[Any]]:
        """``run_counts_per_hour``'s statements (parameters ``start`` and ``end``): the
        hour rollup rows summed over tasks (one range of the rollups' key), and the runs
        not finished one by one (runs_status_scheduled_ix ranges)."""
        r, ru = self._t.runs, self._t.run_rollups
        start, end = (sa.bindparam(name, type_=UTCDateTime()) for name in ("start", "end"))
        hours = (
            sa.select(
                ru.c.period_start,
                ru.c.status,
                # sum() of a bigint is a numeric on PostgreSQL.
                sa.cast(sa.func.sum(ru.c.runs), sa.BigInteger()),
            )
            .where(ru.c.period == HOUR, ru.c.period_start >= start, ru.c.period_start < end)
            .group_by(ru.c.period_start, ru.c.status)
        )
        active = sa.select(r.c.scheduled_for, sa.type_coerce(r.c.status, sa.String())).where(
            r.c.status.in_(sorted(s.value for s in ACTIVE_STATUSES)),
            r.c.scheduled_for >= start,
            r.c.scheduled_for < end,
        )
        return hours, active

    async def _snapshot(self, work: Callable[[Connection], _T]) -> _T:
        """``work`` in one read transaction (one snapshot on SQLite too, where reads
        otherwise run in autocommit mode; PostgreSQL reads each unit of work in one)."""
        if not self._sqlite:
            return await self._db.read(work)

        def snapshot(conn: Connection) -> _T:
            raw = driver(conn)
            raw.execute("BEGIN")
            try:
                return work(conn)
            finally:
                raw.execute("ROLLBACK")

        return await self._db.read(snapshot)

    async def _exact_stats(self, since: datetime, task_name: str | None) -> list[TaskStats]:
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
    def _rollup_queries(self) -> dict[bool, tuple[tuple[Query, ...], sa.Executable]]:
        """The statements of a window answered from the rollups (parameters ``since``,
        ``task`` and a :class:`WindowPlan`'s), for every task
        (False) and for one (True), as parts (SQLite) and as one UNION ALL (PostgreSQL):
        pending and running counts of the window (runs_status_scheduled_ix ranges, few
        rows), the finished runs of the plan's partial hour one by one, its hour rows
        and its day rows (two ranges of the rollups' key). Every row is (kind, task,
        status, count, timed, duration sum, histogram): ``_rollups.add_rows``."""
        r, ru = self._t.runs, self._t.run_rollups
        finished = sorted(s.value for s in FINISHED_STATUSES)
        active = sorted(s.value for s in ACTIVE_STATUSES)

        def constant(sql: str, kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
            return sa.literal_column(sql, kind)

        # The status as stored (a string): no enum built per row.
        status = sa.type_coerce(r.c.status, sa.String())
        no_histogram = constant("CAST(NULL AS BYTEA)", sa.LargeBinary())  # NULL alone: text
        sums = (ru.c.runs, ru.c.timed, ru.c.duration_sum, ru.c.histogram)
        since, edge_from, edge_to, hours_from, hours_to, days_from = (
            sa.bindparam(name, type_=UTCDateTime())
            for name in ("since", "edge_from", "edge_to", "hours_from", "hours_to", "days_from")
        )
        edge_kind, hours_kind = (
            sa.cast(sa.bindparam(name, type_=sa.String()), sa.String())
            for name in ("edge_kind", "hours_kind")
        )
        built: dict[bool, tuple[tuple[Query, ...], sa.Executable]] = {}
        for one_task in (False, True):
            runs_of = [r.c.task_name == sa.bindparam("task")] if one_task else []
            rollups_of = [ru.c.task_name == sa.bindparam("task")] if one_task else []
            statements = (
                sa.select(
                    constant("'a'", sa.String()),
                    r.c.task_name,
                    status,
                    sa.func.count(),
                    constant("0", sa.BigInteger()),
                    constant("CAST(0 AS FLOAT)", sa.Float()),
                    no_histogram,
                )
                .where(r.c.status.in_(active), r.c.scheduled_for >= since, *runs_of)
                .group_by(r.c.task_name, r.c.status),
                sa.select(
                    edge_kind,
                    r.c.task_name,
                    status,
                    constant("1", sa.BigInteger()),
                    constant("0", sa.BigInteger()),
                    r.c.duration,
                    no_histogram,
                ).where(
                    r.c.status.in_(finished),
                    r.c.scheduled_for >= edge_from,
                    r.c.scheduled_for < edge_to,
                    *runs_of,
                ),
                sa.select(hours_kind, ru.c.task_name, ru.c.status, *sums).where(
                    ru.c.period == HOUR,
                    ru.c.period_start >= hours_from,
                    ru.c.period_start < hours_to,
                    *rollups_of,
                ),
                sa.select(constant("'r'", sa.String()), ru.c.task_name, ru.c.status, *sums).where(
                    ru.c.period == DAY, ru.c.period_start >= days_from, *rollups_of
                ),
            )
            parts = (
                tuple(Query(stmt, on_sqlite=True) for stmt in statements) if self._sqlite else ()
            )
            built[one_task] = (parts, sa.union_all(*statements))
        return built

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
