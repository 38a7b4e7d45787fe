"""Values as the ``sqlite3`` driver takes and gives them, for the SQLite store's hot path.

The statements a firing scheduler and a busy executor repeat spent most of their time in
SQLAlchemy's per-row parameter processing and per-statement execution machinery
(measured: about 1 ms of CPU per one-run tick, and 85 µs per run in ticks of 100). On
SQLite they are therefore compiled once (:mod:`schedkit.store.sql.queries`) and run on
the driver connection under the SQLAlchemy one, inside the same transaction. This
module encodes and decodes their values exactly as the column types of
:mod:`schedkit.store.sql.schema` do on SQLite, so rows written either way are the same
bytes (the contract tests read both back through SQLAlchemy).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.store.sql.columns import (
    LabelsType,
    StrEnumType,
    UTCDateTime,
    from_epoch_us,
    json_dumps,
    to_epoch_us,
)

Codec = Callable[[Any], Any]


def identity(value: Any) -> Any:
    return value


#: The text ``json_dumps`` gives an empty dict and list, and back: a run's kwargs and
#: attempt errors are empty in almost every row written and read, and these pass by
#: the JSON encoder and parser (a fresh container each on the way back).
_EMPTY_TEXT: dict[type, str] = {dict: "{}", list: "[]"}
_EMPTY_JSON: dict[str, Callable[[], Any]] = {text: kind for kind, text in _EMPTY_TEXT.items()}


def _timestamp(value: datetime | None) -> int | None:
    return None if value is None else to_epoch_us(value)


def _enum(enum_cls: type[Enum]) -> Codec:
    # Keyed by value, found by member too (a StrEnum member equals its value).
    values = {member.value: member.value for member in enum_cls}

    def encode(value: Enum | str | None) -> Any:
        if value is None:
            return None
        known = values.get(value)
        return known if known is not None else enum_cls(value).value  # unknown: ValueError

    return encode


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if not value and type(value) in _EMPTY_TEXT:
        return _EMPTY_TEXT[type(value)]
    return json_dumps(value)


def _labels(value: tuple[str, ...] | str) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def encoder(kind: sa.types.TypeEngine[Any]) -> Codec:
    """How a value bound to a parameter of type ``kind`` goes to the driver."""
    if isinstance(kind, UTCDateTime):
        return _timestamp
    if isinstance(kind, sa.JSON):
        return _json
    if isinstance(kind, sa.Boolean):
        return _bool
    if isinstance(kind, StrEnumType):
        return _enum(kind.enum_cls)
    if isinstance(kind, LabelsType):
        return _labels
    return identity


def _json_value(value: str | None) -> Any:
    if value is None:
        return None
    empty = _EMPTY_JSON.get(value)
    return empty() if empty is not None else json.loads(value)


def _enum_decoder(enum_cls: type[Enum]) -> Codec:
    # A dict lookup first: calling the enum class runs its metaclass's lookup in Python.
    members = {member.value: member for member in enum_cls}

    def decode(value: str | None) -> Enum | None:
        if value is None:
            return None
        member = members.get(value)
        return member if member is not None else enum_cls(value)  # unknown: its ValueError

    return decode


def decoder(kind: sa.types.TypeEngine[Any]) -> Codec:
    """How a stored value of type ``kind`` becomes the model's value."""
    if isinstance(kind, UTCDateTime):
        return lambda value: None if value is None else from_epoch_us(value)
    if isinstance(kind, sa.JSON):
        return _json_value
    if isinstance(kind, sa.Boolean):
        return lambda value: None if value is None else bool(value)
    if isinstance(kind, StrEnumType):
        return _enum_decoder(kind.enum_cls)
    if isinstance(kind, LabelsType):
        return lambda value: tuple(value.split(",")) if value else ()
    return identity


#: Instrumentation hook, None in production: when set, it is called with the SQL and
#: the parameters (a tuple; for ``executemany`` a list of them) of each statement sent
#: straight through the ``sqlite3`` driver, which SQLAlchemy's
#: ``before_cursor_execute`` event never sees. The benchmark sets it to count store
#: round trips (``bench/roundtrips.py``); tests read the plans of the statements.
on_driver_statement: Callable[[str, Any], None] | None = None


def driver(conn: Connection) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a SQLAlchemy one, inside the same transaction.

    Its errors are ``sqlite3`` exceptions, not SQLAlchemy's: the SQLite runner
    translates both.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    hook = on_driver_statement
    if hook is None:
        return raw
    return cast(sqlite3.Connection, _Announced(raw, hook))


class _Announced:
    """A ``sqlite3`` connection whose statements are announced to a hook first."""

    def __init__(self, raw: sqlite3.Connection, hook: Callable[[str, Any], None]) -> None:
        self._raw = raw
        self._hook = hook

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._hook(sql, tuple(args[0]) if args else ())
        return self._raw.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        rows = list(args[0]) if args else []
        self._hook(sql, rows)
        return self._raw.executemany(sql, rows)
