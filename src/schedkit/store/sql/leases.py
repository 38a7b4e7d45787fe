"""Leases in the SQL store: one row per name, its term counting up with every new holder.

Each method is one conditional statement (or an insert-if-absent then one), so no
read-then-write window exists. :meth:`LeasesMixin._lease_held_in` is the lease fence of
a tick's write: read inside the tick's transaction, under ``FOR SHARE`` on PostgreSQL
(an ``acquire_lease`` taking the lease over waits for the tick to commit, and the tick
sees a takeover committed before it) and under the write lock on SQLite.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.models import Lease
from schedkit.store.sql.base import SQLBase
from schedkit.store.sql.columns import UTCDateTime
from schedkit.store.sql.queries import Query
from schedkit.store.values import LeaseFence


class LeasesMixin(SQLBase):
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, now: datetime
    ) -> Lease | None:
        ls = self._t.leases
        expires = now + timedelta(seconds=ttl)
        first = (
            self._insert(ls)
            .values(name=name, holder=holder, term=1, acquired_at=now, expires_at=expires)
            .on_conflict_do_nothing()
            .returning(*ls.c)
        )
        extending = sa.and_(ls.c.holder == holder, ls.c.expires_at > now)
        # SET expressions see the row as it was, so the CASEs test the old holder/expiry.
        take_or_extend = (
            sa.update(ls)
            .where(ls.c.name == name, sa.or_(extending, ls.c.expires_at <= now))
            .values(
                holder=holder,
                term=sa.case((extending, ls.c.term), else_=ls.c.term + 1),
                acquired_at=sa.case(
                    (extending, ls.c.acquired_at), else_=sa.literal(now, UTCDateTime())
                ),
                expires_at=expires,
            )
            .returning(*ls.c)
        )

        def work(conn: Connection) -> Lease | None:
            row = conn.execute(first).first() or conn.execute(take_or_extend).first()
            return Lease(**row._asdict()) if row is not None else None

        return await self._db.write(work, urgent=True)

    async def renew_lease(
        self, name: str, holder: str, term: int, ttl: float, now: datetime
    ) -> Lease | None:
        ls = self._t.leases
        stmt = (
            sa.update(ls)
            .where(
                ls.c.name == name,
                ls.c.holder == holder,
                ls.c.term == term,
                ls.c.expires_at > now,
            )
            .values(expires_at=now + timedelta(seconds=ttl))
            .returning(*ls.c)
        )
        rows = await self._fetch(stmt, write=True, urgent=True)
        return Lease(**rows[0]._asdict()) if rows else None

    async def release_lease(self, name: str, holder: str) -> bool:
        ls = self._t.leases
        # The row stays so that the next holder's term still counts up (terms fence
        # stale holders); the lease just ends at the moment its term began.
        stmt = (
            sa.update(ls)
            .where(ls.c.name == name, ls.c.holder == holder, ls.c.expires_at > ls.c.acquired_at)
            .values(expires_at=ls.c.acquired_at)
        )
        return await self._rowcount(stmt, urgent=True) == 1

    async def get_lease(self, name: str) -> Lease | None:
        ls = self._t.leases
        rows = await self._fetch(sa.select(ls).where(ls.c.name == name))
        return Lease(**rows[0]._asdict()) if rows else None

    def _lease_held_in(self, conn: Connection, fence: LeaseFence, now: datetime) -> bool:
        """Whether ``fence`` holds at ``now``, read in the caller's write transaction."""
        params = {"name": fence.name, "holder": fence.holder, "term": fence.term, "now": now}
        return bool(self._held.all(conn, params))

    # Every firing tick reads it: built and compiled once (see queries.py).
    @functools.cached_property
    def _held(self) -> Query:
        ls = self._t.leases
        stmt = (
            sa.select(ls.c.term)
            .where(
                ls.c.name == sa.bindparam("name"),
                ls.c.holder == sa.bindparam("holder"),
                ls.c.term == sa.bindparam("term"),
                ls.c.expires_at > sa.bindparam("now", type_=UTCDateTime()),
            )
            .with_for_update(read=True)
        )
        return Query(stmt, on_sqlite=self._sqlite)
