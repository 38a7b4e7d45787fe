"""Connections of the SQL store: options, URLs, and one *runner* per database family that
runs a unit of work (a plain function of a SQLAlchemy ``Connection``) as a read or as a
write transaction, turning database errors into schedkit's.

Units of work are synchronous functions so that one body serves both databases:

* PostgreSQL: an async engine (asyncpg); the function runs through
  ``AsyncConnection.run_sync``, i.e. on the event loop, each statement awaited.
* SQLite: a sync engine (the stdlib ``sqlite3`` driver) and the *whole* function runs
  in a worker thread: one thread hop per store call. aiosqlite hops to its thread for
  every cursor call (about ten per transaction): on this project's 2-core machine (busy
  with other work at the time) the same primary-key read ran at ~700/s through it and at
  ~6,600/s this way; and it kept SQLAlchemy's CPU work on the event loop, where it
  delays the scheduler's timers.

Write transactions on SQLite start with ``BEGIN IMMEDIATE``: the database has one write
lock, and a transaction that reads first and then asks for it can fail with SQLITE_BUSY
however long the busy timeout (two such readers each wait for the other). Taking the
lock up front makes writers queue instead, across processes too. This process's writers
also queue for one writer thread rather than polling in SQLite's busy handler; *urgent*
writes (heartbeats, leases: the proofs of life other nodes judge this one by) go ahead
of the queue, so that they wait for the transaction in progress at most, never for a
backlog of claims or ticks. Reads run without a transaction (each statement reads its
own snapshot) and, in WAL mode, never wait for writers.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from schedkit.errors import (
    ConfigError,
    StoreClosedError,
    StoreError,
    StoreFileReplacedError,
    StoreNotFoundError,
    StoreUnavailableError,
    StoreUnwritableError,
)
from schedkit.logcapture import node_here
from schedkit.store._upgrade import UpgradeCheck, upgrade_check
from schedkit.store.refusals import sql_refusal, sql_unwritable
from schedkit.store.sql.columns import json_dumps
from schedkit.store.sql.migrations import migrate
from schedkit.store.sql.options import SQLOptions
from schedkit.store.sql.pgconnect import DIALECT_ONLY, connect_args, quote_identifier
from schedkit.store.sql.privileges import unusable_schema
from schedkit.store.sql.schema import Tables
from schedkit.store.sql.sqlite_file import WRITE_OPTION, SQLiteFile, connect_hook, on_begin
from schedkit.store.sql.writer import Work, Writer
from schedkit.store.urls import mask_url

log = logging.getLogger("schedkit.store.sql")

_T = TypeVar("_T")

# PostgreSQL SQLSTATEs after which the whole transaction can simply be run again.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_MAX_TX_ATTEMPTS = 5
# SQLSTATE classes meaning "the server is not there for us right now": connection
# exception, insufficient resources, operator intervention (shutdown, starting up).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")
#: PostgreSQL: a pooled connection idle longer than this (seconds) is pinged before it is
#: handed out (see PostgresRunner._create).
PING_IDLE_AFTER = 1.0
#: Seconds between two errors logged for a store refusing writes (see Runner._write_failed).
UNWRITABLE_SAID_EVERY = 60.0
_IDLE_SINCE = "schedkit_idle_since"


def create_runner(url: str, options: SQLOptions) -> Runner:
    """The runner for a ``sqlite:///PATH`` or ``postgresql://...`` URL."""
    display_url = mask_url(url)
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise ConfigError(f"malformed store URL {display_url!r}") from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise ConfigError(
            f"malformed store URL {display_url!r}: the port is not a number"
        ) from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigError(f"store URL {display_url!r}: port {parsed.port} is not in 1-65535")
    if "@" in (parsed.host or ""):
        # The password ends at its first "@": the rest was read as the host name, and
        # connecting said only "Name or service not known".
        raise ConfigError(
            f"store URL {display_url!r}: a password holding '@' must be percent-encoded "
            "(%40, urllib.parse.quote)"
        )
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite", "aiosqlite"):
            raise ConfigError(f"store URL {display_url!r}: unknown SQLite driver {driver!r}")
        if not parsed.database or parsed.database == ":memory:":
            # Each pooled connection would get its own empty in-memory database.
            # sqlite://x.db (two slashes) puts the file name in the host part.
            host = parsed.host
            how = (
                f"{host!r} was read as a host name: write sqlite:///{host} (relative) "
                f"or sqlite:////absolute/path/{host}"
                if host
                else "write sqlite:///relative/path.db or sqlite:////absolute/path.db (an "
                "in-memory database is not shared by the store's connections; for a "
                "throwaway store, name a temporary file)"
            )
            raise ConfigError(f"store URL {display_url!r} names no database file: {how}")
        if options.schema is not None:
            raise ConfigError(f"store URL {display_url!r}: the schema option is PostgreSQL's")
        return SQLiteRunner(parsed.set(drivername="sqlite+pysqlite"), display_url, options)
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg"):
            raise ConfigError(f"store URL {display_url!r}: PostgreSQL is used through asyncpg")
        runner = PostgresRunner(parsed.set(drivername="postgresql+asyncpg"), display_url, options)
        try:
            runner.connect_args("schedkit")  # refuses a query parameter asyncpg does not take
        except ModuleNotFoundError as missing:
            # Without asyncpg the parameters cannot be checked: create_store says which
            # extra to install (the store's open would fail on the import anyway).
            if missing.name != "asyncpg":
                raise
        return runner
    raise ConfigError(f"store URL {display_url!r} is not a sqlite:// or postgresql:// URL")


