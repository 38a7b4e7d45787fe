"""The SQLite store's connections: how each one is set up, and the one file they must
all be of (see :class:`SQLiteFile`)."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import Connection

from schedkit.errors import StoreFileReplacedError
from schedkit.store.sql.rows import driver

log = logging.getLogger("schedkit.store.sql")

#: The execution option of the engine that writes (see :func:`on_begin`).
WRITE_OPTION = "schedkit_write"


class SQLiteFile:
    """The database file a SQLite store opened, and whether its path still names it.

    Removed under running nodes (or replaced: a backup moved over it), the file lived on
    for the connections open on it: the leader went on firing into a file no other
    process would see, answering ready, while a new connection created an empty file at
    the path, and a node started there fired too (every fire ran twice). So the file's
    device and inode are kept once the first connection has opened it, and compared with
    what the path names at each new connection, each urgent write (heartbeats, the lease:
    every few seconds), each ping and each error; new connections open it with SQLite's
    ``mode=rw``, which never creates a file. Once it differs, every call fails (a
    :class:`~schedkit.errors.StoreFileReplacedError`). A copy written into the file in
    place (``cp`` onto it) keeps its inode, and is not told: docs/stores.md#backup-and-restore.
    """

    def __init__(self, path: str, store: str) -> None:
        self.path = os.path.abspath(path)
        self._store = store
        self._identity: tuple[int, int] | None = None
        #: Why the file counts as lost; set once, for good.
        self._lost: str | None = None
        self._lock = threading.Lock()

    def opened(self) -> None:
        """The first connection has opened (or created) the file: it is the one."""
        found = os.stat(self.path)
        self._identity = (found.st_dev, found.st_ino)

    def refuse_if_lost(self) -> None:
        """Raise StoreFileReplacedError if the file was found lost (no look at the path)."""
        if self._lost is not None:
            raise StoreFileReplacedError(self._lost)

    def check(self) -> None:
        """Raise StoreFileReplacedError unless the path still names the file opened."""
        if self._lost is None and self._identity is not None:
            self._look(self._identity)
        self.refuse_if_lost()

    def before_connect(self, _dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
        """(The engine's ``do_connect`` event.) A connection made once the file is open
        must be of that file, and must not create one where it was removed."""
        if self._identity is None:
            return
        self.check()
        cargs[:] = [f"file:{quote(self.path)}?mode=rw"]
        cparams["uri"] = True

    def _look(self, identity: tuple[int, int]) -> None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            there = "no file is there now"
        except OSError:
            return  # the path cannot be looked at (a permission): no sign of a change
        else:
            if (found.st_dev, found.st_ino) == identity:
                return
            there = "another file is there now"
        with self._lock:
            if self._lost is not None:
                return
            self._lost = (
                f"store {self._store}: its file {self.path} was removed or replaced since "
                f"this process opened it ({there}); this process's connections still use "
                "the old file, which no other process sees: it no longer takes the "
                "scheduler lease, fires or claims runs. Stop every node of this store, put "
                "the right file in place (docs/stores.md#backup-and-restore) and start "
                "them again"
            )
            log.error("%s", self._lost)


def connect_hook(busy_timeout: float) -> Callable[[Any, Any], None]:
    """The engine's ``connect`` event: every connection's settings."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself: on_begin does, so that writes
        # can say IMMEDIATE (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer nor it them. synchronous=NORMAL: no fsync
        # per commit; a power cut may lose the last commits but never corrupts. No
        # foreign keys are declared (see schema.py). No "PRAGMA optimize" (nor ANALYZE):
        # on a new connection before SQLite 3.46 it does nothing (it analyzes only tables
        # this connection has queried; measured no-op on 3.40), and where it runs it
        # plans by statistics of whatever the history held then. The queries are written
        # so that their index is the planner's choice without statistics (tests/store
        # checks it).
        _wal(cursor, busy_timeout)
        for pragma in ("synchronous=NORMAL", "foreign_keys=OFF"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return on_connect


def _wal(cursor: sqlite3.Cursor, busy_timeout: float) -> None:
    """Turn the file to WAL (a no-op once it is). Turning it needs the file unlocked, and
    SQLite answers "database is locked" at once there rather than waiting out the busy
    timeout: nodes started together on a new file failed to start. So wait here."""
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            busy = error.sqlite_errorcode == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def on_begin(conn: Connection) -> None:
    """The engine's ``begin`` event. Reads need no transaction (one statement each, a
    consistent snapshot in WAL mode); writes take the write lock up front (see
    :mod:`schedkit.store.sql.engine`)."""
    if conn.get_execution_options().get(WRITE_OPTION):
        # On the driver's connection: SQLAlchemy's statement machinery around this one
        # statement was a seventh of the writer thread's Python time at 1,000 fires a
        # second (py-spy, samples holding the interpreter lock).
        driver(conn).execute("BEGIN IMMEDIATE")
