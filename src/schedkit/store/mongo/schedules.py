"""Schedules in the MongoDB store: compare-and-set writes under the schedule's lock
document, the leader's reads and advances, and the tick's write (with its runs)."""

from __future__ import annotations

import asyncio
from collections.abc import (
    Sequence,
)
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
)

from schedkit.errors import ScheduleConflictError, ScheduleLimitError, StoreError
from schedkit.models import (
    Run,
    Schedule,
    ScheduleCounts,
    new_id,
)
from schedkit.store._common import (
    FIRED_SOURCES,
    NOT_STARTED,
    check_new_schedules,
    check_replacements,
    check_schedule_version,
    count_inserted,
    is_planned_state,
    planned_from,
    recounts,
    still_current,
)
from schedkit.store.mongo.base import (
    DUPLICATE_KEY,
    WRITE_BATCH,
    translate_errors,
)
from schedkit.store.mongo.codec import (
    Doc,
    decode_schedule,
    encode_run,
    encode_schedule,
    from_us,
    opt_dt,
    opt_us,
    to_us,
)
from schedkit.store.mongo.fences import FencesMixin
from schedkit.store.mongo.leases import LeasesMixin
from schedkit.store.values import (
    FireRecord,
    LeaseFence,
    ScheduleAdvance,
)

#: Schedules per insert (and per id check) of a bulk insert.
INSERT_BATCH = 1000
#: The lock bounded creates hold across their count and inserts (see Store).
ROOM = "schedule-room"


