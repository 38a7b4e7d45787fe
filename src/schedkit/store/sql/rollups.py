"""The run rollups in the SQL store (``store._rollups``): applying a write's changes in
its transaction, and filling the table from the runs already stored (the schema step).

A histogram is a blob, merged here, not in SQL: each change locks the rows it touches
first (an ``INSERT ... ON CONFLICT DO UPDATE`` that changes nothing and returns the row
as stored: a new row is inserted empty, an existing one row-locked on PostgreSQL; SQLite
holds its write lock already), then writes the sums. Keys are locked in one order, so
concurrent writers on PostgreSQL wait for each other but never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from schedkit.models import FINISHED_STATUSES
from schedkit.store._rollups import Rollup, RollupDelta, RollupKey, add_encoded, encode_histogram

_KEY = ("task_name", "status", "period", "period_start")
_SUMS = ("runs", "timed", "duration_sum", "histogram")
#: Keys per statement: 8 parameters each, far below SQLite's limit.
_KEYS_PER_STATEMENT = 1000


def _insert(conn: Connection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    return (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(table)


def _row(key: RollupKey, rollup: Rollup) -> dict[str, Any]:
    return {
        **dict(zip(_KEY, key, strict=True)),
        "runs": rollup.runs,
        "timed": rollup.timed,
        "duration_sum": rollup.duration_sum,
        "histogram": encode_histogram(rollup.compacted()),
    }


def apply_delta(conn: Connection, table: sa.Table, delta: RollupDelta) -> None:
    """Add ``delta`` to the rollups, in the caller's transaction."""
    items = delta.sorted_items()
    for start in range(0, len(items), _KEYS_PER_STATEMENT):
        _apply(conn, table, items[start : start + _KEYS_PER_STATEMENT])


def _apply(conn: Connection, table: sa.Table, items: Sequence[tuple[RollupKey, Rollup]]) -> None:
    ins = _insert(conn, table)
    lock = (
        ins.values([_row(key, Rollup()) for key, _ in items])
        .on_conflict_do_update(
            index_elements=[table.c[k] for k in _KEY], set_={"runs": table.c.runs}
        )
        .returning(*(table.c[k] for k in _KEY), *(table.c[k] for k in _SUMS))
    )
    stored: dict[RollupKey, Rollup] = {}
    for task_name, status, period, start, runs, timed, total, blob in conn.execute(lock):
        rollup = Rollup(runs=runs, timed=timed, duration_sum=total)
        add_encoded(rollup.histogram, blob)
        stored[(task_name, status, period, start)] = rollup
    kept, emptied = [], []
    for key, change in items:
        rollup = stored[key]
        rollup.merge(change)
        if rollup.runs > 0:
            kept.append(_row(key, rollup))
        else:
            emptied.append(key)
    if kept:
        write = _insert(conn, table).values(kept)
        conn.execute(
            write.on_conflict_do_update(
                index_elements=[table.c[k] for k in _KEY],
                set_={n: write.excluded[n] for n in _SUMS},
            )
        )
    if emptied:
        conn.execute(sa.delete(table).where(sa.tuple_(*(table.c[k] for k in _KEY)).in_(emptied)))


def runs_delta(
    rows: Sequence[tuple[str, datetime, str, float | None]], sign: int = 1
) -> RollupDelta:
    """The change of counting (``sign`` 1) or uncounting (-1) runs given as (task_name,
    scheduled_for, status, duration)."""
    delta = RollupDelta()
    for task_name, scheduled_for, status, duration in rows:
        delta.add(task_name, scheduled_for, status, duration, sign)
    return delta


def backfill(conn: Connection, runs: sa.Table, rollups: sa.Table) -> None:
    """Roll up every finished run stored (the rollups table is empty)."""
    stmt = sa.select(runs.c.task_name, runs.c.scheduled_for, runs.c.status, runs.c.duration).where(
        runs.c.status.in_(sorted(s.value for s in FINISHED_STATUSES))
    )
    delta = RollupDelta()
    # Streamed: a large history is never held in memory at once.
    for task_name, scheduled_for, status, duration in conn.execute(
        stmt.execution_options(yield_per=10_000)
    ):
        delta.add(task_name, scheduled_for, status, duration)
    rows = [_row(key, rollup) for key, rollup in delta.sorted_items()]
    for start in range(0, len(rows), _KEYS_PER_STATEMENT):
        conn.execute(rollups.insert(), rows[start : start + _KEYS_PER_STATEMENT])
