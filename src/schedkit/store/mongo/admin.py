"""Nodes, audit events, API tokens and the versioned key/value state in the MongoDB store."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from pymongo.errors import (
    DuplicateKeyError,
    OperationFailure,
)

from schedkit.models import (
    JSON,
    ApiToken,
    AuditEvent,
    Node,
    StateEntry,
)
from schedkit.store.base_admin import DRAIN_KEY
from schedkit.store.mongo.base import (
    PURGE_BATCH,
    clock_us,
    translate_errors,
    upsert,
)
from schedkit.store.mongo.codec import (
    audit_query,
    decode_audit,
    decode_node,
    decode_state,
    decode_token,
    encode_audit,
    encode_node,
    encode_token,
    state_doc,
    to_us,
)
from schedkit.store.mongo.fences import FencesMixin
from schedkit.store.refusals import MONGO_UNAUTHORIZED


class AdminMixin(FencesMixin):
    # -- nodes ---------------------------------------------------------------------------

    @translate_errors
    async def upsert_node(self, node: Node) -> None:
        # A node writes only its own document; delete_node racing with it just loses.
        await upsert(self._c.nodes, encode_node(node))

    @translate_errors
    async def list_nodes(self) -> list[Node]:
        return [decode_node(d) for d in await self._c.nodes.find().sort("_id", 1).to_list()]

    @translate_errors
    async def delete_node(self, node_id: str) -> bool:
        # The request first: were the second delete to fail, the record left makes the
        # leader's expiry try both again.
        await self._c.state.delete_many({"key": DRAIN_KEY + node_id})
        return (await self._c.nodes.delete_one({"_id": node_id})).deleted_count > 0

    # -- audit ---------------------------------------------------------------------------

    @translate_errors
    async def add_audit(self, event: AuditEvent) -> None:
        await self._c.audit.insert_one(encode_audit(event))

    @translate_errors
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

    @translate_errors
    async def count_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before: datetime | None = None,
    ) -> int:
        query = audit_query(actor, action, target)
        if before is not None:
            query["at"] = {"$lt": to_us(before)}
        return await self._c.audit.count_documents(query)

    @translate_errors
    async def purge_audit(self, before: datetime) -> int:
        # In batches of ids, as purge_runs: one delete of years of events held FerretDB's
        # SQLite backend (one writer) for its whole length.
        old = {"at": {"$lt": to_us(before)}}
        total = 0
        while True:
            batch = await self._c.audit.find(old, {"_id": 1}).limit(PURGE_BATCH).to_list()
            if not batch:
                return total
            ids = [d["_id"] for d in batch]
            total += (await self._c.audit.delete_many({"_id": {"$in": ids}})).deleted_count
            if len(batch) < PURGE_BATCH:
                return total

    # -- API tokens ------------------------------------------------------------------------

    @translate_errors
    async def put_token(self, token: ApiToken) -> None:
        doc = encode_token(token)
        async with self._locked(f"token:{token.id}"):
            await self._c.tokens.replace_one({"_id": token.id}, doc, upsert=True)

    @translate_errors
    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        doc = await self._c.tokens.find_one({"token_hash": token_hash})
        return decode_token(doc) if doc is not None else None

    @translate_errors
    async def list_tokens(self) -> list[ApiToken]:
        docs = await self._c.tokens.find().sort([("created_at", 1), ("_id", 1)]).to_list()
        return [decode_token(d) for d in docs]

    @translate_errors
    async def revoke_token(self, token_id: str) -> bool:
        async with self._locked(f"token:{token_id}"):
            result = await self._c.tokens.update_one({"_id": token_id}, {"$set": {"revoked": True}})
        return result.matched_count > 0

    @translate_errors
    async def touch_token(self, token_id: str, now: datetime) -> None:
        # Under the token's lock: on FerretDB this update would otherwise write back a
        # copy read before a concurrent revoke, un-revoking the token.
        last_used = {"$set": {"last_used_at": to_us(now)}}
        async with self._locked(f"token:{token_id}"):
            await self._c.tokens.update_one({"_id": token_id}, last_used)

    @translate_errors
    async def missing_privileges(self) -> list[str]:
        # A write probe per collection: an update and a delete of a document that does
        # not exist change nothing, and the server checks the privilege all the same.
        probe = {"_id": "schedkit-privilege-probe"}
        missing = []
        for field in dataclasses.fields(self._c):
            collection = getattr(self._c, field.name)
            try:
                await collection.update_one(probe, {"$set": {"probe": 1}})
                await collection.delete_one(probe)
            except OperationFailure as error:
                if error.code != MONGO_UNAUTHORIZED:
                    raise
                missing.append(
                    f"collection {collection.name}: writes refused ({error}); grant the "
                    "user the readWrite role on the database"
                )
        return missing

    # -- key/value state ---------------------------------------------------------------------

    @translate_errors
    async def get_state(self, key: str) -> StateEntry | None:
        doc = await self._c.state.find_one({"key": key}, sort=[("version", -1)])
        return decode_state(doc) if doc is not None else None

    @translate_errors
    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        current = await self._c.state.find_one({"key": key}, {"version": 1}, sort=[("version", -1)])
        if (int(current["version"]) if current is not None else 0) != expected_version:
            return False
        version, now = expected_version + 1, clock_us()
        try:
            await self._c.state.insert_one(state_doc(key, version, value, now))
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

    @translate_errors
    async def list_state(self, prefix: str) -> list[StateEntry]:
        # An index range on the key (every key starting with ``prefix`` sorts at or
        # after it), each key's latest version first (sk_key_version), cut off where
        # keys stop starting with the prefix.
        cursor = self._c.state.find({"key": {"$gte": prefix}}).sort([("key", 1), ("version", -1)])
        latest: dict[str, StateEntry] = {}
        async for doc in cursor:
            if not doc["key"].startswith(prefix):
                break
            latest.setdefault(doc["key"], decode_state(doc))
        return sorted(latest.values(), key=lambda entry: entry.key)

    @translate_errors
    async def delete_state(self, key: str) -> None:
        await self._c.state.delete_many({"key": key})
