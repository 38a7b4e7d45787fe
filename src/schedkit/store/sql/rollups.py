"""The run rollups in the SQL store (``store._rollups``): applying a write's changes in
its transaction, and filling the table from the runs stored (:func:`fill`: the schema
step that added it, and ``rebuild_rollups``).

A histogram is a blob, merged here, not in SQL: each change locks the rows it touches
first (an ``INSERT ... ON CONFLICT DO UPDATE`` that changes nothing and returns the row
as stored: a new row is inserted empty, an existing one row-locked on PostgreSQL; SQLite
holds its write lock already), then writes the sums. Keys are locked in one order, so
concurrent writers on PostgreSQL wait for each other but never deadlock.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from schedkit.models import RunStatus
from schedkit.store._rollups import (
    HOUR,
    Rollup,
    RollupDelta,
    RollupKey,
    add_encoded,
    encode_histogram,
)
from schedkit.store.sql.columns import to_epoch_us
from schedkit.store.sql.rows import driver

#: Runs read per query when the rollups are filled from the runs.
_FILL_PAGE = 10_000
_SUMS = ("runs", "timed", "duration_sum", "histogram")
#: Keys per statement (PostgreSQL's arrays; SQLite goes key by key).
_KEYS_PER_STATEMENT = 1000
_PK = "period, period_start, task_name, status"
_MATCH = " AND ".join(f"r.{c} = u.{c}" for c in ("period", "period_start", "task_name", "status"))


def apply_delta(conn: Connection, table: sa.Table, delta: RollupDelta) -> None:
    """Add ``delta`` to the rollups, in the caller's transaction (on the finish path:
    plain SQL on the driver for SQLite, one array statement per step on PostgreSQL;
    SQLAlchemy compiled a multi-row upsert anew each time, at 10 ms a batch)."""
    items = delta.sorted_items()
    if conn.dialect.name == "sqlite":
        _apply_sqlite(driver(conn), table.name, items)
        return
    for start in range(0, len(items), _KEYS_PER_STATEMENT):
        _apply_postgres(
            conn, _pg_statements(table.name), items[start : start + _KEYS_PER_STATEMENT]
        )


def _merged(
    items: Sequence[tuple[RollupKey, Rollup]], stored: dict[RollupKey, Rollup]
) -> tuple[list[tuple[RollupKey, Rollup]], list[RollupKey]]:
    """The rows to write (stored plus change) and the keys left with no run."""
    kept, emptied = [], []
    for key, change in items:
        rollup = stored.get(key) or Rollup()
        rollup.merge(change)
        if rollup.runs > 0:
            kept.append((key, rollup))
        else:
            emptied.append(key)
    return kept, emptied


def _stored(runs: int, timed: int, total: float, blob: bytes | None) -> Rollup:
    rollup = Rollup(runs=runs, timed=timed, duration_sum=total)
    add_encoded(rollup.histogram, blob)
    return rollup


def _apply_sqlite(
    raw: sqlite3.Connection, name: str, items: Sequence[tuple[RollupKey, Rollup]]
) -> None:
    """SQLite: the transaction holds the write lock, so read, merge, write back."""
    where = "period = ? AND period_start = ? AND task_name = ? AND status = ?"
    select = f"SELECT runs, timed, duration_sum, histogram FROM {name} WHERE {where}"
    stored: dict[RollupKey, Rollup] = {}
    for key, _ in items:
        task_name, status, period, start = key
        row = raw.execute(select, (period, to_epoch_us(start), task_name, status)).fetchone()
        if row is not None:
            stored[key] = _stored(*row)
    kept, emptied = _merged(items, stored)
    if kept:
        upsert = (
            f"INSERT INTO {name} ({_PK}, runs, timed, duration_sum, histogram) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT ({_PK}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _SUMS)
        )
        raw.executemany(
            upsert,
            [
                (period, to_epoch_us(start), task_name, status, r.runs, r.timed,
                 r.duration_sum, encode_histogram(r.compacted()))
                for (task_name, status, period, start), r in kept
            ],
        )  # fmt: skip
    if emptied:
        raw.executemany(
            f"DELETE FROM {name} WHERE {where}",
            [(period, to_epoch_us(start), task, status) for task, status, period, start in emptied],
        )


@dataclass(frozen=True, slots=True)
class _PgStatements:
    lock: sa.TextClause
    write: sa.TextClause
    delete: sa.TextClause


_KEY_ARRAYS: dict[str, sa.types.TypeEngine[Any]] = {
    "periods": postgresql.ARRAY(sa.Integer),
    "starts": postgresql.ARRAY(sa.DateTime(timezone=True)),
    "tasks": postgresql.ARRAY(sa.String),
    "statuses": postgresql.ARRAY(sa.String),
}
_SUM_ARRAYS: dict[str, sa.types.TypeEngine[Any]] = {
    "runs": postgresql.ARRAY(sa.BigInteger),
    "timed": postgresql.ARRAY(sa.BigInteger),
    "sums": postgresql.ARRAY(sa.Float),
    "histograms": postgresql.ARRAY(sa.LargeBinary),
}


@functools.cache
def _pg_statements(name: str) -> _PgStatements:
    """PostgreSQL: each step one statement over arrays of the keys (in key order).

    The lock is an upsert that changes nothing and returns the rows as stored: a new key
    is inserted empty, an existing row is row-locked, so concurrent writers of one row
    take turns instead of losing each other's counts."""
    keys = "unnest(:periods, :starts, :tasks, :statuses) WITH ORDINALITY"
    key_columns = "u(period, period_start, task_name, status, n)"
    lock = sa.text(
        f"INSERT INTO {name} AS r ({_PK}, runs, timed, duration_sum, histogram) "
        f"SELECT u.period, u.period_start, u.task_name, u.status, 0, 0, 0, ''::bytea "
        f"FROM {keys} AS {key_columns} ORDER BY u.n "
        f"ON CONFLICT ({_PK}) DO UPDATE SET runs = r.runs "
        f"RETURNING r.period, r.period_start, r.task_name, r.status, "
        f"r.runs, r.timed, r.duration_sum, r.histogram"
    ).bindparams(*(sa.bindparam(n, type_=t) for n, t in _KEY_ARRAYS.items()))
    write = sa.text(
        f"UPDATE {name} AS r SET runs = u.runs, timed = u.timed, "
        f"duration_sum = u.duration_sum, histogram = u.histogram "
        f"FROM unnest(:periods, :starts, :tasks, :statuses, :runs, :timed, :sums, :histograms) "
        f"AS u(period, period_start, task_name, status, runs, timed, duration_sum, histogram) "
        f"WHERE {_MATCH}"
    ).bindparams(*(sa.bindparam(n, type_=t) for n, t in {**_KEY_ARRAYS, **_SUM_ARRAYS}.items()))
    delete = sa.text(
        f"DELETE FROM {name} AS r USING {keys} AS {key_columns} WHERE {_MATCH}"
    ).bindparams(*(sa.bindparam(n, type_=t) for n, t in _KEY_ARRAYS.items()))
    return _PgStatements(lock=lock, write=write, delete=delete)


