"""Statements given straight to the ``sqlite3`` driver: the SQLite store's hot path.

The statements a firing scheduler and a busy executor repeat (insert the runs of a tick,
finish a batch of runs, advance schedules, read versions, release queued runs) spent
most of their time in SQLAlchemy: its per-row parameter processing and its per-statement
execution machinery (measured: about 1 ms of CPU per one-run tick, and 85 µs per run in
ticks of 100). Here they run on the driver connection under the SQLAlchemy one, inside
the same transaction.
This module renders those few statements once and encodes values exactly as the column
types of :mod:`schedkit.store._sql_schema` would on SQLite, so rows written here and
rows written through SQLAlchemy are the same bytes (the store's contract tests read
both back through SQLAlchemy). PostgreSQL keeps the SQLAlchemy path.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.store._sql_engine import json_dumps
from schedkit.store._sql_schema import StrEnumType, UTCDateTime, from_epoch_us, to_epoch_us

Encoder = Callable[[Any], Any]
_T = TypeVar("_T")

#: SQLite's default limit on host parameters in one statement is 32,766.
_MAX_PARAMETERS = 32_000


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: datetime | None) -> int | None:
    return None if value is None else to_epoch_us(value)


def _enum(enum_cls: type[Enum]) -> Encoder:
    def encode(value: Enum | str | None) -> Any:
        return None if value is None else enum_cls(value).value

    return encode


def _json(value: Any) -> str | None:
    return None if value is None else json_dumps(value)


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _decoder(column: sa.Column[Any]) -> Encoder | None:
    """How a stored value of ``column`` becomes the model's value (None: as stored)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return lambda value: None if value is None else from_epoch_us(value)
    if isinstance(kind, sa.JSON):
        return lambda value: None if value is None else json.loads(value)
    if isinstance(kind, sa.Boolean):
        return lambda value: None if value is None else bool(value)
    if isinstance(kind, StrEnumType):
        enum_cls = kind.enum_cls
        return lambda value: None if value is None else enum_cls(value)
    return None


def _encoder(column: sa.Column[Any]) -> Encoder:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _timestamp
    if isinstance(kind, sa.JSON):
        return _json
    if isinstance(kind, sa.Boolean):
        return _bool
    if isinstance(kind, StrEnumType):
        return _enum(kind.enum_cls)
    return _identity


def driver(conn: Connection) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a SQLAlchemy one, inside the same transaction.

    Its errors are ``sqlite3`` exceptions, not SQLAlchemy's: the SQLite runner
    translates both.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


class DriverTable:
    """One table's columns, their encoders, and its hot statements in SQLite's SQL."""

    def __init__(self, table: sa.Table) -> None:
        self.name = table.name
        self.columns = tuple(column.name for column in table.columns)
        self._encoders = {column.name: _encoder(column) for column in table.columns}
        # A row is read off the object in one C call, then only the columns whose type
        # converts are touched (half of the runs table's).
        self._get = operator.attrgetter(*self.columns)
        self._converted = [
            (index, self._encoders[name])
            for index, name in enumerate(self.columns)
            if self._encoders[name] is not _identity
        ]
        self._insert_sql: dict[tuple[int, str], str] = {}
        self._decoders = [
            (index, decode)
            for index, decode in enumerate(_decoder(column) for column in table.columns)
            if decode is not None
        ]
        self._select_all = f'SELECT {", ".join(self.columns)} FROM "{self.name}"'

    def row(self, obj: object) -> list[Any]:
        """All columns of a value object whose fields are named after them, in table
        order, encoded for the driver."""
        values = list(self._get(obj))
        for index, encode in self._converted:
            values[index] = encode(values[index])
        return values

    def select_objects(
        self, conn: Connection, where: str, params: Sequence[Any], factory: Callable[..., _T]
    ) -> list[_T]:
        """Whole rows matching ``where`` (SQL after WHERE, with ``?`` parameters), each
        decoded as the column types would and given to ``factory`` as keywords."""
        found: list[_T] = []
        for row in driver(conn).execute(f"{self._select_all} WHERE {where}", tuple(params)):
            values = list(row)
            for index, decode in self._decoders:
                values[index] = decode(values[index])
            found.append(factory(**dict(zip(self.columns, values, strict=True))))
        return found

    def encode(self, name: str, value: Any) -> Any:
        return self._encoders[name](value)

    def insert_returning(
        self, conn: Connection, rows: Sequence[Sequence[Any]], key: str
    ) -> list[Any]:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING ``key``, many rows per statement;
        the ``key`` of each row inserted."""
        per_statement = max(1, _MAX_PARAMETERS // len(self.columns))
        returned: list[Any] = []
        for start in range(0, len(rows), per_statement):
            page = rows[start : start + per_statement]
            sql = self._insert_sql.get((len(page), key)) or self._render_insert(len(page), key)
            params = tuple(value for row in page for value in row)
            returned += [key_value for (key_value,) in driver(conn).execute(sql, params)]
        return returned

    def _render_insert(self, rows: int, key: str) -> str:
        one = "(" + ", ".join("?" * len(self.columns)) + ")"
        sql = (
            f'INSERT INTO "{self.name}" ({", ".join(self.columns)}) '
            f"VALUES {', '.join([one] * rows)} ON CONFLICT DO NOTHING RETURNING {key}"
        )
        if len(self._insert_sql) < 64:  # batch sizes vary; keep the common ones
            self._insert_sql[(rows, key)] = sql
        return sql

    def select_in(
        self, conn: Connection, columns: Sequence[str], key: str, values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """SELECT ``columns`` WHERE ``key`` IN ``values`` (raw column values)."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _MAX_PARAMETERS):
            chunk = tuple(values[start : start + _MAX_PARAMETERS])
            sql = (
                f'SELECT {", ".join(columns)} FROM "{self.name}" '
                f"WHERE {key} IN ({', '.join('?' * len(chunk))})"
            )
            rows += driver(conn).execute(sql, chunk).fetchall()
        return rows

    def update_in(self, conn: Connection, assignments: str, key: str, values: Sequence[Any]) -> int:
        """UPDATE SET ``assignments`` (SQL, no parameters) WHERE ``key`` IN ``values``."""
        changed = 0
        for start in range(0, len(values), _MAX_PARAMETERS):
            chunk = tuple(values[start : start + _MAX_PARAMETERS])
            sql = (
                f'UPDATE "{self.name}" SET {assignments} '
                f"WHERE {key} IN ({', '.join('?' * len(chunk))})"
            )
            changed += driver(conn).execute(sql, chunk).rowcount
        return changed

    def execute_many(self, conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """``executemany`` of one of this table's statements; the rows it changed."""
        return int(driver(conn).executemany(sql, rows).rowcount)

    def update_sql(self, assigned: Sequence[str], where: Sequence[str]) -> str:
        """UPDATE setting ``assigned`` where each of ``where`` equals its parameter, for
        ``executemany`` with parameters in that order."""
        sets = ", ".join(f"{name} = ?" for name in assigned)
        conditions = " AND ".join(f"{name} = ?" for name in where)
        return f'UPDATE "{self.name}" SET {sets} WHERE {conditions}'
