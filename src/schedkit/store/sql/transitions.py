"""How attempts end in the SQL store: finish, requeue, lose, cancel.

Every step is a conditional ``UPDATE ... WHERE <the state it leaves>`` whose row count
(or RETURNING) says whether it applied, run with the settling of the runs queued behind
it (``queue.py``) in one transaction, so no read-then-write window exists on either
database.
``request_cancel`` reads first and holds what it read (``SELECT ... FOR UPDATE``; on
SQLite the write lock is held from the transaction's start). A requeue or lost verdict
of a running attempt reads ``cancel_requested`` in its own UPDATE (``CASE``), so a cancel
request committed before it always wins and one committed after it finds a finished
(or pending) run.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.models import Run, RunStatus
from schedkit.store._common import (
    CANCELLED_IN_ATTEMPT,
    REQUEUE_CLEARED,
    check_finishes,
    finish_already_stored,
)
from schedkit.store.sql.base import chunks
from schedkit.store.sql.columns import JSON_TYPE, UTCDateTime
from schedkit.store.sql.queries import BatchUpdate, Query
from schedkit.store.sql.queue import QueueMixin
from schedkit.store.values import LostRun, RunFinish, RunRequeue


class TransitionsMixin(QueueMixin):
    async def finish_runs(self, items: Sequence[RunFinish]) -> list[bool]:
        if not items:
            return []
        check_finishes(items)
        rows = [
            {
                "id": item.run_id,
                "attempt": item.attempt,
                "node_id": item.node_id,
                "status": item.outcome.status.value,
                "finished_at": item.outcome.finished_at,
                "duration": item.outcome.duration,
                "result": item.outcome.result,
                "error": item.outcome.error,
                "reason": item.outcome.reason,
            }
            for item in items
        ]
        distinct = len({item.run_id for item in items}) == len(items)

        def work(conn: Connection) -> list[bool]:
            # Per run finished, the task and scheduled_for its rollups are keyed on:
            # returned by the UPDATE itself, or read after it.
            places: dict[str, tuple[str, datetime]] | None = None
            if distinct:
                places = self._finish.changed(conn, rows)
                applied = [item.run_id in places for item in items]
            else:
                # A run named twice must see the first item's effect; in one
                # UPDATE ... FROM it would be joined once, by either item.
                applied = [self._finish.applied(conn, [row])[0] for row in rows]
            done = [i for i, ok in zip(items, applied, strict=True) if ok]
            self._release_in(conn, [i.run_id for i in done])
            if done:
                where = places or self._run_places(conn, [i.run_id for i in done])
                self._roll(
                    conn,
                    [(*where[i.run_id], i.outcome.status, i.outcome.duration) for i in done],
                )
            retried = [i for i, ok in zip(items, applied, strict=True) if not ok]
            if retried:
                stored = self._finish_states(conn, [item.run_id for item in retried])
                applied = [
                    ok or self._stored_as(item, stored)
                    for item, ok in zip(items, applied, strict=True)
                ]
            return applied

        return await self._db.write(work)

    async def requeue_run(self, item: RunRequeue) -> RunStatus | None:
        if not item.from_statuses:
            return None
        r = self._t.runs
        matches = (
            r.c.id == item.run_id,
            r.c.attempt == item.attempt,
            r.c.status.in_(sorted(item.from_statuses)),
        )
        if all(s.active for s in item.from_statuses):
            # From pending or running: no rollup counts the run yet; one it leaves
            # cancelled is counted and releases its queue, as a finish would.
            ending = (
                sa.update(r)
                .where(*matches)
                .values(self._requeued(item.not_before, item.attempt_error, item.now, item.spare))
                .returning(r.c.status, r.c.task_name, r.c.scheduled_for)
            )

            def end(conn: Connection) -> RunStatus | None:
                row = conn.execute(ending).first()
                if row is None:
                    return None
                status = RunStatus(row.status)
                if status is RunStatus.CANCELLED:
                    self._release_in(conn, [item.run_id])
                    self._roll(conn, [(row.task_name, row.scheduled_for, status, None)])
                return status

            return await self._db.write(end)
        # A finished run (a failed workflow step retried) leaves its rollup: read what
        # it counted as, holding the row, then send it back. A cancel requested in an
        # earlier attempt does not stop this explicit retry: the request is cleared.
        stmt = (
            sa.update(r)
            .where(*matches)
            .values(
                {
                    **self._requeued(item.not_before, item.attempt_error, spare=item.spare),
                    "cancel_requested": False,
                }
            )
        )
        before = (
            sa.select(r.c.task_name, r.c.scheduled_for, r.c.status, r.c.duration)
            .where(*matches)
            .with_for_update()
        )

        def work(conn: Connection) -> RunStatus | None:
            found = conn.execute(before).first()
            if found is None or conn.execute(stmt).rowcount != 1:
                return None
            self._roll(conn, [tuple(found)], sign=-1)
            return RunStatus.PENDING

        return await self._db.write(work)

    async def lose_runs(self, items: Sequence[LostRun]) -> list[bool]:
        if not items:
            return []
        r = self._t.runs

        def one(item: LostRun) -> sa.Update:
            stmt = sa.update(r).where(
                r.c.id == item.run_id,
                r.c.status == RunStatus.RUNNING,
                r.c.attempt == item.attempt,
                r.c.node_id == item.node_id,
                # A heartbeat committed first makes the row not match.
                r.c.heartbeat_at < item.stale_before,
            )
            if item.retry_at is None:
                stmt = stmt.values(status=RunStatus.LOST, finished_at=item.now, reason=item.reason)
            else:
                stmt = stmt.values(self._requeued(item.retry_at, item.attempt_error, item.now))
            return stmt.returning(r.c.status)

        def work(conn: Connection) -> list[bool]:
            # Per item, the status it left the run in (None: it did not apply).
            ended = [conn.execute(one(item)).scalar() for item in items]
            applied = [status is not None for status in ended]
            finished = [
                (i.run_id, RunStatus(status))
                for i, status in zip(items, ended, strict=True)
                if status is not None and RunStatus(status).finished
            ]
            # A dead run must not hold its queued successor forever, but one sent back
            # for its retry keeps its place: releasing it then ran two at once.
            self._release_in(conn, [run_id for run_id, _ in finished])
            if finished:
                where = self._run_places(conn, [run_id for run_id, _ in finished])
                self._roll(conn, [(*where[i], status, None) for i, status in finished])
            return applied

        return await self._db.write(work)

    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        r = self._t.runs
        select_run = sa.select(r).where(r.c.id == run_id).with_for_update()
        this_run = sa.update(r).where(r.c.id == run_id)

        def work(conn: Connection) -> Run | None:
            row = conn.execute(select_run).first()
            if row is None:
                return None
            run = Run(**row._asdict())
            if run.status == RunStatus.PENDING:
                conn.execute(
                    this_run.values(status=RunStatus.CANCELLED, finished_at=now, reason=reason)
                )
                self._release_in(conn, [run_id])
                self._roll(conn, [(run.task_name, run.scheduled_for, RunStatus.CANCELLED, None)])
                return dataclasses.replace(
                    run, status=RunStatus.CANCELLED, finished_at=now, reason=reason
                )
            if run.status == RunStatus.RUNNING and not run.cancel_requested:
                conn.execute(this_run.values(cancel_requested=True, reason=reason))
                return dataclasses.replace(run, cancel_requested=True, reason=reason)
            return run

        return await self._db.write(work)

    # -- internals -----------------------------------------------------------------------

    def _requeued(
        self,
        not_before: datetime,
        attempt_error: Any,
        ended_at: datetime | None = None,
        spare: bool = False,
    ) -> dict[str, Any]:
        """The SET of a run sent back to pending for its next attempt (``spare``: one
        more attempt allowed, see RunRequeue). With ``ended_at`` (an attempt ending), a
        run whose cancel was requested ends ``cancelled`` at ``ended_at`` instead, its
        attempt's record as its error: the row's own flag decides, inside the one
        UPDATE."""
        r = self._t.runs
        error = sa.bindparam("attempt_error", attempt_error, type_=JSON_TYPE)
        requeued: dict[str, Any] = {
            "status": RunStatus.PENDING,
            "attempt": r.c.attempt + 1,
            "not_before": not_before,
            "attempt_errors": self._json_append(r.c.attempt_errors, error),
            **dict.fromkeys(REQUEUE_CLEARED),
        }
        if spare:
            requeued["max_attempts"] = r.c.max_attempts + 1
        if ended_at is None:
            return requeued
        cancelled: dict[str, Any] = {
            "status": RunStatus.CANCELLED,
            "finished_at": ended_at,
            "reason": CANCELLED_IN_ATTEMPT,
            "error": error,
        }

        def value(name: str, given: Any) -> sa.ColumnElement[Any]:
            column = r.c[name]
            if isinstance(given, sa.ColumnElement):
                return given
            return sa.literal(given, column.type)

        return {
            name: sa.case(
                (r.c.cancel_requested, value(name, cancelled.get(name, r.c[name]))),
                else_=value(name, given),
            )
            for name, given in requeued.items()
        }

    def _run_places(self, conn: Connection, run_ids: list[str]) -> dict[str, tuple[str, datetime]]:
        """Per run, the task and scheduled_for its rollups are keyed on."""
        return {
            run_id: (task_name, scheduled_for)
            for chunk in chunks(sorted(set(run_ids)))
            for run_id, task_name, scheduled_for in self._run_place.all(conn, {"ids": chunk})
        }

    def _finish_states(
        self, conn: Connection, run_ids: list[str]
    ) -> dict[str, tuple[RunStatus, int, str | None, datetime | None]]:
        return {
            run_id: (RunStatus(status), attempt, node_id, finished_at)
            for chunk in chunks(sorted(set(run_ids)))
            for run_id, status, attempt, node_id, finished_at in self._finish_state.all(
                conn, {"ids": chunk}
            )
        }

    @staticmethod
    def _stored_as(
        item: RunFinish, stored: dict[str, tuple[RunStatus, int, str | None, datetime | None]]
    ) -> bool:
        found = stored.get(item.run_id)
        if found is None:
            return False
        status, attempt, node_id, finished_at = found
        return finish_already_stored(
            item, status=status, attempt=attempt, node_id=node_id, finished_at=finished_at
        )

    # The hot path's statements, defined once (see queries.py).

    @functools.cached_property
    def _finish(self) -> BatchUpdate:
        r = self._t.runs
        node: sa.BindParameter[str] = sa.bindparam("node_id")
        held = sa.or_(
            sa.and_(node.is_(None), r.c.status == RunStatus.PENDING),
            sa.and_(r.c.status == RunStatus.RUNNING, r.c.node_id == node),
        )
        outcome = ("status", "finished_at", "duration", "result", "error", "reason")
        template = (
            sa.update(r)
            .where(r.c.id == sa.bindparam("id"), r.c.attempt == sa.bindparam("attempt"), held)
            .values({name: sa.bindparam(name) for name in outcome})
        )
        types: dict[str, Any] = {
            "id": sa.String(),
            "attempt": sa.Integer(),
            "node_id": sa.String(),
            "status": sa.String(),
            "finished_at": UTCDateTime(),
            "duration": sa.Float(),
            "result": JSON_TYPE,
            "error": JSON_TYPE,
            "reason": sa.String(),
        }
        return BatchUpdate(
            template,
            types,
            r.c.id,
            on_sqlite=self._sqlite,
            returning=(r.c.task_name, r.c.scheduled_for),
        )

    @functools.cached_property
    def _run_place(self) -> Query:
        r = self._t.runs
        stmt = sa.select(r.c.id, r.c.task_name, r.c.scheduled_for).where(
            r.c.id.in_(sa.bindparam("ids", expanding=True))
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _finish_state(self) -> Query:
        r = self._t.runs
        stmt = sa.select(r.c.id, r.c.status, r.c.attempt, r.c.node_id, r.c.finished_at).where(
            r.c.id.in_(sa.bindparam("ids", expanding=True))
        )
        return Query(stmt, on_sqlite=self._sqlite)