class SchedulesMixin(LeasesMixin, FencesMixin):
    # -- schedules -------------------------------------------------------------------

    @translate_errors
    async def put_schedule(
        self, schedule: Schedule, *, expected_version: int, max_schedules: int | None = None
    ) -> None:
        check_schedule_version(schedule, expected_version)
        doc = encode_schedule(schedule)
        bounded = expected_version == 0 and max_schedules is not None
        # Every writer of a schedule holds its lock: the version read here is still the
        # stored one when the write lands. A bounded create holds the room's too.
        async with self._locked(_lock_name(schedule.id), *([ROOM] if bounded else [])) as owner:
            if expected_version == 0:
                await self._check_room(1, max_schedules)
            actual = await self._version_of(schedule.id)
            expected = expected_version if expected_version else None
            if actual != expected:
                raise ScheduleConflictError(schedule.id, expected_version, actual)
            if actual is None:
                try:
                    await self._c.schedules.insert_one(doc)
                except DuplicateKeyError:  # a writer whose lock was broken as stale
                    found = await self._version_of(schedule.id)
                    raise ScheduleConflictError(schedule.id, expected_version, found) from None
                if bounded and not await self._still_locked(ROOM, owner):
                    await self._undo_inserts([schedule], [schedule.id])
                    raise self._room_lost()
            else:
                # An advance cannot land meanwhile: the tick's write holds this lock too.
                await self._c.schedules.update_one({"_id": schedule.id}, _replacing(schedule))
        if expected_version:
            await self._settle_queued([schedule.id])

    @translate_errors
    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        doc = await self._c.schedules.find_one({"_id": schedule_id})
        return decode_schedule(doc) if doc is not None else None

    @translate_errors
    async def insert_schedules(
        self, schedules: Sequence[Schedule], *, max_schedules: int | None = None
    ) -> None:
        """No multi-document transaction (FerretDB has none): the ids are checked first,
        then inserted in ordered batches; when a batch fails (an id created meanwhile, a
        lost server), the documents this call inserted that are still at the version it
        inserted are deleted again before the error is raised. Readers may see part of the batch
        until then, and a process killed halfway leaves the batches it wrote (an import
        run again then reports their ids as existing). Bounded (``max_schedules``): the
        room's lock is held from the count to the last batch, and checked (its age
        renewed) after each batch (see Store)."""
        check_new_schedules(schedules)
        if not schedules:
            return
        if max_schedules is None:
            await self._insert_all(schedules, None)
            return
        async with self._locked(ROOM) as owner:
            await self._check_room(len(schedules), max_schedules)
            await self._insert_all(schedules, owner)

    async def _insert_all(self, schedules: Sequence[Schedule], room: str | None) -> None:
        """:meth:`insert_schedules`' checks and inserts; ``room``: the owner of the
        room's lock, held by a bounded insert."""
        ids = sorted(schedule.id for schedule in schedules)
        for start in range(0, len(ids), INSERT_BATCH):
            chunk = ids[start : start + INSERT_BATCH]
            doc = await self._c.schedules.find_one(
                {"_id": {"$in": chunk}}, {"version": 1}, sort=[("_id", 1)]
            )
            if doc is not None:
                raise ScheduleConflictError(doc["_id"], 0, int(doc["version"]))
        docs = [encode_schedule(schedule) for schedule in schedules]
        ours: list[str] = []  # ids this call may have inserted
        try:
            for start in range(0, len(docs), INSERT_BATCH):
                batch = docs[start : start + INSERT_BATCH]
                try:
                    await self._c.schedules.insert_many(batch, ordered=True)
                except BulkWriteError as error:
                    failures = error.details.get("writeErrors", [])
                    # Every document of the batch but the ones refused may be in:
                    # FerretDB goes on past the first failure of an "ordered" insert.
                    refused = {batch[int(e["index"])]["_id"] for e in failures}
                    ours += [d["_id"] for d in batch if d["_id"] not in refused]
                    if not failures or {e.get("code") for e in failures} != {DUPLICATE_KEY}:
                        raise
                    first = batch[int(failures[0]["index"])]["_id"]
                    found = await self._version_of(first)
                    raise ScheduleConflictError(first, 0, found) from None
                except BaseException:
                    ours += [d["_id"] for d in batch]  # a lost reply: any of it may be in
                    raise
                ours += [d["_id"] for d in batch]
                if room is not None and not await self._still_locked(ROOM, room):
                    raise self._room_lost()
        except BaseException:
            await self._undo_inserts(schedules, ours)
            raise

    async def _check_room(self, adding: int, limit: int | None) -> None:
        """ScheduleLimitError when ``adding`` more schedules would pass ``limit`` (the
        caller holds the room's lock)."""
        if limit is None:
            return
        stored = await self._c.schedules.count_documents({})
        if stored + adding > limit:
            raise ScheduleLimitError(stored, adding, limit)

    def _room_lost(self) -> StoreError:
        return StoreError(
            f"store {self.display_url}: a create bounded by max_schedules stalled past "
            "recover_after and lost its lock to another; what it inserted was deleted"
        )

    async def _undo_inserts(self, schedules: Sequence[Schedule], ids: Sequence[str]) -> None:
        """Delete the schedules among ``schedules`` a failed :meth:`insert_schedules`
        inserted (``ids``), unless a user has changed one since (it is then theirs: at a
        later version than the one inserted)."""
        inserted = {schedule.id: schedule.version for schedule in schedules}
        by_version: dict[int, list[str]] = {}
        for sid in ids:
            by_version.setdefault(inserted[sid], []).append(sid)
        for version, same in by_version.items():
            for start in range(0, len(same), INSERT_BATCH):
                chunk = same[start : start + INSERT_BATCH]
                await self._c.schedules.delete_many({"_id": {"$in": chunk}, "version": version})

    @translate_errors
    async def replace_schedules(self, schedules: Sequence[Schedule]) -> None:
        """No multi-document transaction (FerretDB has none): the lock documents of every
        schedule are held (taken all at once, or none: two batches never wait on each
        other) across the version check and the writes, so no other writer of those
        schedules lands in between; when a write fails (a lost server), the schedules
        sent are set back to the documents read under the locks before the error is
        raised. Readers may see part of the batch until then, and a process killed
        halfway leaves the schedules it wrote at their new versions."""
        check_replacements(schedules)
        if not schedules:
            return
        ordered = sorted(schedules, key=lambda schedule: schedule.id)
        async with self._locked(*(_lock_name(schedule.id) for schedule in ordered)):
            ids = [schedule.id for schedule in ordered]
            stored = await self._c.schedules.find({"_id": {"$in": ids}}).to_list()
            before = {d["_id"]: d for d in stored}
            for schedule in ordered:
                found = before.get(schedule.id)
                actual = None if found is None else int(found["version"])
                if actual != schedule.version - 1:
                    raise ScheduleConflictError(schedule.id, schedule.version - 1, actual)
            sent: list[Schedule] = []  # written, or maybe (a lost reply)
            try:
                for start in range(0, len(ordered), WRITE_BATCH):
                    batch = ordered[start : start + WRITE_BATCH]
                    sent += batch
                    await self._c.schedules.bulk_write([_replacement(s) for s in batch])
            except BaseException:
                await self._c.schedules.bulk_write(
                    [_replacement(decode_schedule(before[s.id]), over=s.version) for s in sent]
                )
                raise
        await self._settle_queued([schedule.id for schedule in ordered])

    @translate_errors
    async def list_schedules(
        self, task_name: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Schedule]:
        query = {} if task_name is None else {"task_name": task_name}
        cursor = self._c.schedules.find(query).sort("_id", 1)
        if offset:
            cursor = cursor.skip(offset)
        if limit is not None:
            if limit <= 0:
                return []
            cursor = cursor.limit(limit)
        return [decode_schedule(d) for d in await cursor.to_list()]

    @translate_errors
    async def count_schedules(self, task_name: str | None = None) -> int:
        query = {} if task_name is None else {"task_name": task_name}
        return await self._c.schedules.count_documents(query)

    @translate_errors
    async def schedule_counts(self) -> list[ScheduleCounts]:
        # FerretDB v1's $group knows $sum and $count only: counts per (task, paused)
        # here, each task's earliest next fire by its own indexed query.
        pipeline: list[dict[str, object]] = [
            {"$group": {"_id": {"task": "$task_name", "paused": "$paused"}, "n": {"$sum": 1}}}
        ]
        counts: dict[str, list[int]] = {}
        for row in await (await self._c.schedules.aggregate(pipeline)).to_list():
            pair = counts.setdefault(row["_id"]["task"], [0, 0])
            pair[0] += int(row["n"])
            if row["_id"]["paused"]:
                pair[1] += int(row["n"])
        names = sorted(counts)
        firsts = await asyncio.gather(*(self._first_fire(name) for name in names))
        return [
            ScheduleCounts(
                task_name=name, total=counts[name][0], paused=counts[name][1], next_fire_time=nxt
            )
            for name, nxt in zip(names, firsts, strict=True)
        ]

    async def _first_fire(self, task_name: str) -> datetime | None:
        doc = await self._c.schedules.find_one(
            {"task_name": task_name, "paused": False, "next_fire_time": {"$ne": None}},
            {"next_fire_time": 1},
            sort=[("next_fire_time", 1)],
        )
        return opt_dt(doc["next_fire_time"]) if doc is not None else None

    @translate_errors
    async def delete_schedule(
        self, schedule_id: str, *, expected_version: int | None = None
    ) -> bool:
        async with self._locked(_lock_name(schedule_id)):
            if expected_version is not None:
                actual = await self._version_of(schedule_id)
                if actual is None:
                    return False
                if actual != expected_version:
                    raise ScheduleConflictError(schedule_id, expected_version, actual)
            result = await self._c.schedules.delete_one({"_id": schedule_id})
        return result.deleted_count == 1

    @translate_errors
    async def due_schedules(
        self, until: datetime, limit: int, *, task_name: str | None = None
    ) -> list[Schedule]:
        if limit <= 0:
            return []
        # $lte on a number never matches null (BSON type bracketing), so schedules with
        # no next fire are left out by the index range itself.
        query: dict[str, object] = {"paused": False, "next_fire_time": {"$lte": to_us(until)}}
        if task_name is not None:
            query["task_name"] = task_name
        cursor = self._c.schedules.find(query).sort([("next_fire_time", 1), ("_id", 1)])
        return [decode_schedule(d) for d in await cursor.limit(limit).to_list()]

    @translate_errors
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

    @translate_errors
    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        ids = sorted(set(schedule_ids))
        if not ids:
            return []
        docs = await self._c.schedules.find({"_id": {"$in": ids}}).to_list()
        return [decode_schedule(d) for d in docs]

    @translate_errors
    async def next_fire_time(self) -> datetime | None:
        doc = await self._c.schedules.find_one(
            {"paused": False, "next_fire_time": {"$ne": None}},
            {"next_fire_time": 1},
            sort=[("next_fire_time", 1)],
        )
        return opt_dt(doc["next_fire_time"]) if doc is not None else None

    @translate_errors
    async def advance_schedules(self, advances: Sequence[ScheduleAdvance]) -> int:
        if not advances:
            return 0
        owner = new_id()
        # A schedule a user is changing right now is left for the next tick: the user's
        # write bumps its version, so this advance would not apply anyway.
        taken = await self._take_locks(_lock_names(advances), owner)
        try:
            locked = [a for a in advances if _lock_name(a.schedule_id) in taken]
            return await self._advance_locked(locked, [0] * len(locked))
        finally:
            await self._unlock(taken, owner)

    @translate_errors
    async def record_fires(
        self,
        runs: Sequence[Run],
        advances: Sequence[ScheduleAdvance],
        *,
        fence: LeaseFence | None,
        now: datetime,
    ) -> FireRecord:
        """The tick holds the lock documents of all its schedules across the lease
        check, the version check, the inserts and the advances, so no ``put_schedule``
        or ``delete_schedule`` lands in between; a schedule a user holds locked is left
        out like one at another version (the leader re-reads it). Without
        multi-document transactions, the lease is checked after the locks are taken and
        before the first write: a lease lost before that writes nothing. A takeover
        landing during the tick's few round trips can let that one tick complete (on
        MongoDB and FerretDB alike), but the new leader cannot write the same schedules
        meanwhile (their locks are held) and the fencing key keeps each fire to one run.
        """
        if not runs and not advances:
            return FireRecord(inserted=[], advanced=0)
        owner = new_id()
        term = fence.term if fence is not None else None
        taken = await self._take_locks(_lock_names(advances), owner, term)
        try:
            if fence is not None and not await self._lease_held(fence, now):
                return FireRecord(inserted=[], advanced=0, fenced=True)
            wanted = {
                sid: state
                for sid, state in planned_from(advances).items()
                if _lock_name(sid) in taken
            }
            found = await self._c.schedules.find(
                {"_id": {"$in": sorted(wanted)}},
                {"version": 1, "run_count": 1, "last_fire_time": 1},
            ).to_list()
            last_fired = {
                d["_id"]: opt_dt(d.get("last_fire_time"))
                for d in found
                if is_planned_state(wanted, d["_id"], d["version"], int(d.get("run_count", 0)))
            }
            kept, moved = still_current(runs, advances, set(last_fired))
            docs = [encode_run(run) for run in kept]
            inserted = await self._insert_new(self._c.runs, docs) if docs else set()
            await self._release_if_ended(kept, inserted)
            await self._mark_runs(docs)
            counts = count_inserted(moved, inserted)
            recounted: dict[str, int] = {}
            for recount in recounts(kept, moved, inserted, last_fired):
                counts[recount.index] = recounted[
                    recount.schedule_id
                ] = await self._started_between(recount.schedule_id, recount.after, recount.until)
            advanced = await self._advance_locked(moved, counts)
            return FireRecord(
                inserted=[run.id for run in runs if run.id in inserted],
                advanced=advanced,
                recounted=recounted,
            )
        finally:
            await self._unlock(taken, owner)

    async def _started_between(
        self, schedule_id: str, after: datetime | None, until: datetime
    ) -> int:
        """How many of the schedule's fires after ``after`` up to ``until`` started a
        run (``_common.recounts``)."""
        fired: dict[str, int] = {"$lte": to_us(until)}
        if after is not None:
            fired["$gt"] = to_us(after)
        return await self._c.runs.count_documents(
            {
                "schedule_id": schedule_id,
                "scheduled_for": fired,
                "trigger_source": {"$in": [s.value for s in FIRED_SOURCES]},
                "status": {"$nin": [s.value for s in NOT_STARTED]},
            }
        )

    async def _advance_locked(self, advances: Sequence[ScheduleAdvance], counts: list[int]) -> int:
        """Version-checked advances of schedules whose locks the caller holds, each
        adding its count to ``run_count``."""
        ops = [
            UpdateOne(
                {"_id": a.schedule_id, "version": a.version},
                {
                    "$set": {
                        "next_fire_time": opt_us(a.next_fire_time),
                        "last_fire_time": opt_us(a.last_fire_time),
                    },
                    "$inc": {"run_count": count},
                },
            )
            for a, count in zip(advances, counts, strict=True)
        ]
        matched = 0
        # Ordered, as the SQL store applies them: in the order given. At most
        # WRITE_BATCH a command: FerretDB v1 never answers 100 (a tick advancing 100
        # schedules hung).
        for start in range(0, len(ops), WRITE_BATCH):
            chunk = ops[start : start + WRITE_BATCH]
            matched += (await self._c.schedules.bulk_write(chunk)).matched_count
        return matched

    async def _version_of(self, schedule_id: str) -> int | None:
        doc = await self._c.schedules.find_one({"_id": schedule_id}, {"version": 1})
        return int(doc["version"]) if doc is not None else None

    # -- runs ------------------------------------------------------------------------

    @translate_errors
    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        if not runs:
            return []
        # A duplicate fire_key (another node fired it) and a duplicate _id (a batch sent
        # again after a lost reply) are both skipped: insert-if-absent.
        docs = [encode_run(r) for r in runs]
        inserted = await self._insert_new(self._c.runs, docs)
        await self._release_if_ended(runs, inserted)
        # Runs stored finished (missed fires, imported history) count in the rollups:
        # all of them, inserted now or by this batch sent before (its marks then lost).
        await self._mark_runs(docs)
        return [r.id for r in runs if r.id in inserted]

    async def _release_if_ended(self, runs: Sequence[Run], inserted: set[Any]) -> None:
        """Release the runs just inserted queued behind a run that has ended already:
        its finish released its queue before they existed, and nothing else would."""
        blockers = {r.blocked_by for r in runs if r.blocked_by is not None and r.id in inserted}
        if not blockers:
            return
        # Read after the insert. A run's end writes its status before it releases its
        # queue (FencesMixin._write, whoever completes the change): either this read
        # sees the blocker ended and the release is made here, or the status is written
        # after this read, so after the insert, and that release finds the new runs.
        await self._release(await self._ended(sorted(blockers)))


def _lock_name(schedule_id: str) -> str:
    return f"schedule:{schedule_id}"


def _lock_names(advances: Sequence[ScheduleAdvance]) -> list[str]:
    return sorted({_lock_name(a.schedule_id) for a in advances})


def _replacing(schedule: Schedule) -> Doc:
    """The update writing every field of ``schedule`` but run_count (see
    Store.put_schedule)."""
    doc = encode_schedule(schedule)
    return {"$set": {k: v for k, v in doc.items() if k not in ("_id", "run_count")}}


def _replacement(schedule: Schedule, *, over: int | None = None) -> UpdateOne:
    """:func:`_replacing` of the stored schedule at version ``over`` (default: the
    version before its own)."""
    at = schedule.version - 1 if over is None else over
    return UpdateOne({"_id": schedule.id, "version": at}, _replacing(schedule))