class Runner(abc.ABC):
    """Runs units of work against one database; created closed, see :meth:`start`."""

    def __init__(self, url: URL, display_url: str, options: SQLOptions) -> None:
        self.url = url
        self.display_url = display_url
        self.options = options
        #: When a refusal of writes (a full disk) may be logged again; whether one logged
        #: awaits the line saying writes work again.
        self._say_unwritable_at = 0.0
        self._unwritable_said = False

    @property
    @abc.abstractmethod
    def is_sqlite(self) -> bool: ...

    @property
    @abc.abstractmethod
    def sync_engine(self) -> sa.Engine:
        """The engine to attach SQLAlchemy events to (instrumentation, tests)."""

    @abc.abstractmethod
    async def read(self, work: Work[_T]) -> _T:
        """Run ``work`` for reading (no write lock; it must not write)."""

    @abc.abstractmethod
    async def write(self, work: Work[_T], *, urgent: bool = False) -> _T:
        """Run ``work`` in one write transaction, committed when it returns. An
        ``urgent`` write (a heartbeat, a lease) goes ahead of writes still queued in
        this process."""

    async def ping(self) -> None:
        """Return if the store answers a read now (readiness)."""
        await self.read(lambda conn: conn.execute(sa.select(1)).scalar_one())

    async def write_one(self, work: Work[_T], *, urgent: bool = False) -> _T:
        """Run ``work``, which sends **one** statement (a claim's ``UPDATE ...
        RETURNING``, a heartbeat), as a write: atomic by itself, so on PostgreSQL it runs
        outside a transaction, without the ``BEGIN`` and ``COMMIT`` round trips (two of
        a claim's three). ``urgent``: see :meth:`write`."""
        return await self.write(work, urgent=urgent)

    @abc.abstractmethod
    def _create(self) -> None:
        """Create the engine (and threads); nothing is connected yet."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Wait for running work, then release every connection. Safe to call twice."""

    async def start(
        self, tables: Tables, *, create: bool = True, upgrade: UpgradeCheck | bool = True
    ) -> tuple[int, int]:
        """Connect, then create (unless not ``create``) or upgrade (unless not
        ``upgrade``; an UpgradeCheck: how the check of live nodes goes) the schema;
        returns the version it was at (0: created) and the version it is at."""
        self._create()
        try:
            try:
                await self.read(self._connected)
            except (StoreUnavailableError, StoreNotFoundError):
                raise
            except StoreError as error:  # e.g. a wrong password: still "cannot reach"
                raise StoreUnavailableError(str(error)) from error
            check = upgrade_check(upgrade)
            if create or check is not None:
                return await self.write(functools.partial(self._migrate, tables, create, check))
            # Nothing to write: no write lock nor transaction, which a read-only database
            # user, a PostgreSQL standby or a read-only SQLite file would refuse.
            opened = functools.partial(
                migrate, tables=tables, create=False, store=self.display_url, check=None
            )
            return await self.read(opened)
        except StoreNotFoundError as error:
            await self.close()
            raise StoreNotFoundError(f"store {self.display_url} {error}") from None
        except BaseException:
            await self.close()
            raise

    def _migrate(
        self, tables: Tables, create: bool, check: UpgradeCheck | None, conn: Connection
    ) -> tuple[int, int]:
        return migrate(conn, tables, create=create, store=self.display_url, check=check)

    def _connected(self, conn: Connection) -> None:
        """The first statement, on opening: checks the connection."""
        conn.execute(sa.select(1))

    def _not_open(self) -> StoreError:
        return StoreClosedError(f"store {self.display_url} is not open (call open() first)")

    def _write_failed(self, error: BaseException) -> BaseException:
        """``error`` of a write, translated. A refusal of writes (a full disk) is logged
        as an error, once a minute at most: the loops that retry it each say an outage's
        warning, and a disk nearly full refuses some writes and takes others."""
        translated = self.translate(error)
        if isinstance(translated, StoreUnwritableError) and time.monotonic() >= (
            self._say_unwritable_at
        ):
            self._say_unwritable_at = time.monotonic() + UNWRITABLE_SAID_EVERY
            self._unwritable_said = True
            log.error("%s (said once a minute at most while writes are refused)", translated)
        return translated

    def _wrote(self) -> None:
        if self._unwritable_said:
            self._unwritable_said = False
            log.info("store %s takes writes again", self.display_url)

    def translate(self, error: BaseException) -> BaseException:
        """The schedkit error for a database error: unreachable server or locked file →
        StoreUnavailableError (callers back off and retry), of which a full disk or a
        file that cannot be written → StoreUnwritableError; a missing privilege, table
        or column → StoreRefusedError (saying what to do); anything else →
        StoreError; a bad value caught while binding parameters → that value error."""
        cause = error.orig if isinstance(error, exc.DBAPIError) else error
        sqlstate = _sqlstate(error) if isinstance(error, exc.DBAPIError) else None
        refused = sql_refusal(cause, sqlstate, self.display_url, self.url.username, _reason(error))
        if refused is not None:
            return refused
        unwritable = sql_unwritable(cause, sqlstate, self.display_url, _reason(error))
        if unwritable is not None:
            return unwritable
        if isinstance(error, sqlite3.Error):
            # Raised by the SQLite store's statements given to the driver directly.
            if isinstance(error, sqlite3.OperationalError):
                return StoreUnavailableError(f"store {self.display_url} unavailable: {error}")
            return StoreError(f"store {self.display_url} failed: {error}")
        if not isinstance(error, exc.SQLAlchemyError | OSError):
            return error
        if (
            isinstance(error, exc.StatementError)
            and not isinstance(error, exc.DBAPIError)
            and isinstance(error.orig, ValueError | TypeError)
        ):
            return error.orig
        unavailable = isinstance(
            error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError | OSError
        ) or (
            isinstance(error, exc.DBAPIError)
            and (
                error.connection_invalidated
                or (_sqlstate(error) or "").startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
            )
        )
        if unavailable:
            return StoreUnavailableError(f"store {self.display_url} unavailable: {_reason(error)}")
        return StoreError(f"store {self.display_url} failed: {_reason(error)}")


