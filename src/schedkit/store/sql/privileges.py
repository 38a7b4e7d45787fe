"""What this database user may not do on the store's tables (``schedkit check``).

A role granted on "all tables" misses the tables a later schema version adds, unless
default privileges were altered (version 6 added the rollups table): its nodes then fail
at every tick, so a check says so before a start, with the GRANT to run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
