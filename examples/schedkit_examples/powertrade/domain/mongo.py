"""The MongoDB repository (the design document's setting: database ``exds``), with
pymongo's ``AsyncMongoClient``.

Documents hold the records' JSON form (dates as ``YYYY-MM-DD`` strings and datetimes as
fixed-width ISO 8601 UTC strings, both of which sort and compare correctly as strings)
with the key in ``_id``. No multi-document transactions are needed (FerretDB and a
stand-alone server have none): every multi-step write is ordered so that repeating it
after a crash completes it without duplicating anything:

* renewal: upsert the new contract by its derived id → insert the renewal record
  (unique ``_id`` = contract id + new start, plus a unique index on the pair) → mark the
  old contract renewed. Only the insert that creates the renewal record counts.
* archive: insert-if-absent into the archive by ``_id`` → delete the same ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from schedkit.store import mask_url
from schedkit_examples.powertrade.domain.models import (
    Contract,
    Customer,
    CustomerStatus,
    Record,
    Renewal,
    Settlement,
    StatusChange,
)
from schedkit_examples.powertrade.domain.repository import MODELS, TABLES, PowertradeRepository

__all__ = ["MongoRepository"]

Doc = dict[str, Any]
_DUPLICATE_KEY = 11000
_INSERT_CHUNK = 1000


def _renewal_key(contract_id: str, new_start: date) -> str:
    return f"{contract_id}|{new_start.isoformat()}"


def _doc_id(table: str, record: Record) -> str:
    if isinstance(record, Renewal):
        return _renewal_key(record.contract_id, record.new_start)
    return str(record.id)  # type: ignore[attr-defined]


def _to_doc(table: str, record: Record) -> Doc:
    return {"_id": _doc_id(table, record), **record.to_json()}


def _from_doc(table: str, doc: Doc) -> Record:
    return MODELS[table].from_json({k: v for k, v in doc.items() if k != "_id"})


class MongoRepository(PowertradeRepository):
    """powertrade on MongoDB (or a MongoDB-compatible server such as FerretDB)."""

    backend = "mongodb"

    def __init__(
        self,
        url: str,
        *,
        database: str = "exds",
        table_prefix: str = "pt_",
        server_selection_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._database_name = database
        self._prefix = table_prefix
        self._timeout_ms = int(server_selection_timeout * 1000)
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None
        self.display_url = f"{mask_url(url)} (database {database})"

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            self._url, serverSelectionTimeoutMS=self._timeout_ms, tz_aware=True
        )
        try:
            db = client[self._database_name]
            self._db = db
            await self._c("customers").create_index([("status", ASCENDING)])
            await self._c("contracts").create_index([("customer_id", ASCENDING)])
            await self._c("contracts").create_index([("end_date", ASCENDING)])
            # The renewal key: unique on the pair (also encoded in _id).
            await self._c("contract_renewals").create_index(
                [("contract_id", ASCENDING), ("new_start", ASCENDING)],
                unique=True,
                name="contract_new_start_unique",
            )
            await self._c("customer_status_history").create_index([("changed_at", ASCENDING)])
            for name in ("settlements", "settlements_archive"):
                await self._c(name).create_index([("day", ASCENDING), ("_id", ASCENDING)])
        except BaseException:
            self._db = None
            await client.close()
            raise
        self._client = client

    async def close(self) -> None:
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    def _c(self, table: str) -> AsyncCollection[Doc]:
        if self._db is None:
            raise RuntimeError(f"repository {self.display_url} is not open")
        return self._db[self._prefix + table]

    # -- generic -----------------------------------------------------------------------

    async def count(self, table: str) -> int:
        return await self._c(table).count_documents({})

    async def insert_many(self, table: str, records: Sequence[Record]) -> None:
        docs = [_to_doc(table, r) for r in records]
        for i in range(0, len(docs), _INSERT_CHUNK):
            await self._c(table).insert_many(docs[i : i + _INSERT_CHUNK], ordered=True)

    async def export(
        self, table: str, batch_size: int = 1000
    ) -> AsyncIterator[list[dict[str, Any]]]:
        last: str | None = None
        while True:
            query: Doc = {} if last is None else {"_id": {"$gt": last}}
            cursor = self._c(table).find(query).sort("_id", ASCENDING).limit(batch_size)
            docs = await cursor.to_list()
            if not docs:
                return
            last = docs[-1]["_id"]
            yield [_from_doc(table, d).to_json() for d in docs]

    async def clear(self) -> None:
        for table in TABLES:
            await self._c(table).delete_many({})

    async def _find(self, table: str, query: Doc, sort: list[tuple[str, int]]) -> list[Doc]:
        return await self._c(table).find(query).sort(sort).to_list()

    # -- customers ---------------------------------------------------------------------

    async def list_customers(self) -> list[Customer]:
        docs = await self._find("customers", {}, [("_id", ASCENDING)])
        return [Customer.from_json(d) for d in docs]

    async def get_customer(self, customer_id: str) -> Customer | None:
        doc = await self._c("customers").find_one({"_id": customer_id})
        return Customer.from_json(doc) if doc is not None else None

    async def set_customer_status(
        self,
        customer_id: str,
        expected: CustomerStatus,
        new: CustomerStatus,
        change: StatusChange,
    ) -> bool:
        result = await self._c("customers").update_one(
            {"_id": customer_id, "status": expected.value},
            {
                "$set": {
                    "status": new.value,
                    "status_changed_at": change.to_json()["changed_at"],
                }
            },
        )
        if result.modified_count != 1:
            return False
        await self._c("customer_status_history").insert_one(
            _to_doc("customer_status_history", change)
        )
        return True

    async def list_status_changes(self, customer_id: str | None = None) -> list[StatusChange]:
        query: Doc = {} if customer_id is None else {"customer_id": customer_id}
        docs = await self._find(
            "customer_status_history", query, [("changed_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [StatusChange.from_json(d) for d in docs]

    async def purge_status_history(self, changed_before: datetime) -> int:
        cut = StatusChange(
            id="",
            customer_id="",
            old_status=None,
            new_status="",
            reason="",
            changed_at=changed_before,
        ).to_json()["changed_at"]
        result = await self._c("customer_status_history").delete_many({"changed_at": {"$lt": cut}})
        return result.deleted_count

    # -- contracts ---------------------------------------------------------------------

    async def list_contracts(self, customer_id: str | None = None) -> list[Contract]:
        query: Doc = {} if customer_id is None else {"customer_id": customer_id}
        return [Contract.from_json(d) for d in await self._find("contracts", query, [("_id", 1)])]

    async def get_contract(self, contract_id: str) -> Contract | None:
        doc = await self._c("contracts").find_one({"_id": contract_id})
        return Contract.from_json(doc) if doc is not None else None

    async def contracts_ending_between(self, first: date, last: date) -> list[Contract]:
        query = {"end_date": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        docs = await self._find("contracts", query, [("end_date", 1), ("_id", 1)])
        return [Contract.from_json(d) for d in docs]

    async def renewal_candidates(self, ending_from: date, ending_until: date) -> list[Contract]:
        query = {
            "auto_renew": True,
            "renewed_to": None,
            "end_date": {"$gte": ending_from.isoformat(), "$lte": ending_until.isoformat()},
        }
        docs = await self._find("contracts", query, [("end_date", 1), ("_id", 1)])
        return [Contract.from_json(d) for d in docs]

    async def renew_contract(self, old: Contract, new: Contract, renewal: Renewal) -> bool:
        # 1. The new contract, keyed by its derived id: repeating this is a no-op.
        new_doc = _to_doc("contracts", new)
        # (DuplicateKeyError: a concurrent run upserted the same contract first.)
        with contextlib.suppress(DuplicateKeyError):
            await self._c("contracts").update_one(
                {"_id": new.id}, {"$setOnInsert": new_doc}, upsert=True
            )
        # 2. The renewal record decides who renewed (unique key).
        try:
            await self._c("contract_renewals").insert_one(_to_doc("contract_renewals", renewal))
            renewed = True
        except DuplicateKeyError:
            renewed = False
        # 3. Mark the old contract last, so that a crash before it leaves the contract a
        #    candidate and the next run completes steps 1-3 (both idempotent).
        await self._c("contracts").update_one({"_id": old.id}, {"$set": {"renewed_to": new.id}})
        return renewed

    async def list_renewals(self) -> list[Renewal]:
        docs = await self._find("contract_renewals", {}, [("contract_id", 1), ("new_start", 1)])
        return [Renewal.from_json(d) for d in docs]

    # -- settlements -------------------------------------------------------------------

    async def settlements_between(
        self, first: date, last: date, *, include_archive: bool = True
    ) -> list[Settlement]:
        names = ["settlements", "settlements_archive"] if include_archive else ["settlements"]
        query = {"day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        out: list[Settlement] = []
        for name in names:
            out.extend(Settlement.from_json(d) for d in await self._c(name).find(query).to_list())
        out.sort(key=lambda s: (s.day, s.id))
        return out

    async def count_settlements_before(self, day: date, *, archive: bool = False) -> int:
        name = "settlements_archive" if archive else "settlements"
        return await self._c(name).count_documents({"day": {"$lt": day.isoformat()}})

    async def archive_batch(self, before: date, batch_size: int) -> int:
        docs = (
            await self._c("settlements")
            .find({"day": {"$lt": before.isoformat()}})
            .sort([("day", ASCENDING), ("_id", ASCENDING)])
            .limit(batch_size)
            .to_list()
        )
        if not docs:
            return 0
        try:
            await self._c("settlements_archive").insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # Rows a crashed earlier attempt copied already: fine, anything else is not.
            others = [
                e for e in exc.details.get("writeErrors", []) if e.get("code") != _DUPLICATE_KEY
            ]
            if others:
                raise
        await self._c("settlements").delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        return len(docs)
