"""The SQL store's hot queries, each written once in SQLAlchemy Core for both databases.

What the scheduler and the executor repeat (a tick's reads and writes, claims, finishes,
the reaper's steps) is defined here once, with named parameters. How it runs differs:

* **SQLite**: compiled once, when the store opens, to SQLite's SQL and parameter order,
  then executed straight through the ``sqlite3`` driver with values encoded as the
  column types would (:mod:`schedkit.store.sql.rows`): SQLAlchemy's per-statement
  machinery cost as much as the statement itself.
* **PostgreSQL**: the same Core statement, executed through SQLAlchemy (asyncpg), which
  caches its compiled form. A batch update (one template applied to many rows) becomes
  one ``UPDATE ... FROM unnest(arrays)`` derived from the same template, so a batch is
  one round trip (asyncpg reports no row counts for executemany).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.util import await_only

from schedkit.errors import StoreError
from schedkit.store.sql.columns import JSON_TYPE, json_dumps
from schedkit.store.sql.rows import Codec, decoder, driver, encoder, identity

#: SQLite's default limit on host parameters in one statement is 32,766.
_MAX_PARAMETERS = 32_000
_SQLITE = sqlite.dialect()
_POSTGRES = postgresql.dialect()  # type: ignore[no-untyped-call]


class Query:
    """One statement with named parameters (``sa.bindparam``), run on either database.

    Parameters named ``expanding`` take a list (``IN``). Literal values in the
    statement are bound by SQLAlchemy and sent as compiled.
    """

    def __init__(self, stmt: sa.Select[Any] | sa.UpdateBase, *, on_sqlite: bool) -> None:
        self.stmt = stmt
        self._sqlite = on_sqlite
        if not on_sqlite:
            return
        compiled = stmt.compile(dialect=_SQLITE)
        self._sql = compiled.string
        names = list(compiled.positiontup or ())
        self._names = names
        self._encoders: list[Codec] = [encoder(compiled.binds[n].type) for n in names]
        self._literals: dict[str, Any] = dict(compiled.params)
        self._expanding = {n for n in names if compiled.binds[n].expanding}
        columns = _result_columns(stmt)
        decoders = [(i, decoder(c.type)) for i, c in enumerate(columns)]
        # Rows of plain columns (numbers, text, blobs) are returned as the driver gives them.
        self._decoders = [(i, decode) for i, decode in decoders if decode is not identity]

    # -- SQLite --------------------------------------------------------------------------

    def _render(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        sql = self._sql
        values: list[Any] = []
        for name, encode in zip(self._names, self._encoders, strict=True):
            value = params[name] if name in params else self._literals.get(name)
            if name in self._expanding:
                items = list(value or ())
                marks = ", ".join("?" * len(items)) if items else "NULL"
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", marks, 1)
                values += [encode(item) for item in items]
            else:
                values.append(encode(value))
        return sql, values

    def _decode(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self._decoders:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for index, decode in self._decoders:
                values[index] = decode(values[index])
            out.append(tuple(values))
        return out

    # -- either database -------------------------------------------------------------------

    def all(
        self, conn: Connection, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Every row the statement returns (SELECT or RETURNING), values decoded."""
        if self._sqlite:
            sql, values = self._render(params or {})
            return self._decode(driver(conn).execute(sql, values).fetchall())
        return [tuple(row) for row in conn.execute(self.stmt, dict(params or {}))]

    def rowcount(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a write; the number of rows it changed."""
        if self._sqlite:
            sql, values = self._render(params or {})
            return int(driver(conn).execute(sql, values).rowcount)
        return int(conn.execute(self.stmt, dict(params or {})).rowcount)


class BatchUpdate:
    """One UPDATE template (``WHERE`` and ``SET`` over named parameters, no expanding
    ones) applied to many parameter rows in one statement, each target row joined once
    (the rows of a batch must name distinct targets: ``key``).

    The template's parameters are replaced by the columns of a derived table ``given``
    of the rows: on PostgreSQL ``unnest`` over one array per parameter; on SQLite a
    ``WITH given(...) AS (VALUES ...)`` of one placeholder row per row (a page of rows
    per statement, under the parameter limit). Run once per row on SQLite, a finish
    batch of 50 cost 34.5 µs of CPU per run against 30.3 µs (its steps, and the
    parameters' rendering in Python per row).
    """

    def __init__(
        self,
        template: sa.Update,
        params: Mapping[str, sa.types.TypeEngine[Any]],
        key: sa.Column[Any],
        *,
        on_sqlite: bool,
        returning: Sequence[sa.Column[Any]] = (),
    ) -> None:
        self._sqlite = on_sqlite
        self._names = tuple(params)
        self._key = key
        if on_sqlite:
            given: Any = sa.table("given", *(sa.column(n) for n in params))
            columns: dict[str, Any] = {n: given.c[n] for n in params}
            self._encoders = [encoder(kind) for kind in params.values()]
            self._with = f"WITH given({', '.join(params)}) AS (VALUES "
            self._row_marks = "(" + ", ".join("?" * len(params)) + ")"
        else:
            # JSON goes as text and is cast back per row: asyncpg has no jsonb[] codec
            # that SQLAlchemy feeds.
            self._json = {n for n, kind in params.items() if kind is JSON_TYPE}
            arrays = [
                sa.bindparam(
                    f"{n}__array",
                    type_=postgresql.ARRAY(sa.String if n in self._json else kind),
                )
                for n, kind in params.items()
            ]
            given = (
                sa.func.unnest(*arrays)
                .table_valued(*(sa.column(n) for n in params))
                .render_derived(name="given")
            )
            columns = {
                n: sa.cast(given.c[n], postgresql.JSONB) if n in self._json else given.c[n]
                for n in params
            }

        def replace(element: Any, **_: Any) -> Any:
            if isinstance(element, BindParameter) and element.key in columns:
                return columns[element.key]
            return None

        batch = visitors.replacement_traverse(template, {}, replace)
        assert isinstance(batch, sa.Update)
        self._batch = batch.returning(key, *returning)
        if on_sqlite:
            self._query = Query(self._batch, on_sqlite=True)
            # The statement after the WITH, and its literals' values: the same per call.
            self._sql, self._literals = self._query._render({})

    def applied(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Apply every row; per row, whether it changed its target."""
        if not rows:
            return []
        changed = self.changed(conn, rows)
        return [row[self._key.name] in changed for row in rows]

    def changed(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> dict[Any, tuple[Any, ...]]:
        """Apply every row; per target changed (by key), the values of the
        ``returning`` columns, read by the same statement."""
        if self._sqlite:
            return self._changed_on_sqlite(conn, rows)
        params = {f"{n}__array": [self._value(n, row[n]) for row in rows] for n in self._names}
        return {key: tuple(rest) for key, *rest in conn.execute(self._batch, params)}

    def _changed_on_sqlite(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> dict[Any, tuple[Any, ...]]:
        sql, literals = self._sql, self._literals
        coded = list(zip(self._names, self._encoders, strict=True))
        page = max(1, (_MAX_PARAMETERS - len(literals)) // len(coded))
        changed: dict[Any, tuple[Any, ...]] = {}
        for start in range(0, len(rows), page):
            chunk = rows[start : start + page]
            values = [encode(row[name]) for row in chunk for name, encode in coded]
            text = f"{self._with}{', '.join([self._row_marks] * len(chunk))}) {sql}"
            found = driver(conn).execute(text, values + literals).fetchall()
            changed.update((key, tuple(rest)) for key, *rest in self._query._decode(found))
        return changed

    def _value(self, name: str, value: Any) -> Any:
        if name in self._json and value is not None:
            return json_dumps(value)
        return value


class InsertIfAbsent:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <key>`` of many whole rows.

    SQLite: one multi-row VALUES statement per page of as many rows as the parameter
    limit allows. The one-row statement is compiled by SQLAlchemy once; a page's text
    repeats its row of placeholders (compiling a many-row statement through SQLAlchemy
    took longer than inserting the rows, on every new page size).
    PostgreSQL: SQLAlchemy's executemany with RETURNING (it sends multi-row pages).
    """

    def __init__(self, table: sa.Table, key: sa.Column[Any], *, on_sqlite: bool) -> None:
        self._key = key
        self._sqlite = on_sqlite
        self._columns = [c.name for c in table.columns]
        self._encoders = [encoder(c.type) for c in table.columns]
        self._page = max(1, _MAX_PARAMETERS // len(self._columns))
        if not on_sqlite:
            # No conflict target: a duplicate fencing key and a re-sent id (a batch
            # retried after a lost commit acknowledgement) are both skipped.
            self._stmt = postgresql.insert(table).on_conflict_do_nothing().returning(key)
            return
        one = sqlite.insert(table).values({n: sa.bindparam(n) for n in self._columns})
        compiled = one.on_conflict_do_nothing().returning(key).compile(dialect=_SQLITE)
        # The values are sent row by row, column by column: the compiled order must be so.
        assert list(compiled.positiontup or ()) == self._columns
        head, rest = compiled.string.split(" VALUES ", 1)
        row_end = rest.index(")") + 1
        self._head, self._row, self._tail = f"{head} VALUES ", rest[:row_end], rest[row_end:]

    def insert(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[Any]:
        """Insert ``rows`` (column → value); the keys of the rows inserted."""
        if not rows:
            return set()
        if not self._sqlite:
            return set(conn.execute(self._stmt, [dict(row) for row in rows]).scalars())
        raw = driver(conn)
        inserted: set[Any] = set()
        for start in range(0, len(rows), self._page):
            page = rows[start : start + self._page]
            values = [
                encode(row[name])
                for row in page
                for name, encode in zip(self._columns, self._encoders, strict=True)
            ]
            inserted.update(key for (key,) in raw.execute(self._sqlite_sql(len(page)), values))
        return inserted

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one store holds a few of these
    def _sqlite_sql(self, size: int) -> str:
        return self._head + ", ".join([self._row] * size) + self._tail


class BulkInsert:
    """A plain ``INSERT`` of many whole rows in the caller's transaction: a duplicate
    key fails the whole batch (:class:`DuplicateKey` on PostgreSQL), it is not skipped.

    SQLite: one compiled single-row statement through the driver's ``executemany`` (a
    loop in C; a multi-row VALUES statement of thousands of rows costs SQLAlchemy more
    to compile than SQLite to run). PostgreSQL: ``COPY`` through asyncpg's
    ``copy_records_to_table`` (binary; an ``INSERT`` executemany sent the rows at about
    a third of the rate).
    """

    def __init__(self, table: sa.Table, *, on_sqlite: bool) -> None:
        self._table = table
        self._sqlite = on_sqlite
        self._columns = [c.name for c in table.columns]
        if on_sqlite:
            self._encoders = [encoder(c.type) for c in table.columns]
            marks: dict[str, Any] = {name: sa.bindparam(f"p_{name}") for name in self._columns}
            compiled = sqlite.insert(table).values(marks).compile(dialect=_SQLITE)
            # The values are sent column by column: the compiled order must be so.
            assert list(compiled.positiontup or ()) == [f"p_{n}" for n in self._columns]
            self._sql = compiled.string
        else:
            self._encoders = [_pg_encoder(c.type) for c in table.columns]

    def insert(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        pairs = list(zip(self._columns, self._encoders, strict=True))
        if self._sqlite:
            driver(conn).executemany(
                self._sql, ([encode(row[name]) for name, encode in pairs] for row in rows)
            )
            return
        import asyncpg  # type: ignore[import-untyped]  # present whenever this store runs on it

        records = [tuple(encode(row[name]) for name, encode in pairs) for row in rows]
        raw: Any = conn.connection.driver_connection
        try:
            # Inside run_sync: await_only runs the driver's coroutine in this transaction.
            await_only(
                raw.copy_records_to_table(self._table.name, records=records, columns=self._columns)
            )
        except asyncpg.UniqueViolationError as error:
            found = re.search(r"\(id\)=\((.*)\)", error.detail or "")
            raise DuplicateKey(found.group(1) if found else None) from None
        except asyncpg.PostgresError as error:
            raise StoreError(f"bulk insert into {self._table.name} failed: {error}") from None


class DuplicateKey(Exception):
    """A bulk insert met a key that exists (``key``: the one PostgreSQL names)."""

    def __init__(self, key: str | None) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _pg_encoder(kind: sa.types.TypeEngine[Any]) -> Codec:
    """How a value goes to asyncpg's binary COPY: as the column type binds it (JSON as
    its text, which is what SQLAlchemy's jsonb codec on the connection takes)."""
    if isinstance(kind, sa.JSON):
        return lambda value: None if value is None else json_dumps(value)
    if isinstance(kind, sa.TypeDecorator):
        bind = kind.process_bind_param
        return lambda value: bind(value, _POSTGRES)
    return lambda value: value


def _result_columns(stmt: sa.Executable) -> Sequence[sa.ColumnElement[Any]]:
    if isinstance(stmt, sa.Select):
        return list(stmt.selected_columns)
    if isinstance(stmt, sa.Insert | sa.Update | sa.Delete):
        return list(stmt.exported_columns)
    return []
