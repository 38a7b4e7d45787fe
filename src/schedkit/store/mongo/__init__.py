"""The MongoDB store, on pymongo's native async client; it runs on MongoDB and FerretDB v1.

FerretDB v1 (the test server, a MongoDB wire-protocol server on SQLite) executes every
update, ``findAndModify`` included, as a read of the matching documents followed by an
unconditional write of each whole document (FerretDB issue #3040). Two consequences:
a conditional update is no compare-and-set (two callers can both "match"), and any
update can undo a concurrent update of the same document (it writes back the copy it
read). It has no multi-document transactions, TTL or partial indexes either. What both
servers do atomically is an insert into a unique index, so every race here is decided
by one, and every document that several parties change has one writer at a time:

* **Fencing (invariant 1)**: a unique ``fire_key`` per run (see ``codec.fire_key``).
* **Run transitions** (claim, finish, cancel, lose, requeue): each (status, attempt)
  a run passes through has one way out, fenced by a document in the claims collection
  (``<run>:<attempt>`` for leaving ``pending``, ``...:final`` for leaving ``running``,
  ``...:requeue`` for leaving a finished status). Whoever inserts the fence is the only
  writer of that change. The fence stores the change itself, so if its writer dies
  before writing the run, the next caller that runs into the fence after
  ``recover_after`` seconds writes it instead (a claim is thus completed, and the run,
  now ``running`` on a dead node, is reaped by ``lose_runs``). The reaper does not wait
  ``recover_after`` for the exit fence of an attempt whose heartbeat is stale: its node
  counts as dead, so the reaper completes the change that node decided at once (see
  ``transitions.py``). Rewriting
  it is harmless even if the writer was only slow: both write the same values, and the
  write is conditional on the run still being in the (status, attempt) it leaves.
* **Live run fields** written by someone other than the transition's owner live in
  *sidecar* documents, so they can never undo a transition: the heartbeat of a
  running attempt in its claim document (written only by the claiming node), the
  latest progress in ``<run>:progress``, a cancel request in ``<run>:cancel``.
  Reads merge them in.
* **Leases**: one document per (name, term); taking a free or expired lease inserts the
  next term; only a term's holder writes its document. A renewal and a take-over of the
  same term check for each other after writing (so one of them always steps back).
* **Key/value state**: one document per version; compare-and-set inserts the next one.
* **Releasing blocked runs** (``blocked_by`` cleared when the run they wait for ends,
  or set to another active run of the schedule while ``max_instances`` are active)
  is itself a transition of the blocked run, fenced by the key of its way out of
  ``pending`` and deleted once written, so a release can never rewrite a blocked run
  that was cancelled or skipped at the same moment. A run queued again behind another
  is checked again once written, should that one have ended meanwhile. A schedule
  replaced or deleted has its queued runs settled the same way after the write.
* **Schedules and API tokens** are changed by two kinds of writers (a user and the
  leader; an admin's revoke and the API's ``touch_token``), so they are written while
  holding a lock document ``lock:<what>:<id>``: a schedule's compare-and-set reads the
  version and writes under it, and a tick holds the locks of all its schedules across
  its lease check, version check, inserts and advances.

* **Run rollups** (hourly, for ``run_stats``) are caches written only by a reader
  holding the hour's lock, invalidated by *marks* that writers only insert after their
  run write (the mark of a transition is in its fence): see ``rollups.py``.

The fences, locks and sidecars all live in the claims collection. Datetimes are int64
microseconds and JSON payloads are JSON text (see ``codec``). Indexes are created at
:meth:`MongoStore.open` and recorded with a version in the meta collection.

Modules: ``codec`` (documents, keys, indexes), ``base`` (options, opening, helpers),
``fences`` (transitions, locks, releases), ``schedules``, ``runs``, ``transitions``,
``leases``, ``admin``, ``workflows``, ``rollup_marks`` and ``rollups`` (run rollups).
"""

from __future__ import annotations

from schedkit.store.mongo.admin import AdminMixin
from schedkit.store.mongo.base import DEFAULT_COLLECTIONS, INDEX_VERSION
from schedkit.store.mongo.runs import RunsMixin
from schedkit.store.mongo.schedules import SchedulesMixin
from schedkit.store.mongo.transitions import TransitionsMixin
from schedkit.store.mongo.workflows import WorkflowsMixin

__all__ = ["DEFAULT_COLLECTIONS", "INDEX_VERSION", "MongoStore"]


class MongoStore(SchedulesMixin, RunsMixin, TransitionsMixin, AdminMixin, WorkflowsMixin):
    """The store on MongoDB (``mongodb://`` or ``mongodb+srv://`` URL) or FerretDB.

    Options: ``database`` (default: the URL's path, else ``schedkit``), ``collections``
    (kind → collection name, overriding :data:`DEFAULT_COLLECTIONS`),
    ``server_selection_timeout`` (seconds to find a server before the store counts as
    unavailable, default 5; a ``serverSelectionTimeoutMS`` in the URL wins),
    ``recover_after`` (seconds after which a claim, run transition or lock left
    unfinished is taken to belong to a crashed writer and is completed or broken,
    default 30; it must exceed the longest pause a live process can take between the
    round trips of one store call).
    """
