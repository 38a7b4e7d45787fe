"""Nodes, audit events, API tokens and the key/value state in the SQL store: plain rows,
each write one statement (the state's compare-and-set a conditional one); and the
rebuild of the run rollups (one transaction: ``rollups.rebuild``)."""

from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.errors import StoreUnwritableError
from schedkit.models import JSON, ApiToken, AuditEvent, Node, StateEntry, utcnow
from schedkit.store.base_admin import DRAIN_KEY
from schedkit.store.sql import privileges, rollups
from schedkit.store.sql.base import SQLBase, values_of
from schedkit.store.values import RollupRebuild

#: Audit events per delete of a purge (one short write each).
_PURGE_BATCH = 1000
#: The key/value entry a write probe writes and deletes (see write_problems), and its
#: size: pages enough that a disk with no room for a run's result fails it too.
_PROBE_KEY = "schedkit:write-probe"
_PROBE_BYTES = 65536


class AdminMixin(SQLBase):
    async def upsert_node(self, node: Node) -> None:
        await self._upsert(self._t.nodes, values_of(node), "id", urgent=True)

    async def list_nodes(self) -> list[Node]:
        n = self._t.nodes
        return [Node(**row._asdict()) for row in await self._fetch(sa.select(n).order_by(n.c.id))]

    async def delete_node(self, node_id: str) -> bool:
        n, kv = self._t.nodes, self._t.kv_state

        def delete(conn: Connection) -> bool:
            conn.execute(sa.delete(kv).where(kv.c.key == DRAIN_KEY + node_id))
            return conn.execute(sa.delete(n).where(n.c.id == node_id)).rowcount > 0

        return await self._db.write(delete)

    # -- audit ---------------------------------------------------------------------------

    async def add_audit(self, event: AuditEvent) -> None:
        await self._rowcount(sa.insert(self._t.audit_events), values_of(event))

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        a = self._t.audit_events
        stmt = (
            sa.select(a)
            .where(*self._audit_conditions(actor, action, target))
            .order_by(a.c.at.desc(), a.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [AuditEvent(**row._asdict()) for row in await self._fetch(stmt)]

    async def count_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before: datetime | None = None,
    ) -> int:
        a = self._t.audit_events
        conditions = self._audit_conditions(actor, action, target)
        if before is not None:
            conditions.append(a.c.at < before)
        stmt = sa.select(sa.func.count()).select_from(a).where(*conditions)
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    async def purge_audit(self, before: datetime) -> int:
        a = self._t.audit_events
        # In batches off audit_at_ix, as the runs' purge: never a long hold of SQLite's
        # write lock, however many years of events a first purge deletes.
        batch = sa.select(a.c.id).where(a.c.at < before).limit(_PURGE_BATCH).scalar_subquery()
        stmt = sa.delete(a).where(a.c.id.in_(batch))
        total = 0
        while True:
            count = await self._rowcount(stmt)
            total += count
            if count < _PURGE_BATCH:
                return total

    # -- API tokens ------------------------------------------------------------------------

    async def put_token(self, token: ApiToken) -> None:
        await self._upsert(self._t.api_tokens, values_of(token), "id")

    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        tk = self._t.api_tokens
        rows = await self._fetch(sa.select(tk).where(tk.c.token_hash == token_hash))
        return ApiToken(**rows[0]._asdict()) if rows else None

    async def list_tokens(self) -> list[ApiToken]:
        tk = self._t.api_tokens
        stmt = sa.select(tk).order_by(tk.c.created_at, tk.c.id)
        return [ApiToken(**row._asdict()) for row in await self._fetch(stmt)]

    async def revoke_token(self, token_id: str) -> bool:
        tk = self._t.api_tokens
        return (
            await self._rowcount(sa.update(tk).where(tk.c.id == token_id).values(revoked=True)) > 0
        )

    async def touch_token(self, token_id: str, now: datetime) -> None:
        tk = self._t.api_tokens
        await self._rowcount(sa.update(tk).where(tk.c.id == token_id).values(last_used_at=now))

    # -- run rollups ---------------------------------------------------------------------

    async def rebuild_rollups(self) -> RollupRebuild:
        started = time.monotonic()

        def work(conn: Connection) -> tuple[int, rollups.Filled]:
            return rollups.rebuild(conn, self._t.runs, self._t.run_rollups)

        before, filled = await self._db.write(work)
        return RollupRebuild(
            tasks=filled.tasks,
            hours=filled.hours,
            runs=filled.runs,
            runs_before=before,
            seconds=time.monotonic() - started,
        )

    # -- key/value state ---------------------------------------------------------------------

    async def missing_privileges(self) -> list[str]:
        if self._sqlite:
            return privileges.sqlite_missing(self._db.url.database)
        names = [t.name for t in self._t.metadata.sorted_tables]
        return await self._db.read(lambda conn: privileges.postgres_missing(conn, names))

    async def write_problems(self) -> list[str]:
        # PostgreSQL: a full disk shows when a table must grow, which no small write
        # that leaves nothing behind makes sure of.
        if not self._sqlite:
            return []
        kv = self._t.kv_state
        value = {"probe": "x" * _PROBE_BYTES}
        row = {"key": _PROBE_KEY, "value": value, "version": 1, "updated_at": utcnow()}

        def probe(conn: Connection) -> None:
            # Nothing stays, but the commit writes its pages to the journal, which a full
            # disk refuses (nodes' writes failed while `schedkit check` found no problem).
            conn.execute(self._insert(kv).values(row).on_conflict_do_nothing())
            conn.execute(sa.delete(kv).where(kv.c.key == _PROBE_KEY))

        try:
            await self._db.write(probe)
        except StoreUnwritableError as exc:
            return [str(exc)]
        return []

    async def get_state(self, key: str) -> StateEntry | None:
        kv = self._t.kv_state
        rows = await self._fetch(sa.select(kv).where(kv.c.key == key))
        return StateEntry(**rows[0]._asdict()) if rows else None

    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        kv = self._t.kv_state
        now = utcnow()
        stmt: sa.Executable
        if expected_version == 0:
            stmt = (
                self._insert(kv)
                .values(key=key, value=value, version=1, updated_at=now)
                .on_conflict_do_nothing()
            )
        else:
            stmt = (
                sa.update(kv)
                .where(kv.c.key == key, kv.c.version == expected_version)
                .values(value=value, version=kv.c.version + 1, updated_at=now)
            )
        return await self._rowcount(stmt) == 1

    async def list_state(self, prefix: str) -> list[StateEntry]:
        kv = self._t.kv_state
        # substr, not LIKE (whose wildcards the prefix could contain); sorted here, by
        # code point as on every backend, not by the database's collation.
        stmt = sa.select(kv).where(sa.func.substr(kv.c.key, 1, len(prefix)) == prefix)
        entries = [StateEntry(**row._asdict()) for row in await self._fetch(stmt)]
        return sorted(entries, key=lambda entry: entry.key)

    async def delete_state(self, key: str) -> None:
        kv = self._t.kv_state
        await self._rowcount(sa.delete(kv).where(kv.c.key == key))

    def _audit_conditions(
        self, actor: str | None, action: str | None, target: str | None
    ) -> list[sa.ColumnElement[bool]]:
        a = self._t.audit_events
        given = ((a.c.actor, actor), (a.c.action, action), (a.c.target, target))
        return [column == value for column, value in given if value is not None]
