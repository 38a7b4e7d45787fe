"""The MongoDB store, on pymongo's native async client; it runs on MongoDB and FerretDB v1.

FerretDB v1 (the test server, a MongoDB wire-protocol server on SQLite) executes every
update, ``findAndModify`` included, as a read of the matching documents followed by an
unconditional write of each whole document (FerretDB issue #3040). Two consequences:
a conditional update is no compare-and-set (two callers can both "match"), and any
update can undo a concurrent update of the same document (it writes back the copy it
read). It has no multi-document transactions, TTL or partial indexes either. What both
servers do atomically is an insert into a unique index, so every race here is decided
by one, and every document that several parties change has one writer at a time:

* **Fencing (invariant 1)**: a unique ``fire_key`` per run (see ``_mongo_codec.fire_key``).
* **Run transitions** (claim, finish, cancel, mark lost, requeue): each (status, attempt)
  a run passes through has one way out, fenced by a document in the claims collection
  (``<run>:<attempt>`` for leaving ``pending``, ``...:final`` for leaving ``running``,
  ``...:requeue`` for leaving a finished status). Whoever inserts the fence is the only
  writer of that change. The fence stores the change itself, so if its writer dies
  before writing the run, the next caller that runs into the fence after
  ``recover_after`` seconds writes it instead (a claim is thus completed, and the run,
  now ``running`` on a dead node, is reaped by :meth:`MongoStore.mark_lost`). Rewriting
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
* **Schedules and API tokens** are changed by two kinds of writers (a user and the
  leader's ``advance_schedules``; an admin's revoke and the API's ``touch_token``), so
  they are written while holding a lock document ``lock:<what>:<id>``.

The fences, locks and sidecars all live in the claims collection. Datetimes are int64
microseconds and JSON payloads are JSON text (see ``_mongo_codec``). Indexes are
created at :meth:`MongoStore.open` and recorded with a version in the meta collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Mapping,
    Sequence,
)
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from pymongo import AsyncMongoClient, UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from schedkit.errors import ConfigError, StoreError, StoreUnavailableError
from schedkit.models import (
    FINISHED_STATUSES,
    JSON,
    ApiToken,
    AuditEvent,
    Lease,
    LogLine,
    Node,
    Run,
    RunFilter,
    RunOutcome,
    RunStatus,
    Schedule,
    StateEntry,
    TaskStats,
    new_id,
    utcnow,
)
from schedkit.store import mask_url
from schedkit.store._mongo_codec import (
    INDEXES,
    Doc,
    Index,
    Transition,
    audit_query,
    cancel_key,
    claim_key,
    decode_audit,
    decode_lease,
    decode_log,
    decode_node,
    decode_run,
    decode_schedule,
    decode_state,
    decode_token,
    dump_json,
    encode_audit,
    encode_lease,
    encode_log,
    encode_node,
    encode_run,
    encode_schedule,
    encode_token,
    exit_key,
    from_us,
    opt_dt,
    opt_dump,
    opt_us,
    payload_size,
    progress_key,
    run_query,
    run_sidecar_keys,
    to_us,
    versioned_id,
)
from schedkit.store._stats import task_stats
from schedkit.store.base import Store

__all__ = ["DEFAULT_COLLECTIONS", "INDEX_VERSION", "MongoStore"]

log = logging.getLogger(__name__)

#: Collection of each kind of document, by default. ``scheduler_jobs`` and
#: ``task_execution_logs`` are the design document's names for schedules and history.
DEFAULT_COLLECTIONS: Mapping[str, str] = {
    "schedules": "scheduler_jobs",
    "runs": "task_execution_logs",
    "run_logs": "schedkit_run_logs",
    "leases": "schedkit_leases",
    "claims": "schedkit_claims",
    "nodes": "schedkit_nodes",
    "audit": "schedkit_audit",
    "tokens": "schedkit_tokens",
    "state": "schedkit_state",
    "meta": "schedkit_meta",
}

#: Version of the index set below; stored in the meta collection. Raise it whenever
#: ``INDEXES`` changes: ``open`` then brings an older database up to date in place.
INDEX_VERSION = 3

_DUPLICATE_KEY = 11000
_INDEX_NOT_FOUND = 27
_SCHEMA_ID = "schema"
# Prefix of the index names schedkit owns (and may drop when they are no longer wanted).
_OWN_INDEX = "sk_"
_PURGE_BATCH = 1000
# claim_runs gives up after this many candidate queries (callers poll again anyway).
_CLAIM_QUERIES = 4
# request_cancel waits this long for a run that another caller is moving out of
# ``pending`` (a claim, usually) before deciding how to cancel it.
_SETTLE_TRIES = 20
_SETTLE_DELAY = 0.05
_MAX_LOCK_DELAY = 0.1
# Characters of result + error JSON a finish fence keeps once the run is written.
_FENCE_PAYLOAD_KEPT = 16_384

_PENDING = RunStatus.PENDING.value
_RUNNING = RunStatus.RUNNING.value
_CLAIM_ORDER: list[tuple[str, int]] = [("priority", -1), ("not_before", 1), ("_id", 1)]
_HISTORY_ORDER: list[tuple[str, int]] = [("scheduled_for", -1), ("_id", -1)]


@dataclasses.dataclass(frozen=True, slots=True)
class _Collections:
    schedules: AsyncCollection[Doc]
    runs: AsyncCollection[Doc]
    run_logs: AsyncCollection[Doc]
    leases: AsyncCollection[Doc]
    claims: AsyncCollection[Doc]
    nodes: AsyncCollection[Doc]
    audit: AsyncCollection[Doc]
    tokens: AsyncCollection[Doc]
    state: AsyncCollection[Doc]
    meta: AsyncCollection[Doc]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _translate_errors(
    method: Callable[Concatenate[MongoStore, _P], Awaitable[_R]],
) -> Callable[Concatenate[MongoStore, _P], Coroutine[Any, Any, _R]]:
    """Driver errors as schedkit's: unreachable server → StoreUnavailableError (callers
    back off and retry), any other server error → StoreError."""

    @functools.wraps(method)
    async def wrapper(self: MongoStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        except ConnectionFailure as error:
            raise StoreUnavailableError(f"store {self.display_url} unavailable: {error}") from error
        except PyMongoError as error:
            raise StoreError(f"store {self.display_url} failed: {error}") from error

    return wrapper


def _clock_us() -> int:
    """Now by this machine's clock. Fences and locks age in real time, whatever clock
    the caller passes as ``now`` to the run and lease methods."""
    return to_us(utcnow())


def _check_name(what: str, name: object, forbidden: str) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in forbidden):
        raise ConfigError(f"MongoDB {what} name {name!r} is empty or contains one of {forbidden!r}")
    return name


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"MongoDB store option {name} must be a positive number, not {value!r}")
    return float(value)


class MongoStore(Store):
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

    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        collections: Mapping[str, str] | None = None,
        server_selection_timeout: float = 5.0,
        recover_after: float = 30.0,
        **unknown: Any,
    ) -> None:
        self.display_url = mask_url(url)
        if unknown:
            known = "collections, database, recover_after, server_selection_timeout"
            raise ConfigError(
                f"unknown MongoDB store option(s) {', '.join(sorted(unknown))}; known: {known}"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("mongodb", "mongodb+srv"):
            raise ConfigError(f"store URL {self.display_url!r} is not a mongodb:// URL")
        self._url = url
        name = database or unquote(parts.path.lstrip("/")) or "schedkit"
        self._database = _check_name("database", name, '/\\. "$')
        wrong = sorted(set(collections or {}) - set(DEFAULT_COLLECTIONS))
        if wrong:
            raise ConfigError(
                f"unknown collection kind(s) {', '.join(wrong)}; known: "
                f"{', '.join(DEFAULT_COLLECTIONS)}"
            )
        names = {**DEFAULT_COLLECTIONS, **(collections or {})}
        for kind, collection in names.items():
            _check_name(f"{kind} collection", collection, "$\0")
        if len(set(names.values())) != len(names):
            raise ConfigError(f"two kinds of documents share a collection: {names}")
        self._names = names
        timeout = _positive("server_selection_timeout", server_selection_timeout)
        in_url = {key.lower() for key, _ in parse_qsl(parts.query)}
        self._client_options: Doc = (
            {}
            if "serverselectiontimeoutms" in in_url
            else {"serverSelectionTimeoutMS": timeout * 1000}
        )
        self._recover_after = _positive("recover_after", recover_after)
        self._recover_after_us = int(self._recover_after * 1_000_000)
        self._client: AsyncMongoClient[Doc] | None = None
        self._collections: _Collections | None = None

    @property
    def _c(self) -> _Collections:
        if self._collections is None:
            raise StoreError(f"store {self.display_url} is not open (call open() first)")
        return self._collections

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        try:
            client: AsyncMongoClient[Doc] = AsyncMongoClient(
                self._url, appname="schedkit", **self._client_options
            )
        except ConfigurationError as error:
            raise ConfigError(f"bad MongoDB store URL {self.display_url!r}: {error}") from None
        try:
            await client.admin.command("ping")
            db = client[self._database]
            collections = _Collections(**{kind: db[name] for kind, name in self._names.items()})
            version = await self._migrate(collections)
        except ConnectionFailure as error:
            await client.close()
            raise StoreUnavailableError(
                f"cannot reach store {self.display_url}: {error}"
            ) from error
        except PyMongoError as error:
            await client.close()
            raise StoreError(f"store {self.display_url} failed to open: {error}") from error
        except BaseException:
            await client.close()
            raise
        self._client, self._collections = client, collections
        log.info("store %s open at index version %d", self.display_url, version)

    async def close(self) -> None:
        client, self._client, self._collections = self._client, None, None
        if client is not None:
            await client.close()

    @_translate_errors
    async def ping(self) -> None:
        await self._c.meta.database.client.admin.command("ping")

    @_translate_errors
    async def schema_version(self) -> int:
        meta = await self._c.meta.find_one({"_id": _SCHEMA_ID})
        return int(meta["version"]) if meta is not None else 0

    async def _migrate(self, c: _Collections) -> int:
        """Bring the indexes to :data:`INDEX_VERSION` (idempotent; documents untouched)."""
        meta = await c.meta.find_one({"_id": _SCHEMA_ID})
        stored = int(meta["version"]) if meta is not None else 0
        if stored > INDEX_VERSION:
            raise StoreError(
                f"store {self.display_url} is at index version {stored}, newer than this "
                f"schedkit's {INDEX_VERSION}: upgrade schedkit"
            )
        if stored == 0:
            await _refuse_foreign_schedules(c.schedules)
        for kind, indexes in INDEXES.items():
            await _sync_indexes(getattr(c, kind), indexes)
        if stored < INDEX_VERSION:
            doc = {"_id": _SCHEMA_ID, "version": INDEX_VERSION, "updated_at": _clock_us()}
            await _upsert(c.meta, doc)
            log.info(
                "store %s: indexes at version %d (were %d)", self.display_url, INDEX_VERSION, stored
            )
        return INDEX_VERSION

    # -- schedules -------------------------------------------------------------------

    @_translate_errors
    async def put_schedule(self, schedule: Schedule) -> None:
        doc = encode_schedule(schedule)
        async with self._locked(f"schedule:{schedule.id}"):
            await self._c.schedules.replace_one({"_id": schedule.id}, doc, upsert=True)

    @_translate_errors
    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        doc = await self._c.schedules.find_one({"_id": schedule_id})
        return decode_schedule(doc) if doc is not None else None

    @_translate_errors
    async def list_schedules(self, task_name: str | None = None) -> list[Schedule]:
        query = {} if task_name is None else {"task_name": task_name}
        docs = await self._c.schedules.find(query).sort("_id", 1).to_list()
        return [decode_schedule(d) for d in docs]

    @_translate_errors
    async def delete_schedule(self, schedule_id: str) -> bool:
        async with self._locked(f"schedule:{schedule_id}"):
            result = await self._c.schedules.delete_one({"_id": schedule_id})
        return result.deleted_count > 0

    @_translate_errors
    async def due_schedules(self, until: datetime, limit: int) -> list[Schedule]:
        if limit <= 0:
            return []
        # $lte on a number never matches null (BSON type bracketing), so schedules with
        # no next fire are left out by the index range itself.
        query = {"paused": False, "next_fire_time": {"$lte": to_us(until)}}
        cursor = self._c.schedules.find(query).sort([("next_fire_time", 1), ("_id", 1)])
        return [decode_schedule(d) for d in await cursor.limit(limit).to_list()]

    @_translate_errors
    async def due_schedule_keys(
        self, until: datetime, limit: int
    ) -> list[tuple[str, int, datetime]]:
        if limit <= 0:
            return []
        query = {"paused": False, "next_fire_time": {"$lte": to_us(until)}}
        fields = {"version": 1, "next_fire_time": 1}
        cursor = self._c.schedules.find(query, fields).sort([("next_fire_time", 1), ("_id", 1)])
        docs = await cursor.limit(limit).to_list()
        return [(d["_id"], d["version"], from_us(d["next_fire_time"])) for d in docs]

    @_translate_errors
    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        ids = sorted(set(schedule_ids))
        if not ids:
            return []
        docs = await self._c.schedules.find({"_id": {"$in": ids}}).to_list()
        return [decode_schedule(d) for d in docs]

    @_translate_errors
    async def next_fire_time(self) -> datetime | None:
        doc = await self._c.schedules.find_one(
            {"paused": False, "next_fire_time": {"$ne": None}},
            {"next_fire_time": 1},
            sort=[("next_fire_time", 1)],
        )
        return opt_dt(doc["next_fire_time"]) if doc is not None else None

    @_translate_errors
    async def advance_schedules(
        self, updates: Sequence[tuple[str, int, datetime | None, datetime | None]]
    ) -> int:
        if not updates:
            return 0
        writes = [
            (sid, version, {"next_fire_time": opt_us(nxt), "last_fire_time": opt_us(last)})
            for sid, version, nxt, last in updates
        ]
        owner = new_id()
        locks = {sid: f"schedule:{sid}" for sid, _, _ in writes}
        # A schedule a user is changing right now is left for the next tick: the user's
        # write bumps its version, so this update would not apply anyway.
        taken = await self._take_locks(list(locks.values()), owner)
        try:
            ops = [
                UpdateOne({"_id": sid, "version": version}, {"$set": fields})
                for sid, version, fields in writes
                if locks[sid] in taken
            ]
            if not ops:
                return 0
            # Ordered, as the SQL store applies them: in the order given.
            return (await self._c.schedules.bulk_write(ops)).matched_count
        finally:
            await self._unlock(taken, owner)

    # -- runs ------------------------------------------------------------------------

    @_translate_errors
    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        if not runs:
            return []
        # A duplicate fire_key (another node fired it) and a duplicate _id (a batch sent
        # again after a lost reply) are both skipped: insert-if-absent.
        inserted = await self._insert_new(self._c.runs, [encode_run(r) for r in runs])
        return [r.id for r in runs if r.id in inserted]

    @_translate_errors
    async def get_run(self, run_id: str) -> Run | None:
        doc = await self._c.runs.find_one({"_id": run_id})
        return (await self._load_runs([doc]))[0] if doc is not None else None

    @_translate_errors
    async def list_runs(
        self, flt: RunFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Run]:
        if limit <= 0:
            return []
        cursor = self._c.runs.find(run_query(flt)).sort(_HISTORY_ORDER)
        return await self._load_runs(await cursor.skip(offset).limit(limit).to_list())

    @_translate_errors
    async def count_runs(self, flt: RunFilter | None = None) -> int:
        return await self._c.runs.count_documents(run_query(flt))

    @_translate_errors
    async def active_runs(self, schedule_id: str) -> list[Run]:
        return (await self.active_runs_of([schedule_id]))[schedule_id]

    @_translate_errors
    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        found: dict[str, list[Run]] = {sid: [] for sid in schedule_ids}
        if not found:
            return found
        query = {"schedule_id": {"$in": sorted(found)}, "status": {"$in": [_PENDING, _RUNNING]}}
        cursor = self._c.runs.find(query).sort([("scheduled_for", 1), ("_id", 1)])
        for run in await self._load_runs(await cursor.to_list()):
            found[run.schedule_id or ""].append(run)
        return found

    @_translate_errors
    async def claim_runs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        task_names: Sequence[str] | None = None,
    ) -> list[Run]:
        if limit <= 0 or (task_names is not None and not task_names):
            return []
        now_us = to_us(now)
        query: Doc = {"status": _PENDING, "not_before": {"$lte": now_us}, "blocked_by": None}
        if task_names is not None:
            query["task_name"] = {"$in": list(task_names)}
        fields = {
            "status": _RUNNING,
            "node_id": node_id,
            "started_at": now_us,
            "heartbeat_at": now_us,
        }
        won: list[tuple[Doc, Transition]] = []
        lost: list[str] = []
        tried: list[str] = []
        for _ in range(_CLAIM_QUERIES):
            # Twice the runs wanted: losing some races to other claimers then costs no
            # new query. Exactly as many fences as still wanted are inserted at a time,
            # since a fence won is a run owned.
            window_size = 2 * (limit - len(won))
            if tried:
                query["_id"] = {"$nin": tried}
            cursor = self._c.runs.find(query).sort(_CLAIM_ORDER).limit(window_size)
            window = await cursor.to_list()
            rest = window
            while rest and len(won) < limit:
                batch, rest = rest[: limit - len(won)], rest[limit - len(won) :]
                tried.extend(d["_id"] for d in batch)
                claims = [
                    Transition(
                        key=claim_key(d["_id"], int(d["attempt"])),
                        kind="claim",
                        run_id=d["_id"],
                        attempt=int(d["attempt"]),
                        from_status=_PENDING,
                        fields=fields,
                        node_id=node_id,
                        heartbeat_at=now_us,
                    )
                    for d in batch
                ]
                mine = {t.key for t in await self._begin(claims, recover=False)}
                won.extend((d, t) for d, t in zip(batch, claims, strict=True) if t.key in mine)
                lost.extend(t.key for t in claims if t.key not in mine)
            if len(won) >= limit or len(window) < window_size:
                break
        if lost:
            # Once per call rather than per race lost: almost every fence lost is fresh.
            await self._complete_abandoned(lost)
        if not won:
            return []
        await self._write([t for _, t in won])
        claimed = await self._load_runs([{**d, **fields} for d, _ in won])
        claimed.sort(key=lambda r: (-r.priority, r.not_before, r.id))
        return claimed

    @_translate_errors
    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> set[str]:
        if not run_ids:
            return set()
        now_us = to_us(now)
        running = await self._c.runs.find(
            {"_id": {"$in": list(run_ids)}, "status": _RUNNING, "node_id": node_id},
            {"attempt": 1, "cancel_requested": 1},
        ).to_list()
        if not running:
            return set()
        keys = [claim_key(d["_id"], int(d["attempt"])) for d in running]
        # The claim document is written by this node only (the claimer), so this update
        # cannot undo anyone's write even on FerretDB.
        beat, cancels = await asyncio.gather(
            self._c.claims.update_many(
                {"_id": {"$in": keys}, "kind": "claim"}, {"$set": {"heartbeat_at": now_us}}
            ),
            self._c.claims.find(
                {"_id": {"$in": [cancel_key(d["_id"]) for d in running]}}, {"run_id": 1}
            ).to_list(),
        )
        if beat.matched_count < len(keys):
            await self._adopt(running, node_id, now_us)
        flagged = {d["_id"] for d in running if d["cancel_requested"]}
        return flagged | {d["run_id"] for d in cancels}

    async def _adopt(self, running: Sequence[Doc], node_id: str, now_us: int) -> None:
        """Give claim documents to running runs that have none (stored as ``running`` by
        ``insert_runs``, e.g. imported history), so that their heartbeats are kept."""
        fences = [
            Transition(
                key=claim_key(d["_id"], int(d["attempt"])),
                kind="claim",
                run_id=d["_id"],
                attempt=int(d["attempt"]),
                # An attempt that never was pending: completing this fence matches nothing.
                from_status=_PENDING,
                fields={"status": _RUNNING, "node_id": node_id},
                node_id=node_id,
                heartbeat_at=now_us,
            ).fence(_clock_us())
            for d in running
        ]
        await self._insert_new(self._c.claims, fences)

    @_translate_errors
    async def update_progress(self, run_id: str, progress: JSON) -> None:
        fields = {"run_id": run_id, "kind": "progress", "progress": dump_json(progress)}
        if await self._c.runs.find_one({"_id": run_id}, {"_id": 1}) is None:
            return
        key = {"_id": progress_key(run_id)}
        try:
            await self._c.claims.update_one(key, {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            # Two first updates raced and both inserted (FerretDB upserts by a read and
            # then an insert): the document exists now.
            await self._c.claims.update_one(key, {"$set": fields})

    @_translate_errors
    async def finish_run(
        self, run_id: str, attempt: int, node_id: str | None, outcome: RunOutcome
    ) -> bool:
        return (await self.finish_runs([(run_id, attempt, node_id, outcome)]))[0]

    @_translate_errors
    async def finish_runs(
        self, items: Sequence[tuple[str, int, str | None, RunOutcome]]
    ) -> list[bool]:
        if not items:
            return []
        for _, _, _, outcome in items:
            if not outcome.status.finished:
                raise ValueError(
                    f"finish_run needs a finished status, not {outcome.status.value!r}"
                )
        ids = list({run_id for run_id, _, _, _ in items})
        claim_keys = list({claim_key(run_id, attempt) for run_id, attempt, _, _ in items})
        found, claim_docs = await asyncio.gather(
            self._c.runs.find({"_id": {"$in": ids}}).to_list(),
            self._c.claims.find(
                {"_id": {"$in": claim_keys}}, {"kind": 1, "heartbeat_at": 1}
            ).to_list(),
        )
        runs = {d["_id"]: d for d in found}
        claims = {d["_id"]: d for d in claim_docs}
        finishes = [
            self._finish(runs.get(run_id), attempt, node_id, outcome, claims)
            for run_id, attempt, node_id, outcome in items
        ]
        won = await self._begin([t for t in finishes if t is not None])
        if won:
            await self._write(won)
            # Written: the fences need not keep large outcomes (stored twice otherwise).
            large = [t.key for t in won if payload_size(t.fields) > _FENCE_PAYLOAD_KEPT]
            if large:
                await self._c.claims.update_many(
                    {"_id": {"$in": large}}, {"$set": {"fields.result": None, "fields.error": None}}
                )
        # Per item; of two items finishing one attempt, the first one given applies.
        mine = {t.key for t in won}
        applied: list[bool] = []
        for t in finishes:
            applied.append(t is not None and t.key in mine)
            if t is not None:
                mine.discard(t.key)
        return applied

    @staticmethod
    def _finish(
        doc: Doc | None,
        attempt: int,
        node_id: str | None,
        outcome: RunOutcome,
        claims: Mapping[str, Doc],
    ) -> Transition | None:
        """The transition finishing ``doc`` at ``attempt`` for ``node_id``, or None if the
        run is not there: ``running`` at that attempt on that node, or still ``pending``
        at it when ``node_id`` is None."""
        if doc is None or doc["attempt"] != attempt:
            return None
        fields: Doc = {
            "status": outcome.status.value,
            "finished_at": to_us(outcome.finished_at),
            "duration": outcome.duration,
            "result": opt_dump(outcome.result),
            "error": opt_dump(outcome.error),
            "reason": outcome.reason,
        }
        if node_id is None:
            if doc["status"] != _PENDING:
                return None
        elif doc["status"] != _RUNNING or doc["node_id"] != node_id:
            return None
        else:
            claim = claims.get(claim_key(doc["_id"], attempt))
            if claim is not None and claim["kind"] == "claim":
                # The live heartbeat becomes part of the finished run.
                fields["heartbeat_at"] = claim["heartbeat_at"]
        return Transition(
            key=exit_key(doc["_id"], attempt, RunStatus(doc["status"])),
            kind="finish",
            run_id=doc["_id"],
            attempt=attempt,
            from_status=doc["status"],
            fields=fields,
            release=True,
        )

    @_translate_errors
    async def requeue_run(
        self,
        run_id: str,
        attempt: int,
        from_statuses: Sequence[RunStatus],
        not_before: datetime,
        attempt_error: JSON,
    ) -> bool:
        fields = {
            "status": _PENDING,
            "attempt": attempt + 1,
            "not_before": to_us(not_before),
            # The failed attempt's outcome lives on in attempt_errors only.
            **dict.fromkeys(
                (
                    "node_id",
                    "started_at",
                    "heartbeat_at",
                    "finished_at",
                    "duration",
                    "result",
                    "error",
                    "reason",
                )
            ),
        }
        push = {"attempt_errors": dump_json(attempt_error)}
        doc = await self._c.runs.find_one({"_id": run_id}, {"status": 1, "attempt": 1})
        if doc is None or doc["attempt"] != attempt:
            return False
        status = RunStatus(doc["status"])
        if status not in from_statuses:
            return False
        requeue = Transition(
            key=exit_key(run_id, attempt, status),
            kind="requeue",
            run_id=run_id,
            attempt=attempt,
            from_status=status.value,
            fields=fields,
            push=push,
        )
        if not await self._begin([requeue]):
            return False
        await self._write([requeue])
        return True

    @_translate_errors
    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        fields = {"status": RunStatus.CANCELLED.value, "finished_at": to_us(now), "reason": reason}
        doc = await self._c.runs.find_one({"_id": run_id})
        for _ in range(_SETTLE_TRIES):
            if doc is None or doc["status"] != _PENDING:
                break
            cancel = Transition(
                key=claim_key(run_id, int(doc["attempt"])),
                kind="cancel",
                run_id=run_id,
                attempt=int(doc["attempt"]),
                from_status=_PENDING,
                fields=fields,
                release=True,
            )
            if await self._begin([cancel]):
                await self._write([cancel])
                return await self.get_run(run_id)
            # Someone else is moving it out of pending (a claimer, usually): wait for
            # the outcome to show, then cancel what it became.
            await asyncio.sleep(_SETTLE_DELAY)
            doc = await self._c.runs.find_one({"_id": run_id})
        if doc is None:
            return None
        run = (await self._load_runs([doc]))[0]
        if run.status.active and not run.cancel_requested:
            # The node running it learns of the request through heartbeat_runs. (Still
            # pending after the wait: its claimer stopped halfway, and the request waits
            # for whichever node ends up with the run.) The request is written last, as
            # the SQL stores commit last: a caller that stops the run itself acts before
            # the run's own heartbeat can.
            request = {"_id": cancel_key(run_id), "kind": "cancel", "run_id": run_id}
            await self._insert_new(self._c.claims, [request])
            run = dataclasses.replace(run, cancel_requested=True)
        return run

    @_translate_errors
    async def mark_lost(self, stale_before: datetime, now: datetime) -> list[Run]:
        stale_us, now_us = to_us(stale_before), to_us(now)
        running = await self._c.runs.find(
            {"status": _RUNNING}, {"attempt": 1, "heartbeat_at": 1}
        ).to_list()
        if not running:
            return []
        claims = {
            d["_id"]: d
            for d in await self._c.claims.find(
                {"_id": {"$in": [claim_key(d["_id"], int(d["attempt"])) for d in running]}},
                {"kind": 1, "heartbeat_at": 1},
            ).to_list()
        }
        reason = f"no heartbeat from its node since before {stale_before.isoformat()}"
        lost: list[Transition] = []
        for d in running:
            claim = claims.get(claim_key(d["_id"], int(d["attempt"])))
            beat = (
                claim["heartbeat_at"] if claim and claim["kind"] == "claim" else d["heartbeat_at"]
            )
            if beat is None or beat >= stale_us:
                continue
            lost.append(
                Transition(
                    key=exit_key(d["_id"], int(d["attempt"]), RunStatus.RUNNING),
                    kind="lost",
                    run_id=d["_id"],
                    attempt=int(d["attempt"]),
                    from_status=_RUNNING,
                    fields={
                        "status": RunStatus.LOST.value,
                        "finished_at": now_us,
                        "reason": reason,
                        "heartbeat_at": beat,
                    },
                    release=True,
                )
            )
        # A heartbeat that lands after the fence is in changes nothing the run shows
        # (its heartbeat was frozen into the lost run): the mark came first.
        marked = await self._begin(lost)
        if not marked:
            return []
        await self._write(marked)
        docs = await self._c.runs.find({"_id": {"$in": [t.run_id for t in marked]}}).to_list()
        runs = await self._load_runs(docs)
        runs.sort(key=lambda r: (r.scheduled_for, r.id))
        return runs

    @_translate_errors
    async def purge_runs(self, finished_before: datetime) -> int:
        finished = sorted(s.value for s in FINISHED_STATUSES)
        purgeable = {"status": {"$in": finished}, "finished_at": {"$lt": to_us(finished_before)}}
        total = 0
        while True:
            batch = await self._c.runs.find(purgeable, {"_id": 1}).limit(_PURGE_BATCH).to_list()
            ids = [d["_id"] for d in batch]
            if not ids:
                return total
            deleted = await self._c.runs.delete_many({"_id": {"$in": ids}, **purgeable})
            total += deleted.deleted_count
            # A run requeued meanwhile was not deleted: keep its log lines and claims.
            kept = {
                d["_id"]
                for d in await self._c.runs.find({"_id": {"$in": ids}}, {"_id": 1}).to_list()
            }
            gone = [i for i in ids if i not in kept]
            await asyncio.gather(
                self._c.run_logs.delete_many({"run_id": {"$in": gone}}),
                self._c.claims.delete_many({"run_id": {"$in": gone}}),
            )
            if len(ids) < _PURGE_BATCH:
                return total

    @_translate_errors
    async def run_stats(self, since: datetime, task_name: str | None = None) -> list[TaskStats]:
        window: Doc = {"scheduled_for": {"$gte": to_us(since)}}
        if task_name is not None:
            window["task_name"] = task_name
        # Counts by $group/$sum, durations sorted by the server and the rest computed
        # here: FerretDB v1's $group knows only $sum and $count (no $avg, $percentile).
        pipeline: list[Doc] = [
            {"$match": window},
            {"$group": {"_id": {"task": "$task_name", "status": "$status"}, "n": {"$sum": 1}}},
        ]
        rows = await (await self._c.runs.aggregate(pipeline)).to_list()
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["_id"]["task"], {})[row["_id"]["status"]] = int(row["n"])
        durations: dict[str, list[float]] = {}
        cursor = self._c.runs.find(
            {**window, "duration": {"$ne": None}}, {"task_name": 1, "duration": 1}
        )
        for d in await cursor.sort([("task_name", 1), ("duration", 1)]).to_list():
            durations.setdefault(d["task_name"], []).append(d["duration"])
        return [task_stats(name, counts[name], durations.get(name, [])) for name in sorted(counts)]

    # -- run log lines -----------------------------------------------------------------

    @_translate_errors
    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if lines:
            # Idempotent on (run_id, seq), the _id: a batch re-sent adds no duplicates.
            await self._insert_new(self._c.run_logs, [encode_log(line) for line in lines])

    @_translate_errors
    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        if limit <= 0:
            return []
        cursor = self._c.run_logs.find({"run_id": run_id, "seq": {"$gt": after_seq}})
        return [decode_log(d) for d in await cursor.sort("seq", 1).limit(limit).to_list()]

    # -- leases --------------------------------------------------------------------------

    @_translate_errors
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, now: datetime
    ) -> Lease | None:
        expires = to_us(now + timedelta(seconds=ttl))
        current = await self._current_lease(name)
        if current is not None and current["expires_at"] > to_us(now):
            if current["holder"] != holder:
                return None
            return await self._extend(current, expires)
        term = int(current["term"]) + 1 if current is not None else 1
        lease = Lease(
            name=name,
            holder=holder,
            term=term,
            acquired_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        doc = encode_lease(lease)
        try:
            await self._c.leases.insert_one(doc)
        except DuplicateKeyError:
            return None  # another caller took this term first
        # Step back if the previous holder renewed after we read its term as expired
        # (its _extend checks for our term just as we check for its renewal), or if a
        # later term exists (our read was stale and we re-created a pruned term).
        rivals: list[Doc] = [{"term": {"$gt": term}}]
        if current is not None:
            rivals.append({"_id": current["_id"], "expires_at": {"$gt": current["expires_at"]}})
        if await self._c.leases.find_one({"name": name, "$or": rivals}, {"_id": 1}) is not None:
            await self._c.leases.delete_one({"_id": doc["_id"], "holder": holder})
            return None
        # Older terms are history; the previous one stays for the check above.
        await self._c.leases.delete_many({"name": name, "term": {"$lt": term - 1}})
        return decode_lease(doc)

    @_translate_errors
    async def renew_lease(
        self, name: str, holder: str, term: int, ttl: float, now: datetime
    ) -> Lease | None:
        current = await self._current_lease(name)
        if (
            current is None
            or current["term"] != term
            or current["holder"] != holder
            or current["expires_at"] <= to_us(now)
        ):
            return None
        return await self._extend(current, to_us(now + timedelta(seconds=ttl)))

    @_translate_errors
    async def release_lease(self, name: str, holder: str) -> bool:
        current = await self._current_lease(name)
        if current is None or current["holder"] != holder:
            return False
        if current["expires_at"] <= current["acquired_at"]:
            return False  # released already
        # The term's document stays so that the next term still counts up; the lease
        # just ends at the moment it began. Only the holder writes its term's document.
        await self._c.leases.update_one(
            {"_id": current["_id"], "holder": holder},
            {"$set": {"expires_at": current["acquired_at"]}},
        )
        return True

    @_translate_errors
    async def get_lease(self, name: str) -> Lease | None:
        current = await self._current_lease(name)
        return decode_lease(current) if current is not None else None

    async def _current_lease(self, name: str) -> Doc | None:
        return await self._c.leases.find_one({"name": name}, sort=[("term", -1)])

    async def _extend(self, current: Doc, expires: int) -> Lease | None:
        """Extend the holder's own term (it is that document's only writer)."""
        await self._c.leases.update_one(
            {"_id": current["_id"], "holder": current["holder"]},
            {"$set": {"expires_at": expires}},
        )
        # An acquirer that read this term as expired may have inserted the next one
        # meanwhile; it checks for this renewal after its insert, we check for its term
        # after our renewal, so at least one of the two sees the other and steps back.
        later = {"name": current["name"], "term": {"$gt": current["term"]}}
        if await self._c.leases.find_one(later, {"_id": 1}) is not None:
            return None
        return decode_lease({**current, "expires_at": expires})

    # -- nodes ---------------------------------------------------------------------------

    @_translate_errors
    async def upsert_node(self, node: Node) -> None:
        # A node writes only its own document; delete_node racing with it just loses.
        await _upsert(self._c.nodes, encode_node(node))

    @_translate_errors
    async def list_nodes(self) -> list[Node]:
        return [decode_node(d) for d in await self._c.nodes.find().sort("_id", 1).to_list()]

    @_translate_errors
    async def delete_node(self, node_id: str) -> bool:
        return (await self._c.nodes.delete_one({"_id": node_id})).deleted_count > 0

    # -- audit ---------------------------------------------------------------------------

    @_translate_errors
    async def add_audit(self, event: AuditEvent) -> None:
        await self._c.audit.insert_one(encode_audit(event))

    @_translate_errors
    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        if limit <= 0:
            return []
        cursor = self._c.audit.find(audit_query(actor, action, target))
        cursor = cursor.sort([("at", -1), ("_id", -1)]).skip(offset).limit(limit)
        return [decode_audit(d) for d in await cursor.to_list()]

    @_translate_errors
    async def count_audit(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None
    ) -> int:
        return await self._c.audit.count_documents(audit_query(actor, action, target))

    # -- API tokens ------------------------------------------------------------------------

    @_translate_errors
    async def put_token(self, token: ApiToken) -> None:
        doc = encode_token(token)
        async with self._locked(f"token:{token.id}"):
            await self._c.tokens.replace_one({"_id": token.id}, doc, upsert=True)

    @_translate_errors
    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        doc = await self._c.tokens.find_one({"token_hash": token_hash})
        return decode_token(doc) if doc is not None else None

    @_translate_errors
    async def list_tokens(self) -> list[ApiToken]:
        docs = await self._c.tokens.find().sort([("created_at", 1), ("_id", 1)]).to_list()
        return [decode_token(d) for d in docs]

    @_translate_errors
    async def revoke_token(self, token_id: str) -> bool:
        async with self._locked(f"token:{token_id}"):
            result = await self._c.tokens.update_one({"_id": token_id}, {"$set": {"revoked": True}})
        return result.matched_count > 0

    @_translate_errors
    async def touch_token(self, token_id: str, now: datetime) -> None:
        # Under the token's lock: on FerretDB this update would otherwise write back a
        # copy read before a concurrent revoke, un-revoking the token.
        last_used = {"$set": {"last_used_at": to_us(now)}}
        async with self._locked(f"token:{token_id}"):
            await self._c.tokens.update_one({"_id": token_id}, last_used)

    # -- key/value state ---------------------------------------------------------------------

    @_translate_errors
    async def get_state(self, key: str) -> StateEntry | None:
        doc = await self._c.state.find_one({"key": key}, sort=[("version", -1)])
        return decode_state(doc) if doc is not None else None

    @_translate_errors
    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        text = dump_json(value)
        current = await self._c.state.find_one({"key": key}, {"version": 1}, sort=[("version", -1)])
        if (int(current["version"]) if current is not None else 0) != expected_version:
            return False
        version, now = expected_version + 1, _clock_us()
        doc = {
            "_id": versioned_id(key, version),
            "key": key,
            "version": version,
            "value": text,
            "updated_at": now,
        }
        try:
            await self._c.state.insert_one(doc)
        except DuplicateKeyError:
            return False  # another writer with the same expectation won
        # Versions are pruned only once recover_after has passed since they were written:
        # a writer that read version v - 1 then finds v still there, and cannot re-create
        # a pruned v behind a later version (unless it paused that long in between).
        await self._c.state.delete_many(
            {
                "key": key,
                "version": {"$lt": version},
                "updated_at": {"$lt": now - self._recover_after_us},
            }
        )
        return True

    @_translate_errors
    async def delete_state(self, key: str) -> None:
        await self._c.state.delete_many({"key": key})

    # -- internals -----------------------------------------------------------------------

    async def _load_runs(self, docs: Sequence[Doc]) -> list[Run]:
        """Runs from their documents, with the live fields of their sidecars merged in."""
        if not docs:
            return []
        keys = [key for d in docs for key in run_sidecar_keys(d)]
        found = await self._c.claims.find({"_id": {"$in": keys}}).to_list()
        sidecars = {s["_id"]: s for s in found}
        return [decode_run(d, sidecars) for d in docs]

    async def _insert_new(self, collection: AsyncCollection[Doc], docs: Sequence[Doc]) -> set[Any]:
        """Insert ``docs``, skipping those a unique index already holds; the ``_id``s
        inserted. An insert into a unique index is atomic on MongoDB and on FerretDB
        alike, which is why every race in this store is decided by one."""
        try:
            await collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if error.details.get("writeConcernErrors") or any(
                e.get("code") != _DUPLICATE_KEY for e in errors
            ):
                raise
            failed = {e["index"] for e in errors}
            return {d["_id"] for i, d in enumerate(docs) if i not in failed}
        return {d["_id"] for d in docs}

    async def _begin(
        self, transitions: Sequence[Transition], *, recover: bool = True
    ) -> list[Transition]:
        """Insert the fences of ``transitions``; the ones inserted are the caller's to
        :meth:`_write`. A fence someone else has held for longer than ``recover_after``
        is completed on their behalf (unless ``recover`` is false: the caller will)."""
        if not transitions:
            return []
        # One fence per key: of two transitions of one run in a batch, the first counts.
        first: dict[str, Transition] = {}
        for t in transitions:
            first.setdefault(t.key, t)
        fences = [t.fence(_clock_us()) for t in first.values()]
        inserted = await self._insert_new(self._c.claims, fences)
        held = [key for key in first if key not in inserted]
        if held and recover:
            await self._complete_abandoned(held)
        return [t for key, t in first.items() if key in inserted]

    async def _complete_abandoned(self, keys: Sequence[str]) -> None:
        """Write the changes of those fences among ``keys`` older than ``recover_after``."""
        cutoff = _clock_us() - self._recover_after_us
        old = await self._c.claims.find(
            {"_id": {"$in": list(keys)}, "at": {"$lt": cutoff}}
        ).to_list()
        if not old:
            return
        # Written already, almost always: the write then matches nothing (a run never
        # returns to a (status, attempt) it left).
        completed = await self._write([Transition.from_fence(d) for d in old])
        if completed:
            log.warning(
                "store %s: completed %d run transition(s) whose writer stopped halfway "
                "over %.0f s ago: %s",
                self.display_url,
                completed,
                self._recover_after,
                ", ".join(d["_id"] for d in old),
            )

    async def _write(self, transitions: Sequence[Transition]) -> int:
        """Write fenced transitions to their runs; how many runs they changed.

        A write applies only while its run is still in the (status, attempt) it leaves.
        For the fence's owner that always holds (leaving takes the very fence it holds),
        unless it paused beyond ``recover_after`` and its change was completed and
        followed by others meanwhile: then its late write must not apply, and does not.
        For whoever completes an abandoned fence, it is what makes a late completion
        harmless. Transitions making the same change (a batch of claims) go as one
        UpdateMany: FerretDB reads the whole collection for each update statement.
        """
        groups: dict[str, list[Transition]] = {}
        for t in transitions:
            same = dump_json([t.from_status, t.attempt, t.fields, t.push])
            groups.setdefault(same, []).append(t)
        writes = [
            UpdateMany(
                {
                    "_id": {"$in": [t.run_id for t in group]},
                    "status": group[0].from_status,
                    "attempt": group[0].attempt,
                },
                group[0].update(),
            )
            for group in groups.values()
        ]
        result = await self._c.runs.bulk_write(writes, ordered=False)
        ended = [t.run_id for t in transitions if t.release]
        if ended:
            # Unfenced: on FerretDB this can undo a cancel or skip of a blocked run made
            # at the same instant (both rewrite the whole document). That run is then
            # pending again while the fence of its way out is taken: claimers lose to
            # that fence until one of them completes it again after recover_after.
            await self._c.runs.update_many(
                {"blocked_by": {"$in": ended}}, {"$set": {"blocked_by": None}}
            )
        return result.matched_count

    @contextlib.asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[None]:
        """Hold the lock document of ``name`` (waiting for it) while the body writes."""
        owner = new_id()
        delay = 0.005
        deadline = time.monotonic() + 2 * self._recover_after
        while not await self._take_locks([name], owner):
            if time.monotonic() > deadline:
                raise StoreError(f"store {self.display_url}: {name} stayed locked")
            await asyncio.sleep(delay)
            delay = min(2 * delay, _MAX_LOCK_DELAY)
        try:
            yield
        finally:
            await self._unlock([name], owner)

    async def _take_locks(self, names: Sequence[str], owner: str) -> set[str]:
        """Take the free locks among ``names``; a lock held longer than ``recover_after``
        belongs to a writer that died holding it, and is broken (to be taken next time)."""
        at = _clock_us()
        docs = [{"_id": f"lock:{name}", "kind": "lock", "owner": owner, "at": at} for name in names]
        taken = await self._insert_new(self._c.claims, docs)
        busy = [d["_id"] for d in docs if d["_id"] not in taken]
        if busy:
            stale = {
                "_id": {"$in": busy},
                "kind": "lock",
                "at": {"$lt": at - self._recover_after_us},
            }
            broken = await self._c.claims.delete_many(stale)
            if broken.deleted_count:
                log.warning(
                    "store %s: broke %d lock(s) held for over %.0f s",
                    self.display_url,
                    broken.deleted_count,
                    self._recover_after,
                )
        return {name for name in names if f"lock:{name}" in taken}

    async def _unlock(self, names: Collection[str], owner: str) -> None:
        if names:
            ids = [f"lock:{name}" for name in names]
            await self._c.claims.delete_many({"_id": {"$in": ids}, "owner": owner})


async def _upsert(collection: AsyncCollection[Doc], doc: Doc) -> None:
    """Insert or replace ``doc``, for documents with a single writer."""
    try:
        await collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
    except DuplicateKeyError:
        # Two upserts of a new _id raced and both tried to insert (FerretDB upserts by a
        # read, then an insert): the document exists now.
        await collection.replace_one({"_id": doc["_id"]}, doc)


async def _sync_indexes(collection: AsyncCollection[Doc], wanted: Sequence[Index]) -> None:
    """Make ``collection``'s schedkit indexes exactly ``wanted``: create missing ones,
    re-create changed ones, drop ones no longer wanted. Idempotent, and safe when
    several nodes open the store at once."""
    existing = {ix["name"]: ix for ix in await (await collection.list_indexes()).to_list()}
    for index in wanted:
        have = existing.get(index.name)
        if have is not None and _same_index(have, index):
            continue
        if have is not None:
            log.info(
                "re-creating index %s.%s: its definition changed", collection.full_name, index.name
            )
            await _drop_index(collection, index.name)
        await collection.create_index(list(index.keys), name=index.name, unique=index.unique)
    unwanted = set(existing) - {index.name for index in wanted}
    for name in sorted(unwanted):
        if name.startswith(_OWN_INDEX):
            log.info("dropping index %s.%s: no longer used", collection.full_name, name)
            await _drop_index(collection, name)


def _same_index(have: Mapping[str, Any], index: Index) -> bool:
    keys = [(field, int(direction)) for field, direction in have["key"].items()]
    return keys == list(index.keys) and bool(have.get("unique", False)) == index.unique


async def _drop_index(collection: AsyncCollection[Doc], name: str) -> None:
    try:
        await collection.drop_index(name)
    except OperationFailure as error:
        if error.code != _INDEX_NOT_FOUND:  # another node dropped it first
            raise


async def _refuse_foreign_schedules(schedules: AsyncCollection[Doc]) -> None:
    """Fail on a schedules collection that holds APScheduler 3 jobs (the design
    document's ``exds.scheduler_jobs`` is one): they are pickled code, not schedules."""
    if await schedules.find_one({"job_state": {"$exists": True}}, {"_id": 1}) is not None:
        raise ConfigError(
            f"collection {schedules.full_name} holds APScheduler job documents (job_state): "
            "give schedkit a collection of its own, e.g. "
            "collections={'schedules': 'schedkit_schedules'}, or move those documents away"
        )