class SQLiteRunner(Runner):
    """SQLite: the whole unit of work runs in a worker thread (see the module docstring)."""

    _DEFAULT_READERS = 4

    def __init__(self, url: URL, display_url: str, options: SQLOptions) -> None:
        super().__init__(url, display_url, options)
        self._engine: sa.Engine | None = None
        self._write_engine: sa.Engine | None = None
        self._writer: Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        #: The database file (none for a ``file:`` URI, which SQLite opens its own way).
        self._file: SQLiteFile | None = None

    @property
    def is_sqlite(self) -> bool:
        return True

    @property
    def sync_engine(self) -> sa.Engine:
        if self._engine is None:
            raise self._not_open()
        return self._engine

    def _create(self) -> None:
        readers = self.options.pool_size or self._DEFAULT_READERS
        engine = sa.create_engine(
            self.url,
            echo=self.options.echo,
            pool_size=readers + 1,  # + the writer's
            max_overflow=0,
            json_serializer=json_dumps,
            # The sqlite3 driver's timeout is SQLite's busy timeout.
            connect_args={"timeout": self.options.busy_timeout},
        )
        event.listen(engine, "connect", connect_hook(self.options.busy_timeout))
        event.listen(engine, "begin", on_begin)
        database = self.url.database or ""
        self._file = None
        if not database.startswith("file:"):
            self._file = SQLiteFile(database, self.display_url)
            event.listen(engine, "do_connect", self._file.before_connect)
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._writer = Writer("schedkit-sqlite-writer", self._write_engine)
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="schedkit-sqlite-reader")

    def _connected(self, conn: Connection) -> None:
        super()._connected(conn)
        if self._file is not None:
            self._file.opened()

    async def ping(self) -> None:
        await super().ping()
        if self._file is not None:
            self._file.check()

    def translate(self, error: BaseException) -> BaseException:
        # Whatever fails on a file removed or replaced fails for that reason: told as a
        # table missing from the empty file created in its place, it said to run
        # `schedkit db upgrade`.
        if self._file is not None and isinstance(error, exc.DBAPIError | sqlite3.Error):
            try:
                self._file.check()
            except StoreFileReplacedError as lost:
                return lost
        return super().translate(error)

    async def read(self, work: Work[_T]) -> _T:
        engine, executor = self._engine, self._readers
        if engine is None or executor is None:
            raise self._not_open()
        if self._file is not None:
            self._file.refuse_if_lost()

        def run() -> _T:
            with engine.connect() as conn:
                return work(conn)

        return await self._in_thread(executor, run)

    async def write(self, work: Work[_T], *, urgent: bool = False) -> _T:
        engine, writer = self._write_engine, self._writer
        if engine is None or writer is None:
            raise self._not_open()
        if self._file is not None:
            # Urgent writes (heartbeats, the lease) come every few seconds: the look at
            # the path (a stat) costs them nothing, and a node that lost its file stops
            # holding the lease before its next renewal.
            (self._file.check if urgent else self._file.refuse_if_lost)()
        try:
            result = await asyncio.wrap_future(writer.submit(work, urgent=urgent))
        except (exc.SQLAlchemyError, OSError, sqlite3.Error) as error:
            raise self._write_failed(error) from error
        self._wrote()
        return result

    async def _in_thread(self, executor: ThreadPoolExecutor, run: Callable[[], _T]) -> _T:
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, run)
        except (exc.SQLAlchemyError, OSError, sqlite3.Error) as error:
            raise self.translate(error) from error

    async def close(self) -> None:
        engine, writer, readers = self._engine, self._writer, self._readers
        self._engine = self._write_engine = None
        self._writer = self._readers = None
        # Let work already handed to a thread finish (and commit) first.
        if writer is not None:
            await asyncio.to_thread(writer.shutdown)
        if readers is not None:
            await asyncio.to_thread(readers.shutdown, wait=True)
        if engine is not None:
            # The last connection's close checkpoints the WAL into the database file:
            # after a busy period, 0.4 s that the event loop would wait.
            await asyncio.to_thread(engine.dispose)


