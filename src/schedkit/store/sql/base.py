"""What every part of the SQL store shares: its tables, its runner, the way one unit of
work is run, and the small statement helpers. The store's methods live in the modules
named after their concern (schedules, runs, transitions, leases, admin, stats) as mixins
over :class:`SQLBase`; :class:`schedkit.store.sql.SQLStore` puts them together."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from schedkit.store._upgrade import UpgradeCheck
from schedkit.store.base import Store
from schedkit.store.sql.engine import create_runner
from schedkit.store.sql.migrations import latest_version
from schedkit.store.sql.options import SQLOptions
from schedkit.store.sql.rollups import apply_delta, runs_delta
from schedkit.store.sql.schema import build_tables

log = logging.getLogger("schedkit.store.sql")

#: Longest id list in one IN (...): far below SQLite's and asyncpg's parameter limits.
MAX_IN_LIST = 10_000

# Field names per value-object class: dataclasses.fields() is slow on the hot path.
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def values_of(obj: Any) -> dict[str, Any]:
    """A value object as column values (the columns are named after the fields)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in dataclasses.fields(obj))
    return {name: getattr(obj, name) for name in names}


def chunks(ids: list[str]) -> list[list[str]]:
    return [ids[start : start + MAX_IN_LIST] for start in range(0, len(ids), MAX_IN_LIST)]


class SQLBase(Store):
    """The shared state of the SQL store (see :class:`schedkit.store.sql.SQLStore`)."""

    def __init__(self, url: str, **options: Any) -> None:
        opts = SQLOptions.parse(options)
        self._t = build_tables(opts.table_prefix)
        self._db = create_runner(url, opts)
        self._sqlite = self._db.is_sqlite
        #: Whether the last claim found runs (SQLite: then the next one skips its probe).
        self._claim_found = False
        #: PostgreSQL: whether a full claim checked the runs table has planner statistics.
        self._statistics_checked = False
        self.display_url = self._db.display_url
        self._open = False

    @property
    def sync_engine(self) -> sa.Engine:
        """The SQLAlchemy engine, to attach events to (instrumentation, tests)."""
        return self._db.sync_engine

    # -- lifecycle -------------------------------------------------------------------

    async def open(self, *, create: bool = True, upgrade: UpgradeCheck | bool = True) -> None:
        if self._open:
            return
        self.found_version, version = await self._db.start(self._t, create=create, upgrade=upgrade)
        self.code_version = latest_version()
        self._open = True
        log.info("store %s open at schema version %d", self.display_url, version)

    async def close(self) -> None:
        self._open = False
        await self._db.close()

    async def ping(self) -> None:
        await self._db.ping()

    async def server_time(self) -> datetime | None:
        if self._sqlite:
            return None
        # clock_timestamp(), not now(): now() is when the transaction began.
        stmt = sa.select(sa.func.clock_timestamp())
        value: datetime = await self._db.read(lambda conn: conn.execute(stmt).scalar_one())
        return value.astimezone(UTC)

    async def schema_version(self) -> int:
        stmt = sa.select(sa.func.max(self._t.schema_version.c.version))
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    # -- helpers ---------------------------------------------------------------------------

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT, which has ON CONFLICT (same API on both)."""
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    async def _upsert(
        self, table: sa.Table, values: dict[str, Any], key: str, *, urgent: bool = False
    ) -> None:
        stmt = self._insert(table).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={name: stmt.excluded[name] for name in values if name != key},
        )
        await self._rowcount(stmt, urgent=urgent)

    async def _fetch(
        self, stmt: sa.Executable, *, write: bool = False, urgent: bool = False
    ) -> list[sa.Row[Any]]:
        """All rows of one statement (a write with ``write``: RETURNING; see
        :meth:`Runner.write_one`).
        ``urgent``: see :meth:`Runner.write`."""

        def work(conn: Connection) -> list[sa.Row[Any]]:
            return list(conn.execute(stmt))

        return await (self._db.write_one(work, urgent=urgent) if write else self._db.read(work))

    async def _rowcount(
        self,
        stmt: sa.Executable,
        params: Mapping[str, Any] | None = None,
        *,
        urgent: bool = False,
    ) -> int:
        """Run one write statement in its own transaction; its row count. ``params``: the
        values as execute parameters, for a statement written on every change (values
        given to ``.values()`` are coerced one by one on every call)."""
        return await self._db.write_one(
            lambda conn: conn.execute(stmt, params).rowcount, urgent=urgent
        )

    def _roll(
        self,
        conn: Connection,
        runs: Sequence[tuple[str, datetime, str, float | None]],
        *,
        sign: int = 1,
    ) -> None:
        """Count (``sign`` 1) or uncount (-1) runs given as (task_name, scheduled_for,
        status, duration) in the rollups, in the caller's transaction; runs not finished
        are no rollup's."""
        delta = runs_delta(runs, sign)
        if delta:
            apply_delta(conn, self._t.run_rollups, delta)

    def _json_append(self, column: sa.ColumnElement[Any], item: Any) -> sa.ColumnElement[Any]:
        """``column`` (a JSON array) with ``item`` (a JSON value or a bound parameter)
        appended, computed in the database so the append is part of the conditional
        UPDATE (no read-modify-write race)."""
        if self._sqlite:
            return sa.func.json_insert(column, "$[#]", sa.func.json(item))
        appended = sa.func.jsonb_build_array(item)
        return column.op("||", return_type=postgresql.JSONB)(appended)
