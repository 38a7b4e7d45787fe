"""The run rollups in the SQL store (``store._rollups``): applying a write's changes in
its transaction. (Filling the table from the runs already stored is the schema step's.)

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

from schedkit.store._rollups import Rollup, RollupDelta, RollupKey, add_encoded, encode_histogram
from schedkit.store.sql.columns import to_epoch_us
from schedkit.store.sql.rows import driver

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
