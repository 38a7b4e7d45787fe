"""Store errors that waiting does not cure, told apart from outages.

A missing grant or a table dropped or changed under the node fails every attempt the
same way. Taken for an outage, it filled the log with "retrying in 8 s" at warning level
while ``/ready`` said ready (an audit revoked one table from the node's role: no schedule
fired, and nothing said why). :class:`~schedkit.errors.StoreRefusedError` carries what
to do instead; callers still try again, slowly, as an administrator may fix it while the
node runs.

A store that answers reads but refuses writes (a full disk) is no refusal: it is waited
out as an outage (:class:`~schedkit.errors.StoreUnwritableError`), but told by the loops
that write, as the store's ping passes.
"""

from __future__ import annotations

import sqlite3

from schedkit.errors import StoreRefusedError, StoreUnwritableError

#: PostgreSQL's insufficient_privilege (also "must be owner of ..." for DDL).
PG_PRIVILEGE = "42501"
#: PostgreSQL's undefined_table and undefined_column.
PG_UNDEFINED = frozenset({"42P01", "42703"})
#: MongoDB's Unauthorized.
MONGO_UNAUTHORIZED = 13
#: PostgreSQL's disk_full (class 53 is otherwise an outage: too many connections...).
PG_DISK_FULL = "53100"
# SQLite's primary codes (extended codes keep theirs in their low byte), and the I/O
# errors of reading, which leave nothing to read either: an outage.
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13
_SQLITE_READ_ERRORS = frozenset({266, 522})  # SQLITE_IOERR_READ, SQLITE_IOERR_SHORT_READ
_RESUME = "writes resume by themselves once it is fixed"

UPGRADE_AS_OWNER = "run `schedkit db upgrade` with the URL of the tables' owner"
_SCHEMA_CHANGED = (
    "the tables are not those of this release's schema (one was dropped or altered "
    f"under the node, or the store is of another version): {UPGRADE_AS_OWNER}, or restore "
    "the table"
)


def sql_refusal(
    cause: BaseException | None, sqlstate: str | None, store: str, user: str | None, reason: str
) -> StoreRefusedError | None:
    """The refusal a SQL driver's error ``cause`` (with its ``sqlstate``, PostgreSQL)
    stands for, or None for any other error; ``user``: the URL's database user."""
    said = f"store {store} refused: {reason}"
    if sqlstate == PG_PRIVILEGE:
        if "must be owner" in reason:
            return StoreRefusedError(f"{said}; this needs the tables' owner: {UPGRADE_AS_OWNER}")
        who = f"role {user}" if user else "the URL's role"
        return StoreRefusedError(
            f"{said}; {who} lacks a privilege on schedkit's tables: as their owner, grant "
            "it SELECT, INSERT, UPDATE, DELETE on them (`schedkit check` names each table "
            "and the GRANT to run)"
        )
    if sqlstate in PG_UNDEFINED:
        return StoreRefusedError(f"{said}; {_SCHEMA_CHANGED}")
    if isinstance(cause, sqlite3.Error) and str(cause).startswith(
        ("no such table", "no such column")
    ):
        return StoreRefusedError(f"{said}; {_SCHEMA_CHANGED}")
    return None


def sql_unwritable(
    cause: BaseException | None, sqlstate: str | None, store: str, reason: str
) -> StoreUnwritableError | None:
    """The refusal of writes by a store that still answers reads that a SQL driver's
    error ``cause`` stands for (a full disk, a file that cannot be written), or None.
    Taken for an outage, it left every node ready while nothing fired (an audit filled
    the SQLite file's disk: the ping, a read, still passed)."""
    said = f"store {store} refuses writes: {reason}"
    if sqlstate == PG_DISK_FULL:
        return StoreUnwritableError(f"{said}; free space on the server's disk ({_RESUME})")
    code = getattr(cause, "sqlite_errorcode", None)
    if not isinstance(cause, sqlite3.Error) or code is None:
        return None
    if code & 0xFF == _SQLITE_FULL:
        return StoreUnwritableError(
            f"{said}; free space on the file system holding the SQLite file ({_RESUME})"
        )
    if code & 0xFF == _SQLITE_READONLY:
        return StoreUnwritableError(
            f"{said}; the SQLite file or its directory is not writable by this process's "
            "user: make both writable (SQLite writes its journal beside the file)"
        )
    if code & 0xFF == _SQLITE_IOERR and code not in _SQLITE_READ_ERRORS:
        return StoreUnwritableError(
            f"{said}; writing the SQLite file, its WAL or its -shm failed: free space on "
            "their file system if it is full, else make them writable again (not "
            f"immutable, the file system mounted read-write, its disk sound; {_RESUME})"
        )
    return None


def mongo_refusal(code: int | None, store: str, reason: str) -> StoreRefusedError | None:
    """The refusal a MongoDB server error of ``code`` stands for, or None."""
    if code == MONGO_UNAUTHORIZED:
        return StoreRefusedError(
            f"store {store} refused: {reason}; the database user lacks a privilege on "
            "schedkit's collections: grant it the readWrite role on the database "
            "(`schedkit check` probes each collection)"
        )
    return None
