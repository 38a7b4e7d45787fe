"""How schedkit connects to PostgreSQL: one set of asyncpg ``connect()`` arguments, built
from the store URL and options, for the pool and for a node's ``LISTEN`` connection
alike. An audit found the listen connection built from host, port, user, password and
database only: ``?ssl=disable`` was left out there (asyncpg's default ``prefer`` then:
no certificate check), and so were the timeouts.

URL query parameters are asyncpg's keyword arguments; one it does not take is a
ConfigError naming it (``?options=-csearch_path=app`` was a bare TypeError)."""

from __future__ import annotations

import inspect
from typing import Any

from sqlalchemy.engine import URL

from schedkit.errors import ConfigError
from schedkit.store.sql.options import MAX_IDENTIFIER

#: Query parameters for SQLAlchemy's asyncpg dialect, not for asyncpg: the pool only.
DIALECT_ONLY = frozenset({"prepared_statement_cache_size"})
#: asyncpg's arguments the URL itself gives, or schedkit sets (server_settings), or that
#: are Python objects.
_NOT_FROM_QUERY = frozenset(
    {"dsn", "user", "password", "database", "loop", "connection_class", "record_class"}
    | {"server_settings"}
)
_FLOATS = frozenset({"timeout", "command_timeout", "max_cached_statement_lifetime"})
#: What users write for a schema (libpq, JDBC).
_SCHEMA_TRIES = frozenset({"options", "search_path", "currentSchema", "schema"})
_INTS = frozenset({"statement_cache_size", "max_cacheable_statement_size"})


def accepted_parameters() -> frozenset[str]:
    """The query parameters a PostgreSQL store URL may carry."""
    import asyncpg  # type: ignore[import-untyped]

    names = set(inspect.signature(asyncpg.connect).parameters) - _NOT_FROM_QUERY
    return frozenset(names | DIALECT_ONLY)


def application_name(name: str) -> str:
    """``name`` cut to what the server keeps (63 bytes, like an identifier)."""
    return name.encode()[:MAX_IDENTIFIER].decode(errors="ignore")


def connect_args(
    url: URL,
    *,
    display_url: str,
    name: str,
    schema: str | None,
    connect_timeout: float,
    command_timeout: float,
) -> dict[str, Any]:
    """asyncpg ``connect()``'s keyword arguments for a connection named ``name``
    (``application_name``, what ``pg_stat_activity`` shows), in ``schema`` (its
    ``search_path``) if given. The URL's ``timeout`` and ``command_timeout`` win over
    the store options'."""
    query = dict(url.query)
    accepted = accepted_parameters()
    for key in sorted(query):
        if key not in accepted:
            hint = "; for a schema, use the store option schema" if key in _SCHEMA_TRIES else ""
            raise ConfigError(
                f"store URL {display_url!r}: query parameter {key!r} is not accepted "
                f"(asyncpg does not take it{hint}); accepted: {', '.join(sorted(accepted))}"
            )
    args: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "timeout": connect_timeout,
        "command_timeout": command_timeout,
    }
    for key, value in query.items():
        if key in DIALECT_ONLY:
            continue
        args[key] = _value(key, value, display_url)
    settings = {"application_name": application_name(name)}
    if schema is not None:
        settings["search_path"] = quote_identifier(schema)
    args["server_settings"] = settings
    return args


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value(key: str, value: str | tuple[str, ...], display_url: str) -> Any:
    if isinstance(value, tuple):
        if key in ("host", "port"):  # several hosts: asyncpg tries them in turn
            return list(value)
        raise ConfigError(f"store URL {display_url!r}: query parameter {key!r} given twice")
    try:
        if key in _FLOATS:
            return float(value)
        if key in _INTS or key == "port":
            return int(value)
    except ValueError:
        raise ConfigError(
            f"store URL {display_url!r}: query parameter {key}={value!r} is not a number"
        ) from None
    if key == "direct_tls":
        return value.lower() in ("1", "true", "yes", "on")
    return value
