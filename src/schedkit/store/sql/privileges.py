"""What this database user may not do on the store's tables (``schedkit check``).

A role granted on "all tables" misses the tables a later schema version adds, unless
default privileges were altered (version 6 added the rollups table): its nodes then fail
at every tick, so a check says so before a start, with the GRANT to run.

A schema the role has no USAGE on looks absent (``current_schema()`` is NULL, and
``information_schema`` hides it): after a ``pg_restore --no-privileges`` a check said the
store was "not created yet" over 500 runs, and a node's start said to CREATE the schema.
:func:`unusable_schema` asks ``pg_namespace`` and ``pg_class`` directly, which need no
USAGE.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.errors import StoreRefusedError
from schedkit.store.sql.pgconnect import quote_identifier

#: What a node's role needs on every table (no DDL: ``schedkit db upgrade`` runs as the
#: tables' owner).
NEEDED = ("SELECT", "INSERT", "UPDATE", "DELETE")

_MISSING = sa.text(
    "SELECT quote_ident(t.name) AS name, p.priv, quote_ident(current_user) AS role "
    "FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS t(name, n) "
    "CROSS JOIN unnest(CAST(:privs AS text[])) WITH ORDINALITY AS p(priv, m) "
    "WHERE to_regclass(quote_ident(t.name)) IS NOT NULL "
    "AND NOT has_table_privilege(to_regclass(quote_ident(t.name)), p.priv) "
    "ORDER BY t.n, p.m"
)


def postgres_missing(conn: Connection, tables: Sequence[str]) -> list[str]:
    """One sentence per table lacking a privilege of :data:`NEEDED`, with its GRANT."""
    missing: dict[str, list[str]] = {}
    role = ""
    for row in conn.execute(_MISSING, {"names": list(tables), "privs": list(NEEDED)}):
        missing.setdefault(row.name, []).append(row.priv)
        role = row.role
    return [
        f"table {name}: role {role} lacks {', '.join(privs)}; as the table's owner run "
        f"GRANT {', '.join(privs)} ON {name} TO {role};"
        for name, privs in missing.items()
    ]


_LACKING = " OR ".join(f"NOT has_table_privilege(c.oid, '{p}')" for p in NEEDED)
_SCHEMA = sa.text(
    "SELECT has_schema_privilege(n.oid, 'USAGE') AS usable, "
    "quote_ident(current_user) AS role, count(c.oid) AS tables, "
    f"count(c.oid) FILTER (WHERE {_LACKING}) AS lacking "
    "FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid "
    "AND c.relkind IN ('r', 'p') AND starts_with(c.relname, :prefix) "
    "WHERE n.nspname = :schema GROUP BY n.oid"
)


def unusable_schema(
    conn: Connection, schema: str, prefix: str, store: str
) -> StoreRefusedError | None:
    """The refusal for a ``schema`` that exists but this role has no USAGE on, naming
    the GRANTs to run (USAGE, and the tables' if any of the store's lacks one); None
    when there is no such schema."""
    found = conn.execute(_SCHEMA, {"schema": schema, "prefix": prefix}).one_or_none()
    if found is None or found.usable:
        return None
    name = quote_identifier(schema)
    said = (
        f"store {store} refused: role {found.role} has no USAGE on schema {name}, which "
        "exists (a pg_restore with --no-privileges or --no-owner leaves the grants out): "
        f"as its owner run GRANT USAGE ON SCHEMA {name} TO {found.role};"
    )
    if found.lacking:
        privs = ", ".join(NEEDED)
        said += (
            f" {found.lacking} of its {found.tables} schedkit tables lack privileges too: "
            f"GRANT {privs} ON ALL TABLES IN SCHEMA {name} TO {found.role};"
        )
    return StoreRefusedError(said)


def sqlite_missing(database: str | None) -> list[str]:
    """Whether this process's user may write the SQLite file and its directory (SQLite
    writes its journal beside the file)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return []
    path = Path(database)
    problems = []
    if path.exists() and not os.access(path, os.W_OK):
        problems.append(f"file {path} is not writable by this user")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        problems.append(f"directory {path.parent} is not writable by this user (the journal)")
    return problems
