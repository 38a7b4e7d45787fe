"""Runs queued behind another (``blocked_by``) in the SQL store: what they wait for once
it ends, decided in the transaction that ends it (or that stores them behind a run that
has ended already, or that replaces or deletes their schedule: its limit changes).

Each is released, or queued again behind another active run of its schedule while its
schedule has ``max_instances`` of them (``_common.waits_next``). PostgreSQL: those active
runs are read ``FOR SHARE``, held until the commit. One of them ending at the same moment
either has its status written first (the read waits for its commit, then passes it over
as ended) or waits for this commit, and its end then finds the run queued behind it:
nothing is ever left waiting for a run that is over. SQLite: the write lock, held since
``BEGIN IMMEDIATE``, excludes every other writer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.models import ACTIVE_STATUSES, OverlapPolicy, RunStatus
from schedkit.store._common import waits_next
from schedkit.store.sql.base import SQLBase, chunks
from schedkit.store.sql.queries import Query
from schedkit.store.sql.schema import ACTIVE_ONLY


class QueueMixin(SQLBase):
    def _release_in(self, conn: Connection, ended: list[str]) -> None:
        """Settle the pending runs ``blocked_by`` any of ``ended`` (they ended)."""
        waiting = [
            row for chunk in chunks(sorted(ended)) for row in self._behind.all(conn, {"ids": chunk})
        ]
        self._settle(conn, waiting)

    def _release_behind_ended(self, conn: Connection, queued: list[str]) -> None:
        """Settle those of the runs ``queued`` (just inserted) whose blocker has ended
        already: its end released its queue before they existed, and nothing else
        would."""
        waiting = [
            row for chunk in chunks(queued) for row in self._behind_ended.all(conn, {"ids": chunk})
        ]
        self._settle(conn, waiting)

    def _settle_queued(self, conn: Connection, schedule_ids: list[str]) -> None:
        """Settle the runs queued in ``schedule_ids``, saved or deleted in this
        transaction: a limit raised or lifted (``allow``, the schedule gone) releases
        them, one lowered keeps them waiting. Nothing queued (almost always): one read
        of runs_schedule_active_ix."""
        ids = sorted(schedule_ids)
        if not any(self._queued.all(conn, {"ids": chunk}) for chunk in chunks(ids)):
            return
        waiting: list[tuple[Any, ...]] = []
        for chunk in chunks(ids):
            # The active runs FOR SHARE before the queued ones FOR UPDATE: a run's end
            # locks it, then its queue. Holding a queued run while waiting for a run
            # being ended would deadlock with that end's release.
            self._unblocked.all(conn, {"ids": chunk})
            waiting += self._queued_held.all(conn, {"ids": chunk})
        self._settle(conn, waiting)

    def _settle(self, conn: Connection, waiting: Sequence[tuple[Any, ...]]) -> None:
        """Write what each of ``waiting`` (id, schedule id, scheduled_for, blocked_by)
        waits for now, where that changes."""
        if not waiting:
            return
        schedules = sorted({row[1] for row in waiting if row[1] is not None})
        limits: dict[str, int] = {}
        for chunk in chunks(schedules):
            limits.update(self._limits.all(conn, {"ids": chunk}))
        active: dict[str, list[str]] = {}
        for chunk in chunks(sorted(limits)):
            for run_id, sid in self._unblocked.all(conn, {"ids": chunk}):
                active.setdefault(sid, []).append(run_id)
        ordered = sorted(waiting, key=_oldest_first)
        before = {row[0]: row[3] for row in ordered}
        for run_id, after in waits_next([row[:2] for row in ordered], limits, active).items():
            if after != before[run_id]:
                self._wait_for.rowcount(conn, {"run_id": run_id, "after": after})

    # The statements, defined once (see queries.py).

    @functools.cached_property
    def _behind(self) -> Query:
        r = self._t.runs
        stmt = (
            sa.select(r.c.id, r.c.schedule_id, r.c.scheduled_for, r.c.blocked_by)
            .where(
                r.c.blocked_by.in_(sa.bindparam("ids", expanding=True)),
                r.c.status == RunStatus.PENDING,
            )
            .with_for_update()
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _behind_ended(self) -> Query:
        r = self._t.runs
        blocker = r.alias("blocker")
        ended = sa.exists().where(
            blocker.c.id == r.c.blocked_by,
            blocker.c.status.not_in(sorted(s.value for s in ACTIVE_STATUSES)),
        )
        stmt = sa.select(r.c.id, r.c.schedule_id, r.c.scheduled_for, r.c.blocked_by).where(
            r.c.id.in_(sa.bindparam("ids", expanding=True)), ended
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _queued_of(self) -> sa.Select[Any]:
        r = self._t.runs
        return (
            sa.select(r.c.id, r.c.schedule_id, r.c.scheduled_for, r.c.blocked_by)
            .where(
                r.c.schedule_id.in_(sa.bindparam("ids", expanding=True)),
                # Repeated as written: what lets the planner read runs_schedule_active_ix.
                ACTIVE_ONLY,
                r.c.status == RunStatus.PENDING,
                r.c.blocked_by.is_not(None),
            )
            .order_by(r.c.schedule_id, r.c.scheduled_for, r.c.id)
        )

    @functools.cached_property
    def _queued(self) -> Query:
        return Query(self._queued_of, on_sqlite=self._sqlite)

    @functools.cached_property
    def _queued_held(self) -> Query:
        return Query(self._queued_of.with_for_update(), on_sqlite=self._sqlite)

    @functools.cached_property
    def _limits(self) -> Query:
        s = self._t.schedules
        stmt = sa.select(s.c.id, s.c.max_instances).where(
            s.c.id.in_(sa.bindparam("ids", expanding=True)),
            s.c.overlap != OverlapPolicy.ALLOW,
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _unblocked(self) -> Query:
        r = self._t.runs
        stmt = (
            sa.select(r.c.id, r.c.schedule_id)
            .where(
                r.c.schedule_id.in_(sa.bindparam("ids", expanding=True)),
                ACTIVE_ONLY,
                r.c.blocked_by.is_(None),
            )
            # runs_schedule_active_ix's order (no sort): oldest first per schedule, and
            # two releases locking the same runs take them in one order.
            .order_by(r.c.schedule_id, r.c.scheduled_for, r.c.id)
            .with_for_update(read=True)
        )
        return Query(stmt, on_sqlite=self._sqlite)

    @functools.cached_property
    def _wait_for(self) -> Query:
        r = self._t.runs
        stmt = (
            sa.update(r)
            .where(r.c.id == sa.bindparam("run_id", type_=sa.String))
            .values(blocked_by=sa.bindparam("after", type_=sa.String))
        )
        return Query(stmt, on_sqlite=self._sqlite)


def _oldest_first(row: tuple[Any, ...]) -> tuple[datetime, str]:
    """Runs as (id, schedule id, scheduled_for): by scheduled_for, then id."""
    return (row[2], row[0])
