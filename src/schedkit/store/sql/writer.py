"""The SQLite store's writer thread: write transactions run one at a time, in order of
submission, urgent ones first, and works waiting together share one transaction (see
:class:`Writer`; why SQLite writes queue for one thread: :mod:`schedkit.store.sql.engine`).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["Work", "Writer"]

_T = TypeVar("_T")
#: A unit of work: a plain function of a SQLAlchemy connection.
Work = Callable[[Connection], _T]

_URGENT, _ORDINARY = 0, 1


class Writer:
    """One thread running write transactions in order of submission, urgent ones first
    (a ``PriorityQueue`` of (priority, sequence number, work)).

    Works found waiting together share one transaction (group commit): a busy node's
    claim and finish batch, queued while the other was written, commit once. A commit
    was a third of the writer's time (dirty pages to the WAL), and each transaction
    one more wake-up of the event loop. If any work of a group raises, the group is
    rolled back and its works run again one transaction each, so that each gets its
    own outcome (works are re-runnable: PostgreSQL's runner retries them too). Urgent
    writes are never grouped, nor waited for behind a group (see :meth:`_joining`)."""

    _STOP = (2, -1, None)
    #: Works per shared transaction at most: the first one's result waits for them all.
    _GROUP = 16

    def __init__(self, name: str, engine: sa.Engine) -> None:
        self._engine = engine
        # The writer's own connection, kept between transactions: a checkout from the
        # pool and back per transaction was a seventh of the writer thread's CPU at
        # 1,000 fires a second. Opened and closed in the writer's thread.
        self._conn: Connection | None = None
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Work[_T], *, urgent: bool) -> Future[_T]:
        future: Future[_T] = Future()
        self._queue.put((_URGENT if urgent else _ORDINARY, next(self._seq), (work, future)))
        return future

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread."""
        self._queue.put(self._STOP)
        self._thread.join()

    def _serve(self) -> None:
        try:
            while True:
                entry = self._queue.get()
                if entry[2] is None:
                    return
                self._transaction(entry)
        finally:
            self._drop()

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction on the writer's connection. After a failed one the
        connection goes back to the pool and the next one checks out another, as every
        transaction did before the connection was kept: the pool's reset on return
        rolls back again and replaces a connection whose rollback fails, where a kept
        connection still inside a transaction would refuse every later ``BEGIN``."""
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._conn.begin():
                yield self._conn
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _joining(self) -> tuple[int, int, Any] | None:
        """The next queued write if it is an ordinary one, to run in the transaction in
        progress; an urgent write (always first in the queue) or the stop is put back
        and ends the transaction, so an urgent write waits for one work at most."""
        try:
            entry = self._queue.get_nowait()
        except queue.Empty:
            return None
        if entry[0] != _ORDINARY or entry[2] is None:
            self._queue.put(entry)  # the same (priority, sequence): the same place
            return None
        return entry

    def _transaction(self, first: tuple[int, int, Any]) -> None:
        work, future = first[2]
        if not future.set_running_or_notify_cancel():
            return
        ran: list[tuple[Work[Any], Future[Any]]] = [(work, future)]
        results: list[Any] = []
        try:
            with self._begin() as conn:
                results.append(work(conn))
                while first[0] == _ORDINARY and len(ran) < self._GROUP:
                    entry = self._joining()
                    if entry is None:
                        break
                    work, future = entry[2]
                    if future.set_running_or_notify_cancel():
                        ran.append((work, future))
                        results.append(work(conn))
        except BaseException as error:
            if len(ran) == 1:
                ran[0][1].set_exception(error)
                return
            # Rolled back: each work again in a transaction of its own, for its outcome.
            for work, future in ran:
                self._alone(work, future)
            return
        for (_, future), result in zip(ran, results, strict=True):
            future.set_result(result)  # once committed

    def _alone(self, work: Work[Any], future: Future[Any]) -> None:
        try:
            with self._begin() as conn:
                result = work(conn)
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(result)
