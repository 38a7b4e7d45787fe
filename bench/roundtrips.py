"""Store round trips of this process, counted for the benchmark only.

Installed by the harness in each child before the workload runs (never by schedkit
itself, so production pays nothing but one ``None`` check per SQLite unit of work):

* SQL through SQLAlchemy: every statement (``before_cursor_execute``, an executemany
  counts once), every ``COMMIT``; on PostgreSQL also ``BEGIN`` and ``ROLLBACK`` (each a
  message the server answers) and each ping of a pooled connection (three messages on
  asyncpg).
  Class-level listeners, so every engine of the process is counted: schedkit's and
  APScheduler's SQLAlchemyJobStore alike.
* SQL sent straight through the ``sqlite3`` driver (schedkit's SQLite hot path, which
  SQLAlchemy never sees): ``schedkit.store.sql.rows.on_driver_statement``, one call per
  ``execute`` / ``executemany``.
* MongoDB: a ``pymongo.monitoring.CommandListener`` registered for every client the
  process creates afterwards: each command sent (``find``, ``getMore``, ``insert``,
  ``update`` ...) is one round trip, counted by command and collection. Server
  monitoring (``hello`` heartbeats on their own connections) is not a command event and
  is not counted.

On SQLite nothing leaves the process: a "round trip" there is one call into SQLite.
On PostgreSQL and MongoDB it is one request the server answers, which is what a
remote server multiplies by its network latency.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_installed = False


def _add(kind: str) -> None:
    with _lock:
        _counts[kind] += 1


def install() -> None:
    """Start counting (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    _install_sql()
    _install_mongo()


def installed() -> bool:
    """Whether this process counts (``python -m bench --no-count`` leaves it out)."""
    return _installed


def snapshot() -> Counter[str]:
    """The counts so far, by kind (``sql:SELECT``, ``mongo:find:<collection>`` ...)."""
    with _lock:
        return Counter(_counts)


def total(counts: Counter[str] | None = None) -> int:
    return sum((counts if counts is not None else snapshot()).values())


def delta(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    """What was counted between two snapshots, most first."""
    diff = after - before
    return dict(diff.most_common())


def per_run(before: Counter[str], after: Counter[str], runs: int) -> dict[str, Any]:
    """The report's figures for ``runs`` runs between two snapshots (None where this
    process does not count)."""
    if not _installed:
        return {"round_trips": None, "round_trips_per_run": None, "round_trips_by_kind": {}}
    counted = delta(before, after)
    n = sum(counted.values())
    return {
        "round_trips": n,
        "round_trips_per_run": round(n / runs, 2) if runs else None,
        "round_trips_by_kind": counted,
    }


def _count_pings() -> None:
    """Pings of pooled connections (pool_pre_ping, or schedkit's ping of an idle
    PostgreSQL connection) are sent by the dialect's ``do_ping``, past the statement
    events. asyncpg's is three messages (BEGIN, an empty query, ROLLBACK)."""
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
    from sqlalchemy.engine.default import DefaultDialect

    for dialect, messages in ((DefaultDialect, 1), (PGDialect_asyncpg, 3)):
        ping = dialect.do_ping

        def counted(self: Any, dbapi_connection: Any, _ping: Any = ping, _n: int = messages) -> Any:
            for _ in range(_n):
                _add("sql:ping")
            return _ping(self, dbapi_connection)

        dialect.do_ping = counted  # type: ignore[method-assign]


def _install_sql() -> None:
    import sqlalchemy as sa
    from sqlalchemy import event

    from schedkit.store.sql import rows

    def statement(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        _add(f"sql:{sql.lstrip().split(None, 1)[0].upper() if sql.strip() else '?'}")

    def autocommit(conn: Any) -> bool:
        # SQLAlchemy fires begin/commit/rollback on an autocommit connection too; the
        # driver sends nothing then (schedkit's PostgreSQL reads and one-statement writes).
        return bool(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")

    def on_commit(conn: Any) -> None:
        if not autocommit(conn):
            _add("sql:COMMIT")

    def on_begin(conn: Any) -> None:
        # SQLite's BEGIN is a statement of its own.
        if conn.dialect.name != "sqlite" and not autocommit(conn):
            _add("sql:BEGIN")

    def on_rollback(conn: Any) -> None:
        # A no-op outside a transaction on SQLite.
        if conn.dialect.name != "sqlite" and not autocommit(conn):
            _add("sql:ROLLBACK")

    event.listen(sa.Engine, "before_cursor_execute", statement)
    event.listen(sa.Engine, "commit", on_commit)
    event.listen(sa.Engine, "begin", on_begin)
    event.listen(sa.Engine, "rollback", on_rollback)
    _count_pings()

    def driver_statement(sql: str, _params: Any) -> None:
        _add(f"sql:{sql.lstrip().split(None, 1)[0].upper() if sql.strip() else '?'}")

    rows.on_driver_statement = driver_statement


def _install_mongo() -> None:
    from pymongo import monitoring

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            # By collection too (``mongo:find:task_execution_logs``): which documents a
            # store call reads or writes is what tells its round trips apart.
            name = event.command_name
            target = event.command.get(name)
            if name == "getMore":
                target = event.command.get("collection")
            _add(f"mongo:{name}:{target}" if isinstance(target, str) else f"mongo:{name}")

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    monitoring.register(Listener())