class PostgresRunner(Runner):
    """PostgreSQL: an asyncpg engine; units of work run through ``run_sync``."""

    _DEFAULT_POOL = 10

    def __init__(self, url: URL, display_url: str, options: SQLOptions) -> None:
        super().__init__(url, display_url, options)
        self._engine: AsyncEngine | None = None
        # The same pool, its connections in autocommit (see read and write_one).
        self._autocommit: AsyncEngine | None = None

    @property
    def is_sqlite(self) -> bool:
        return False

    @property
    def sync_engine(self) -> sa.Engine:
        if self._engine is None:
            raise self._not_open()
        return self._engine.sync_engine

    def _create(self) -> None:
        size = self.options.pool_size or self._DEFAULT_POOL
        # Opened by a node (Service.start), the connections carry its id: which node holds
        # which connection, in pg_stat_activity. A CLI command's are plain "schedkit".
        node = node_here()
        dialect_query = {k: v for k, v in self.url.query.items() if k in DIALECT_ONLY}
        self._engine = create_async_engine(
            self.url.set(query=dialect_query),
            echo=self.options.echo,
            pool_size=size,
            max_overflow=size,
            json_serializer=json_dumps,
            connect_args=self.connect_args(f"schedkit {node}" if node else "schedkit"),
        )
        # Reads and single-statement writes: each statement is its own transaction, as
        # a transaction's statements each see their own snapshot under READ COMMITTED
        # anyway; no BEGIN and COMMIT/ROLLBACK round trips (setting the mode is local to
        # the driver's connection).
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        # A server restart leaves dead pooled connections: a connection idle for a while
        # is tested on checkout rather than failing the first operation after a restart.
        # Not every checkout (SQLAlchemy's pool_pre_ping): asyncpg's ping is three round
        # trips (BEGIN, an empty query, ROLLBACK), one checkout per store call, about a
        # fifth of all round trips of a busy node. A connection checked in a moment ago
        # was alive then; if the server died since, the statement fails as unavailable
        # (callers retry) and SQLAlchemy recycles the whole pool.
        pool = self._engine.sync_engine.pool
        event.listen(pool, "connect", _mark_idle)
        event.listen(pool, "checkin", _mark_idle)
        event.listen(pool, "checkout", functools.partial(_ping_if_idle, self._engine.dialect))

    def connect_args(self, name: str) -> dict[str, Any]:
        """asyncpg's ``connect()`` arguments for a connection named ``name`` (the pool's,
        a node's LISTEN connection)."""
        return connect_args(
            self.url,
            display_url=self.display_url,
            name=name,
            schema=self.options.schema,
            connect_timeout=self.options.connect_timeout,
            command_timeout=self.options.command_timeout,
        )

    def _connected(self, conn: Connection) -> None:
        # A search_path naming no schema (or one this role has no USAGE on) leaves
        # current_schema() NULL: every table would be "missing", or, creating them, "no
        # schema has been selected to create in".
        schema = self.options.schema
        if schema is None:
            conn.execute(sa.select(1))
        elif conn.execute(sa.select(sa.func.current_schema())).scalar() is None:
            prefix = self.options.table_prefix
            if (refused := unusable_schema(conn, schema, prefix, self.display_url)) is not None:
                raise refused
            raise StoreNotFoundError(
                f"has no schema {schema!r} this role may use (create it as the tables' "
                f"owner: CREATE SCHEMA {quote_identifier(schema)}; and grant USAGE on it)"
            )

    async def read(self, work: Work[_T]) -> _T:
        if self._autocommit is None:
            raise self._not_open()
        for attempt in (1, 2):
            try:
                async with self._autocommit.connect() as conn:
                    return await conn.run_sync(work)
            except exc.DBAPIError as error:
                # A connection killed a moment after its last use (a failover, a server
                # restart, pg_terminate_backend) is not pinged on checkout (see open()),
                # and SQLAlchemy has replaced the pool's connections once it fails. A read
                # changes nothing: it is tried once more, so that the first request
                # after a failover (a console page, a CLI command) does not fail. A write
                # is not: it may have been applied.
                if attempt == 1 and error.connection_invalidated and not _timed_out(error):
                    log.debug("store read retried on a new connection: %s", _reason(error))
                    continue
                raise self.translate(error) from error
            except (exc.SQLAlchemyError, OSError) as error:
                raise self.translate(error) from error
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def write(self, work: Work[_T], *, urgent: bool = False) -> _T:
        """(``urgent`` changes nothing here: each write has a pooled connection of its
        own.) Also retries the whole transaction when PostgreSQL aborted it to break a
        deadlock (two multi-row UPDATEs locking shared rows in different orders)."""
        if self._engine is None:
            raise self._not_open()
        return await self._written(self._engine.begin, work)

    async def write_one(self, work: Work[_T], *, urgent: bool = False) -> _T:
        if self._autocommit is None:
            raise self._not_open()
        return await self._written(self._autocommit.connect, work)

    async def _written(
        self,
        connect: Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]],
        work: Work[_T],
    ) -> _T:
        attempt = 1
        while True:
            try:
                async with connect() as conn:
                    result = await conn.run_sync(work)
            except exc.DBAPIError as error:
                if attempt < _MAX_TX_ATTEMPTS and _sqlstate(error) in _RETRY_SQLSTATES:
                    log.debug("store transaction retried after %s", _reason(error))
                    attempt += 1
                    continue
                raise self._write_failed(error) from error
            except (exc.SQLAlchemyError, OSError) as error:
                raise self._write_failed(error) from error
            self._wrote()
            return result

    def _migrate(
        self, tables: Tables, create: bool, check: UpgradeCheck | None, conn: Connection
    ) -> tuple[int, int]:
        # Serialises concurrent openers of one database (SQLite's BEGIN IMMEDIATE does
        # that there); the lock is released at commit.
        # Per schema too when one is named (the key of the default schema is unchanged:
        # nodes of the previous release take the same lock).
        schema = self.options.schema
        scope = tables.prefix if schema is None else f"{schema}.{tables.prefix}"
        key = zlib.crc32(f"schedkit-schema:{scope}".encode())
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
        return migrate(conn, tables, create=create, store=self.display_url, check=check)

    async def close(self) -> None:
        engine, self._engine, self._autocommit = self._engine, None, None
        if engine is not None:
            await engine.dispose()


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) <= PING_IDLE_AFTER:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        if dialect.is_disconnect(error, dbapi_connection, None):
            # The pool drops this connection and checks out another (a new one).
            raise exc.DisconnectionError(f"pooled connection is dead: {error}") from error
        raise


def _sqlstate(error: exc.DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


def _timed_out(error: exc.DBAPIError) -> bool:
    """Whether the driver gave up waiting for the server (a retry would wait as long)."""
    cause = error.orig
    return isinstance(cause, TimeoutError) or isinstance(
        getattr(cause, "__cause__", None), TimeoutError
    )


def _reason(error: BaseException) -> str:
    # The driver's message, without SQLAlchemy's statement and parameter dump (long,
    # and it may hold a run's result or kwargs).
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    # A driver's timeout carries no message ("TimeoutError: " was all the log said).
    said = str(cause) or ("no answer in time" if isinstance(cause, TimeoutError) else "")
    return f"{type(cause).__name__}: {said}" if said else type(cause).__name__