def _key_arrays(keys: Sequence[RollupKey]) -> dict[str, list[Any]]:
    return {
        "periods": [k[2] for k in keys],
        "starts": [k[3] for k in keys],
        "tasks": [k[0] for k in keys],
        "statuses": [k[1] for k in keys],
    }


def _apply_postgres(
    conn: Connection, sql: _PgStatements, items: Sequence[tuple[RollupKey, Rollup]]
) -> None:
    stored = {
        (task_name, status, period, start): _stored(runs, timed, total, blob)
        for period, start, task_name, status, runs, timed, total, blob in conn.execute(
            sql.lock, _key_arrays([key for key, _ in items])
        )
    }
    kept, emptied = _merged(items, stored)
    if kept:
        params = _key_arrays([key for key, _ in kept])
        params |= {
            "runs": [r.runs for _, r in kept],
            "timed": [r.timed for _, r in kept],
            "sums": [r.duration_sum for _, r in kept],
            "histograms": [encode_histogram(r.compacted()) for _, r in kept],
        }
        conn.execute(sql.write, params)
    if emptied:
        conn.execute(sql.delete, _key_arrays(emptied))


def runs_delta(
    rows: Sequence[tuple[str, datetime, str, float | None]], sign: int = 1
) -> RollupDelta:
    """The change of counting (``sign`` 1) or uncounting (-1) runs given as (task_name,
    scheduled_for, status, duration)."""
    delta = RollupDelta()
    for task_name, scheduled_for, status, duration in rows:
        delta.add(task_name, scheduled_for, status, duration, sign)
    return delta


