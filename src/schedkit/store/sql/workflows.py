"""Workflow runs in the SQL store, and reading several runs by id.

Insert-if-absent is ``ON CONFLICT DO NOTHING`` on the primary key; the status
compare-and-set is one conditional ``UPDATE ... WHERE version = :expected``, atomic on
both databases (PostgreSQL re-checks the condition on the row it locks; SQLite writers
are serialised).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from schedkit.models import Run, WorkflowRun, WorkflowStatus
from schedkit.store.sql.base import SQLBase, chunks, values_of


class WorkflowsMixin(SQLBase):
    async def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        r = self._t.runs
        out: list[Run] = []
        for ids in chunks(list(dict.fromkeys(run_ids))):
            rows = await self._fetch(sa.select(r).where(r.c.id.in_(ids)))
            out.extend(Run(**row._asdict()) for row in rows)
        return out

    async def insert_workflow_run(self, run: WorkflowRun) -> bool:
        stmt = self._insert(self._t.workflow_runs).values(values_of(run))
        return await self._rowcount(stmt.on_conflict_do_nothing(index_elements=["id"])) == 1

    async def get_workflow_run(self, run_id: str) -> WorkflowRun | None:
        w = self._t.workflow_runs
        rows = await self._fetch(sa.select(w).where(w.c.id == run_id))
        return WorkflowRun(**rows[0]._asdict()) if rows else None

    async def list_workflow_runs(
        self,
        *,
        workflow: str | None = None,
        statuses: frozenset[WorkflowStatus] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WorkflowRun]:
        w = self._t.workflow_runs
        stmt = (
            sa.select(w)
            .where(*self._workflow_conditions(workflow, statuses))
            .order_by(w.c.created_at.desc(), w.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [WorkflowRun(**row._asdict()) for row in await self._fetch(stmt)]

    async def count_workflow_runs(
        self, *, workflow: str | None = None, statuses: frozenset[WorkflowStatus] | None = None
    ) -> int:
        w = self._t.workflow_runs
        stmt = sa.select(sa.func.count()).select_from(w)
        stmt = stmt.where(*self._workflow_conditions(workflow, statuses))
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    async def set_workflow_status(
        self,
        run_id: str,
        *,
        expected_version: int,
        status: WorkflowStatus,
        finished_at: datetime | None,
        now: datetime,
    ) -> bool:
        w = self._t.workflow_runs
        stmt = (
            sa.update(w)
            .where(w.c.id == run_id, w.c.version == expected_version)
            .values(
                status=status,
                finished_at=finished_at,
                updated_at=now,
                version=w.c.version + 1,
            )
        )
        return await self._rowcount(stmt) == 1

    async def purge_workflow_runs(self, finished_before: datetime) -> int:
        stmt = sa.delete(self._t.workflow_runs).where(self._workflow_purgeable(finished_before))
        return int(await self._rowcount(stmt))

    async def count_purgeable_workflow_runs(self, finished_before: datetime) -> int:
        w = self._t.workflow_runs
        stmt = sa.select(sa.func.count()).select_from(w)
        stmt = stmt.where(self._workflow_purgeable(finished_before))
        return int(await self._db.read(lambda conn: conn.execute(stmt).scalar_one()))

    def _workflow_purgeable(self, finished_before: datetime) -> sa.ColumnElement[bool]:
        w = self._t.workflow_runs
        return sa.and_(w.c.status != WorkflowStatus.RUNNING, w.c.finished_at < finished_before)

    def _workflow_conditions(
        self, workflow: str | None, statuses: frozenset[WorkflowStatus] | None
    ) -> list[sa.ColumnElement[bool]]:
        w = self._t.workflow_runs
        conditions: list[sa.ColumnElement[bool]] = []
        if workflow is not None:
            conditions.append(w.c.workflow == workflow)
        if statuses is not None:
            conditions.append(w.c.status.in_(sorted(statuses)))
        return conditions
