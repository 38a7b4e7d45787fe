"""Column types of the SQL store (SQLite and PostgreSQL): aware UTC datetimes, enums as
their values, label sets, JSON. Kept apart from :mod:`schedkit.store.sql.schema` (the
tables and their migrations) so each reads in one place."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

#: How JSON values are written: compact, and UTF-8 rather than \u escapes (smaller, and
#: readable in the database's own tools). One encoder made once: ``json.dumps`` with
#: options builds a new one per call.
json_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given where an aware one is required")


def to_epoch_us(value: datetime) -> int:
    """An aware datetime as SQLite stores it: integer microseconds since the epoch."""
    _require_aware(value)
    return (value - _EPOCH) // _MICROSECOND


def from_epoch_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes, microseconds exact, naive values rejected (invariant 7).

    PostgreSQL: ``TIMESTAMP WITH TIME ZONE``. SQLite has no time type, and its default
    text format loses the offset and sorts wrongly across formats, so there the value is
    an INTEGER of microseconds since the Unix epoch: exact, compact (8 bytes), and
    ordered, which keeps range queries and index scans plain integer comparisons.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_epoch_us(value)
        _require_aware(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_epoch_us(value)
        result: datetime = value.astimezone(UTC)
        return result


_E = TypeVar("_E", bound=enum.Enum)


class StrEnumType(sa.TypeDecorator[_E]):
    """An enum stored as its string value (readable in SQL, no database enum type to
    migrate when a member is added)."""

    impl = sa.String(16)
    cache_ok = True

    def __init__(self, enum_cls: type[_E]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: _E | str | None, dialect: Dialect) -> Any:
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> _E | None:
        return None if value is None else self.enum_cls(value)


class LabelsType(sa.TypeDecorator[tuple[str, ...]]):
    """A run's required labels as one string (``_common.labels_key``): an equality test
    per offered subset filters claims on every backend alike. A string bound as is is
    already a key (the claim filter binds keys)."""

    impl = sa.String()
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | str | None, dialect: Dialect) -> Any:
        if value is None or isinstance(value, str):
            return value
        return ",".join(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[str, ...]:
        return tuple(value.split(",")) if value else ()


# ``none_as_null``: Python None is SQL NULL, not the JSON text 'null', so "IS NULL" means
# what it says. JSONB on PostgreSQL: binary, indexable, compact.
JSON_TYPE = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
