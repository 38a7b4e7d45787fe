"""Leases in the MongoDB store: one document per (name, term); only a term's holder
writes its document."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.errors import (
    DuplicateKeyError,
)

from schedkit.models import (
    Lease,
)
from schedkit.store.mongo.base import (
    MongoBase,
    translate_errors,
)
from schedkit.store.mongo.codec import (
    Doc,
    decode_lease,
    encode_lease,
    to_us,
)
from schedkit.store.values import (
    LeaseFence,
)


class LeasesMixin(MongoBase):
    # -- leases --------------------------------------------------------------------------

    @translate_errors
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

    @translate_errors
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

    @translate_errors
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

    @translate_errors
    async def get_lease(self, name: str) -> Lease | None:
        current = await self._current_lease(name)
        return decode_lease(current) if current is not None else None

    async def _lease_held(self, fence: LeaseFence, now: datetime) -> bool:
        """Whether ``fence`` holds at ``now``: its term is the lease's latest, held by its
        holder, unexpired (a takeover inserts a later term)."""
        current = await self._current_lease(fence.name)
        return (
            current is not None
            and current["term"] == fence.term
            and current["holder"] == fence.holder
            and current["expires_at"] > to_us(now)
        )

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
