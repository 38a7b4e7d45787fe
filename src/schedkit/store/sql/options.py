"""The SQL store's options (``create_store(url, **options)``), checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schedkit.errors import ConfigError

#: PostgreSQL's limit on an identifier (a schema name).
MAX_IDENTIFIER = 63


@dataclass(frozen=True, slots=True, kw_only=True)
class SQLOptions:
    """The SQL store's options (``create_store(url, **options)``)."""

    #: Keeps schedkit's tables apart from a host application's in a shared database.
    table_prefix: str = "schedkit_"
    #: Connections for concurrent reads (SQLite: reader threads; the writer has its own).
    pool_size: int | None = None
    #: SQLite: seconds a writer waits for another process's write lock before failing.
    busy_timeout: float = 30.0
    #: PostgreSQL: seconds connecting may take before the store counts as unavailable.
    connect_timeout: float = 10.0
    #: PostgreSQL: seconds a statement may take before the store counts as unavailable.
    #: A connection cut silently (a firewall dropping packets) otherwise hangs a
    #: statement until TCP gives up, many minutes later, without a word.
    command_timeout: float = 60.0
    #: Log every SQL statement (SQLAlchemy's ``echo``).
    echo: bool = False
    #: PostgreSQL: the schema holding the tables (the connections' ``search_path``);
    #: None: the connection's default schema.
    schema: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> SQLOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown SQL store option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        parsed = cls(**options)
        if not isinstance(parsed.table_prefix, str):
            raise ConfigError(f"table_prefix must be a string, not {parsed.table_prefix!r}")
        schema = parsed.schema
        if schema is not None and (
            not isinstance(schema, str) or not 0 < len(schema.encode()) <= MAX_IDENTIFIER
        ):
            raise ConfigError(
                f"schema must be a schema name of 1 to {MAX_IDENTIFIER} bytes, not {schema!r}"
            )
        size = parsed.pool_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"pool_size must be a positive integer, not {size!r}")
        for name in ("busy_timeout", "connect_timeout", "command_timeout"):
            value = getattr(parsed, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
        return parsed
