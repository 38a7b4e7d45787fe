"""The SQL repository: SQLite (``sqlite+aiosqlite``) and PostgreSQL (``postgresql+asyncpg``)
with SQLAlchemy Core, in the same database as the schedkit store.

On SQLite, writes start with ``BEGIN IMMEDIATE`` (they take the write lock up front, as
the schedkit store does, so a writer never fails to upgrade a read lock) and wait up to
``busy_timeout`` seconds for the scheduler's own short writes. Every multi-statement step
(a status change with its history row, a renewal, an archive batch) is one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from schedkit_examples.powertrade.domain.models import (
    Contract,
    Customer,
    CustomerStatus,
    Record,
    Renewal,
    Settlement,
    StatusChange,
    to_json_value,
)
from schedkit_examples.powertrade.domain.repository import TABLES, PowertradeRepository

__all__ = ["SQLRepository", "build_metadata"]

_T = TypeVar("_T")
_WRITE = "powertrade_write"
_INSERT_CHUNK = 2000


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def build_metadata(prefix: str) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """The domain tables, each named ``prefix + name``."""
    md = sa.MetaData()

    def settlement_table(name: str) -> sa.Table:
        return sa.Table(
            prefix + name,
            md,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("customer_id", sa.String(32), nullable=False, index=True),
            sa.Column("contract_id", sa.String(64), nullable=False),
            sa.Column("day", sa.Date, nullable=False, index=True),
            sa.Column("volume", sa.Float, nullable=False),
            sa.Column("price", sa.Float, nullable=False),
            sa.Column("amount", sa.Float, nullable=False),
        )

    tables = {
        "customers": sa.Table(
            prefix + "customers",
            md,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("region", sa.String(50), nullable=False),
            sa.Column("industry", sa.String(50), nullable=False),
            sa.Column("status", sa.String(20), nullable=False, index=True),
            sa.Column("status_changed_at", UTCDateTime, nullable=True),
            sa.Column("created_on", sa.Date, nullable=False),
        ),
        "contracts": sa.Table(
            prefix + "contracts",
            md,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("customer_id", sa.String(32), nullable=False, index=True),
            sa.Column("start_date", sa.Date, nullable=True),
            sa.Column("end_date", sa.Date, nullable=True, index=True),
            sa.Column("price", sa.Float, nullable=True),
            sa.Column("monthly_volume", sa.Float, nullable=True),
            sa.Column("auto_renew", sa.Boolean, nullable=False, default=False),
            sa.Column("renewed_from", sa.String(64), nullable=True),
            sa.Column("renewed_to", sa.String(64), nullable=True),
            sa.Column("signed_on", sa.Date, nullable=True),
        ),
        # The idempotency key of auto-renewal: one row per (contract, new period start).
        "contract_renewals": sa.Table(
            prefix + "contract_renewals",
            md,
            sa.Column("contract_id", sa.String(64), primary_key=True),
            sa.Column("new_start", sa.Date, primary_key=True),
            sa.Column("new_contract_id", sa.String(64), nullable=False, unique=True),
            sa.Column("renewed_at", UTCDateTime, nullable=False),
            sa.Column("run_id", sa.String(64), nullable=True),
        ),
        "customer_status_history": sa.Table(
            prefix + "customer_status_history",
            md,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("customer_id", sa.String(32), nullable=False, index=True),
            sa.Column("old_status", sa.String(20), nullable=True),
            sa.Column("new_status", sa.String(20), nullable=False),
            sa.Column("reason", sa.String(100), nullable=False),
            sa.Column("changed_at", UTCDateTime, nullable=False, index=True),
        ),
        "settlements": settlement_table("settlements"),
        "settlements_archive": settlement_table("settlements_archive"),
    }
    return md, tables


def _async_url(url: str) -> sa.URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("the powertrade SQLite database must be a file: sqlite:///PATH")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"not an SQL URL: {parsed.render_as_string(hide_password=True)}")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by _sqlite_on_begin (SQLAlchemy's recipe for aiosqlite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_WRITE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _values(record: Record) -> dict[str, Any]:
    return {
        k: (v.value if isinstance(v, CustomerStatus) else v) for k, v in record.values().items()
    }


class SQLRepository(PowertradeRepository):
    """powertrade on SQLite or PostgreSQL."""

    def __init__(self, url: str, *, table_prefix: str = "pt_", busy_timeout: float = 30.0) -> None:
        self._url = _async_url(url)
        self.backend = "sqlite" if self._url.get_backend_name() == "sqlite" else "postgresql"
        self.display_url = self._url.render_as_string(hide_password=True)
        self.metadata, self.tables = build_metadata(table_prefix)
        self._busy_timeout = busy_timeout
        self._engine: AsyncEngine | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        if self._engine is not None:
            return
        if self.backend == "sqlite":
            engine = create_async_engine(
                self._url, connect_args={"timeout": self._busy_timeout}, pool_size=2
            )
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        else:
            engine = create_async_engine(self._url, pool_size=5, pool_pre_ping=True)
        try:
            async with engine.execution_options(**{_WRITE: True}).begin() as conn:
                await conn.run_sync(self.metadata.create_all)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError(f"repository {self.display_url} is not open")
        return self._engine

    async def _read(self, work: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        async with self.engine.connect() as conn:
            return await work(conn)

    async def _write(self, work: Callable[[AsyncConnection], Awaitable[_T]]) -> _T:
        async with self.engine.execution_options(**{_WRITE: True}).begin() as conn:
            return await work(conn)

    async def _rows(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return [dict(row._mapping) for row in await conn.execute(stmt)]

        return await self._read(work)

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        return sqlite.insert(table) if self.backend == "sqlite" else postgresql.insert(table)

    # -- generic -----------------------------------------------------------------------

    async def count(self, table: str) -> int:
        t = self.tables[table]

        async def work(conn: AsyncConnection) -> int:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one())

        return await self._read(work)

    async def insert_many(self, table: str, records: Sequence[Record]) -> None:
        t = self.tables[table]
        rows = [_values(r) for r in records]
        for i in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[i : i + _INSERT_CHUNK]

            async def work(conn: AsyncConnection, chunk: list[dict[str, Any]] = chunk) -> None:
                await conn.execute(t.insert(), chunk)

            await self._write(work)

    async def export(
        self, table: str, batch_size: int = 1000
    ) -> AsyncIterator[list[dict[str, Any]]]:
        t = self.tables[table]
        keys = list(t.primary_key.columns)
        offset = 0
        while True:
            stmt = sa.select(t).order_by(*keys).limit(batch_size).offset(offset)
            rows = await self._rows(stmt)
            if not rows:
                return
            yield [{k: to_json_value(v) for k, v in row.items()} for row in rows]
            offset += len(rows)

    async def clear(self) -> None:
        async def work(conn: AsyncConnection) -> None:
            for name in TABLES:
                await conn.execute(sa.delete(self.tables[name]))

        await self._write(work)

    # -- customers ---------------------------------------------------------------------

    async def list_customers(self) -> list[Customer]:
        t = self.tables["customers"]
        return [Customer.from_json(r) for r in await self._rows(sa.select(t).order_by(t.c.id))]

    async def get_customer(self, customer_id: str) -> Customer | None:
        t = self.tables["customers"]
        rows = await self._rows(sa.select(t).where(t.c.id == customer_id))
        return Customer.from_json(rows[0]) if rows else None

    async def set_customer_status(
        self,
        customer_id: str,
        expected: CustomerStatus,
        new: CustomerStatus,
        change: StatusChange,
    ) -> bool:
        t = self.tables["customers"]
        history = self.tables["customer_status_history"]

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                sa.update(t)
                .where(t.c.id == customer_id, t.c.status == expected.value)
                .values(status=new.value, status_changed_at=change.changed_at)
            )
            if result.rowcount != 1:
                return False
            await conn.execute(history.insert().values(_values(change)))
            return True

        return await self._write(work)

    async def list_status_changes(self, customer_id: str | None = None) -> list[StatusChange]:
        t = self.tables["customer_status_history"]
        stmt = sa.select(t).order_by(t.c.changed_at, t.c.id)
        if customer_id is not None:
            stmt = stmt.where(t.c.customer_id == customer_id)
        return [StatusChange.from_json(r) for r in await self._rows(stmt)]

    async def purge_status_history(self, changed_before: datetime) -> int:
        t = self.tables["customer_status_history"]

        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(sa.delete(t).where(t.c.changed_at < changed_before))
            return int(result.rowcount)

        return await self._write(work)

    # -- contracts ---------------------------------------------------------------------

    async def list_contracts(self, customer_id: str | None = None) -> list[Contract]:
        t = self.tables["contracts"]
        stmt = sa.select(t).order_by(t.c.id)
        if customer_id is not None:
            stmt = stmt.where(t.c.customer_id == customer_id)
        return [Contract.from_json(r) for r in await self._rows(stmt)]

    async def get_contract(self, contract_id: str) -> Contract | None:
        t = self.tables["contracts"]
        rows = await self._rows(sa.select(t).where(t.c.id == contract_id))
        return Contract.from_json(rows[0]) if rows else None

    async def contracts_ending_between(self, first: date, last: date) -> list[Contract]:
        t = self.tables["contracts"]
        stmt = (
            sa.select(t)
            .where(t.c.end_date >= first, t.c.end_date <= last)
            .order_by(t.c.end_date, t.c.id)
        )
        return [Contract.from_json(r) for r in await self._rows(stmt)]

    async def renewal_candidates(self, ending_from: date, ending_until: date) -> list[Contract]:
        t = self.tables["contracts"]
        stmt = (
            sa.select(t)
            .where(
                t.c.auto_renew.is_(True),
                t.c.renewed_to.is_(None),
                t.c.end_date >= ending_from,
                t.c.end_date <= ending_until,
            )
            .order_by(t.c.end_date, t.c.id)
        )
        return [Contract.from_json(r) for r in await self._rows(stmt)]

    async def renew_contract(self, old: Contract, new: Contract, renewal: Renewal) -> bool:
        contracts = self.tables["contracts"]
        renewals = self.tables["contract_renewals"]

        async def work(conn: AsyncConnection) -> bool:
            # The unique key decides, inside the transaction: a second attempt inserts
            # nothing and creates nothing. No conflict target: new_contract_id is unique
            # too (derived from the same key), and PostgreSQL raises on a conflict with an
            # index other than the target when two renewals race.
            claimed = await conn.execute(
                self._insert(renewals).values(_values(renewal)).on_conflict_do_nothing()
            )
            if claimed.rowcount != 1:
                return False
            await conn.execute(contracts.insert().values(_values(new)))
            await conn.execute(
                sa.update(contracts).where(contracts.c.id == old.id).values(renewed_to=new.id)
            )
            return True

        return await self._write(work)

    async def list_renewals(self) -> list[Renewal]:
        t = self.tables["contract_renewals"]
        stmt = sa.select(t).order_by(t.c.contract_id, t.c.new_start)
        return [Renewal.from_json(r) for r in await self._rows(stmt)]

    # -- settlements -------------------------------------------------------------------

    async def settlements_between(
        self, first: date, last: date, *, include_archive: bool = True
    ) -> list[Settlement]:
        names = ["settlements", "settlements_archive"] if include_archive else ["settlements"]
        out: list[Settlement] = []
        for name in names:
            t = self.tables[name]
            stmt = sa.select(t).where(t.c.day >= first, t.c.day <= last)
            out.extend(Settlement.from_json(r) for r in await self._rows(stmt))
        out.sort(key=lambda s: (s.day, s.id))
        return out

    async def count_settlements_before(self, day: date, *, archive: bool = False) -> int:
        t = self.tables["settlements_archive" if archive else "settlements"]

        async def work(conn: AsyncConnection) -> int:
            stmt = sa.select(sa.func.count()).select_from(t).where(t.c.day < day)
            return int((await conn.execute(stmt)).scalar_one())

        return await self._read(work)

    async def archive_batch(self, before: date, batch_size: int) -> int:
        source = self.tables["settlements"]
        archive = self.tables["settlements_archive"]

        async def work(conn: AsyncConnection) -> int:
            rows = [
                dict(r._mapping)
                for r in await conn.execute(
                    sa.select(source)
                    .where(source.c.day < before)
                    .order_by(source.c.day, source.c.id)
                    .limit(batch_size)
                )
            ]
            if not rows:
                return 0
            await conn.execute(
                self._insert(archive).on_conflict_do_nothing(index_elements=["id"]), rows
            )
            ids = [r["id"] for r in rows]
            await conn.execute(sa.delete(source).where(source.c.id.in_(ids)))
            return len(rows)

        return await self._write(work)