@dataclass(frozen=True, slots=True)
class Filled:
    """What :func:`fill` wrote: tasks, (task, hour) rollups and finished runs counted."""

    tasks: int
    hours: int
    runs: int


def fill(conn: Connection, runs: sa.Table, rollups: sa.Table) -> Filled:
    """Insert into the (empty) ``rollups`` the rollups of every finished run in
    ``runs``, in the caller's transaction. Reads only columns every schema version has
    (the schema step that added rollups calls it too)."""
    finished = sorted(s.value for s in RunStatus if s.finished)
    stmt = (
        sa.select(runs.c.id, runs.c.task_name, runs.c.scheduled_for, runs.c.status, runs.c.duration)
        .where(runs.c.status.in_(finished))
        .order_by(runs.c.id)
        .limit(_FILL_PAGE)
    )
    delta = RollupDelta()
    # Read in pages by id: a large history is never held in memory at once, and no
    # server-side cursor is left open in the transaction (on PostgreSQL a later step's
    # ALTER TABLE of the runs is refused while one is).
    last: str | None = None
    while True:
        page = conn.execute(stmt if last is None else stmt.where(runs.c.id > last)).all()
        for _, task_name, scheduled_for, status, duration in page:
            delta.add(task_name, scheduled_for, status, duration)
        if len(page) < _FILL_PAGE:
            break
        last = page[-1].id
    items = delta.sorted_items()
    rows = [
        {
            "task_name": task_name,
            "status": status,
            "period": period,
            "period_start": start,
            "runs": r.runs,
            "timed": r.timed,
            "duration_sum": r.duration_sum,
            "histogram": encode_histogram(r.compacted()),
        }
        for (task_name, status, period, start), r in items
    ]
    for start in range(0, len(rows), 1000):
        conn.execute(rollups.insert(), rows[start : start + 1000])
    hours = [(key, r) for key, r in items if key[2] == HOUR]
    return Filled(
        tasks=len({key[0] for key, _ in hours}),
        hours=len({(key[0], key[3]) for key, _ in hours}),
        runs=sum(r.runs for _, r in hours),
    )


def rebuild(conn: Connection, runs: sa.Table, rollups: sa.Table) -> tuple[int, Filled]:
    """Replace the rollups by those of the finished runs, in the caller's write
    transaction; returns the finished runs the rollups counted before, and what
    :func:`fill` wrote.

    Serialised against every write that changes the rollups, so none is lost or
    counted twice. SQLite: the write transaction (``BEGIN IMMEDIATE``) holds the
    database's write lock. PostgreSQL: the writers change rollup rows (``apply_delta``:
    ``INSERT ... ON CONFLICT``, ``UPDATE``, ``DELETE``, each taking ROW EXCLUSIVE on the
    table) in the transaction that changes their runs, and SHARE ROW EXCLUSIVE conflicts
    with that (and with itself: two rebuilds take turns) but not with reads. Once it is
    granted, a writer that had touched the rollups has committed, so its runs are read
    here; a writer that has not yet touched them waits for this commit with its runs
    uncommitted (unread here: READ COMMITTED), then adds its change to the rows written
    here."""
    if conn.dialect.name == "postgresql":
        name = conn.dialect.identifier_preparer.format_table(rollups)
        conn.exec_driver_sql(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE")
    counted = sa.select(sa.func.coalesce(sa.func.sum(rollups.c.runs), 0)).where(
        rollups.c.period == HOUR
    )
    before = int(conn.execute(counted).scalar_one())
    conn.execute(sa.delete(rollups))
    return before, fill(conn, runs, rollups)
