"""The MongoDB store's shared state: options, collections, opening and index upgrades,
error translation, and the document helpers every part uses (see the package docstring)."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from schedkit.errors import (
    ConfigError,
    StoreClosedError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from schedkit.models import (
    JSON,
    Node,
    Run,
    RunStatus,
    utcnow,
)
from schedkit.store._upgrade import (
    UPGRADE_KEY,
    UpgradeCheck,
    live_nodes,
    outdated,
    refuse_upgrade,
    upgrade_check,
    upgrade_record,
)
from schedkit.store.base import Store
from schedkit.store.mongo.codec import (
    Doc,
    decode_node,
    decode_run,
    run_sidecar_keys,
    state_doc,
    to_us,
)
from schedkit.store.mongo.indexes import INDEXES, Index
from schedkit.store.options import MONGO_OPTIONS
from schedkit.store.refusals import mongo_refusal
from schedkit.store.urls import MONGO_SCHEMES, describe_url, mask_url, mongo_database

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
    "workflow_runs": "schedkit_workflow_runs",
    "run_rollups": "schedkit_run_rollups",
}

#: Version of the index set below; stored in the meta collection. Raise it whenever
#: ``INDEXES`` changes: ``open`` then brings an older database up to date in place.
INDEX_VERSION = 5
#: The oldest index version whose code keeps working on a database at ``INDEX_VERSION``
#: (code of an older one refuses to start on it anyway): 5, the rollups, as code before
#: them finishes and purges runs without marking their hours (``rollups.py``). Raise it
#: to a new ``INDEX_VERSION`` that older code cannot work with: that upgrade then waits
#: until no node is alive on the store (``store._upgrade``).
COMPATIBLE_FROM = 5

DUPLICATE_KEY = 11000
_INDEX_NOT_FOUND = 27
_SCHEMA_ID = "schema"
# Prefix of the index names schedkit owns (and may drop when they are no longer wanted).
_OWN_INDEX = "sk_"
PURGE_BATCH = 1000
# claim_runs gives up after this many candidate queries (callers poll again anyway).
CLAIM_QUERIES = 4
# request_cancel waits this long for a run that another caller is moving out of
# ``pending`` (a claim, usually) before deciding how to cancel it.
SETTLE_TRIES = 20
SETTLE_DELAY = 0.05
MAX_LOCK_DELAY = 0.1
# Update statements per command: FerretDB v1 (1.24) never answers an ``update`` command
# holding 100 or more single-document updates (multi: false); 99 pass in milliseconds.
WRITE_BATCH = 50
# Characters of result + error JSON a finish fence keeps once the run is written.
FENCE_PAYLOAD_KEPT = 16_384

PENDING = RunStatus.PENDING.value
RUNNING = RunStatus.RUNNING.value
CLAIM_ORDER: list[tuple[str, int]] = [("priority", -1), ("not_before", 1), ("_id", 1)]
HISTORY_ORDER: list[tuple[str, int]] = [("scheduled_for", -1), ("_id", -1)]


@dataclasses.dataclass(frozen=True, slots=True)
class Collections:
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
    workflow_runs: AsyncCollection[Doc]
    run_rollups: AsyncCollection[Doc]


_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="MongoBase")


def translate_errors(
    method: Callable[Concatenate[_S, _P], Awaitable[_R]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    """Driver errors as schedkit's: unreachable server → StoreUnavailableError (callers
    back off and retry), a missing privilege → StoreRefusedError, any other server
    error → StoreError."""

    @functools.wraps(method)
    async def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        except ConnectionFailure as error:
            raise StoreUnavailableError(f"store {self.display_url} unavailable: {error}") from error
        except PyMongoError as error:
            code = error.code if isinstance(error, OperationFailure) else None
            refused = mongo_refusal(code, self.display_url, str(error))
            raise refused or StoreError(f"store {self.display_url} failed: {error}") from error

    return wrapper


def clock_us() -> int:
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


class MongoBase(Store):
    """The shared state of the MongoDB store (see :class:`schedkit.store.mongo.MongoStore`)."""

    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        collections: Mapping[str, str] | None = None,
        server_selection_timeout: float = 5.0,
        socket_timeout: float = 60.0,
        recover_after: float = 30.0,
        **unknown: Any,
    ) -> None:
        self.display_url = mask_url(url)
        if unknown:
            known = ", ".join(sorted(MONGO_OPTIONS))
            raise ConfigError(
                f"unknown MongoDB store option(s) {', '.join(sorted(unknown))}; known: {known}"
            )
        parts = urlsplit(url)
        if parts.scheme not in MONGO_SCHEMES:
            raise ConfigError(f"store URL {self.display_url!r} is not a mongodb:// URL")
        self._url = url
        self._database = _check_name("database", mongo_database(url, database), '/\\. "$')
        self.display_url = describe_url(url, {"database": database})
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
        in_url = {key.lower() for key, _ in parse_qsl(parts.query)}
        # A socket timeout bounds a call on a connection cut silently (a firewall dropping
        # packets): without one it hangs until TCP gives up, many minutes later.
        given = {
            "serverSelectionTimeoutMS": _positive(
                "server_selection_timeout", server_selection_timeout
            ),
            "socketTimeoutMS": _positive("socket_timeout", socket_timeout),
        }
        # What the URL sets wins.
        self._client_options: Doc = {
            key: seconds * 1000 for key, seconds in given.items() if key.lower() not in in_url
        }
        self._recover_after = _positive("recover_after", recover_after)
        self._recover_after_us = int(self._recover_after * 1_000_000)
        self._client: AsyncMongoClient[Doc] | None = None
        self._collections: Collections | None = None

    @property
    def _c(self) -> Collections:
        if self._collections is None:
            raise StoreClosedError(f"store {self.display_url} is not open (call open() first)")
        return self._collections

    # -- lifecycle -------------------------------------------------------------------

    async def open(self, *, create: bool = True, upgrade: UpgradeCheck | bool = True) -> None:
        if self._client is not None:
            return
        try:
            client: AsyncMongoClient[Doc] = AsyncMongoClient(
                self._url, appname="schedkit", **self._client_options
            )
        except (ConfigurationError, ValueError) as error:
            # pymongo's URL parser raises ValueError for a port that is no number (or out
            # of range) and ConfigurationError for the rest.
            raise ConfigError(f"bad MongoDB store URL {mask_url(self._url)!r}: {error}") from None
        try:
            await client.admin.command("ping")
            db = client[self._database]
            collections = Collections(**{kind: db[name] for kind, name in self._names.items()})
            check = upgrade_check(upgrade)
            self.found_version, version = await self._migrate(collections, create, check)
            self.code_version = INDEX_VERSION
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

    @translate_errors
    async def ping(self) -> None:
        await self._c.meta.database.client.admin.command("ping")

    @translate_errors
    async def server_time(self) -> datetime | None:
        reply = await self._c.meta.database.client.admin.command("hello")
        value = reply.get("localTime")
        if not isinstance(value, datetime):
            return None
        # Without tz_aware the driver hands back naive datetimes, in UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @translate_errors
    async def schema_version(self) -> int:
        return await stored_version(self._c)

    async def _migrate(
        self, c: Collections, create: bool, check: UpgradeCheck | None
    ) -> tuple[int, int]:
        """Bring the indexes to :data:`INDEX_VERSION` (idempotent), and the documents
        (:meth:`_upgrade_documents`) before the version is recorded; the version found
        (0: a new database) and the one now. ``check`` None (a read): an older database
        raises StoreOutdatedError, and nothing is written. An upgrade from before
        :data:`COMPATIBLE_FROM` is refused first, changing nothing, while nodes are
        alive on the store (``check``)."""
        stored = await stored_version(c)
        if stored > INDEX_VERSION:
            # Unlike the SQL store's, the version records no compatible_from: what a
            # newer release changed is unknown here, so no newer database is opened.
            raise StoreError(
                f"store {self.display_url} is at index version {stored}, newer than this "
                f"release's {INDEX_VERSION}: this release refuses to run on it; upgrade "
                "schedkit"
            )
        if stored == 0:
            if not create:
                raise StoreNotFoundError(
                    f"store {self.display_url} holds no schedkit store (no schema document "
                    f"in collection {c.meta.name})"
                )
            await _refuse_foreign_schedules(c.schedules)
        elif check is None:
            if stored < INDEX_VERSION:
                raise outdated(
                    store=self.display_url,
                    kind="index",
                    found=stored,
                    target=INDEX_VERSION,
                    needs=COMPATIBLE_FROM,
                )
            return stored, stored
        nodes = None
        if check is not None and 0 < stored < COMPATIBLE_FROM:
            nodes = [decode_node(d) for d in await c.nodes.find().to_list()]
            if not check.ignore_live_nodes:
                await self._refuse_live_nodes(c, nodes, stored, check.lost_after)
        for kind, indexes in INDEXES.items():
            await _sync_indexes(getattr(c, kind), indexes)
        if stored < INDEX_VERSION:
            await self._upgrade_documents(c, stored)
            if nodes is not None:
                record = upgrade_record(
                    kind="index", found=stored, target=INDEX_VERSION, nodes=nodes
                )
                await _record_upgrade(c, record)
            doc = {"_id": _SCHEMA_ID, "version": INDEX_VERSION, "updated_at": clock_us()}
            await upsert(c.meta, doc)
            log.info(
                "upgraded store %s from index version %d to %d",
                self.display_url,
                stored,
                INDEX_VERSION,
            )
        return stored, INDEX_VERSION

    async def _refuse_live_nodes(
        self, c: Collections, nodes: list[Node], stored: int, lost_after: float
    ) -> None:
        if not nodes:
            return
        # The server's time: nodes whose clock is off write it (``scheduler.clock``).
        reply = await c.meta.database.client.admin.command("hello")
        now = reply.get("localTime")
        if isinstance(now, datetime):
            now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        else:
            now = utcnow()
        live = live_nodes(nodes, now, lost_after)
        if live:
            raise refuse_upgrade(
                store=self.display_url,
                kind="index",
                found=stored,
                target=INDEX_VERSION,
                needs=COMPATIBLE_FROM,
                live=live,
                lost_after=lost_after,
            )

    async def _upgrade_documents(self, c: Collections, stored: int) -> None:
        """What the documents of a database at index version ``stored`` need for this
        one: nothing here; a mixin whose documents a version changed extends it (and
        must be idempotent: a node stopped halfway leaves the old version recorded)."""

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
        if not docs:  # insert_many refuses an empty list
            return set()
        try:
            await collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if error.details.get("writeConcernErrors") or any(
                e.get("code") != DUPLICATE_KEY for e in errors
            ):
                raise
            failed = {e["index"] for e in errors}
            return {d["_id"] for i, d in enumerate(docs) if i not in failed}
        return {d["_id"] for d in docs}


async def stored_version(c: Collections) -> int:
    """The index version recorded in the meta collection (0: none yet)."""
    meta = await c.meta.find_one({"_id": _SCHEMA_ID})
    return int(meta["version"]) if meta is not None else 0


async def _record_upgrade(c: Collections, record: JSON) -> None:
    """Keep ``record`` under ``UPGRADE_KEY`` as ``set_state`` would (its versioned
    documents), before the new version is recorded: an upgrade stopped in between is done
    again by the next opener, which records it then."""
    key = UPGRADE_KEY
    current = await c.state.find_one({"key": key}, {"version": 1}, sort=[("version", -1)])
    version = (int(current["version"]) if current is not None else 0) + 1
    await upsert(c.state, state_doc(key, version, record, clock_us()))
    await c.state.delete_many({"key": key, "version": {"$lt": version}})


async def upsert(collection: AsyncCollection[Doc], doc: Doc) -> None:
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
