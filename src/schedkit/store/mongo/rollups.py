"""Run rollups in the MongoDB store (``store._rollups``): per task and hour of
``scheduled_for``, the aggregates of its finished runs, cached, and ``run_stats`` and
``run_counts_per_hour`` read from them.

Not counts kept by ``$inc`` as the SQL stores keep them in the finish transaction: a
run write here can be applied twice (fence recovery re-runs ``_write``), and on FerretDB
v1 an update is a read followed by a write of the whole document, so two writers'
increments of one document can lose one (or set it back), and a reader's write can undo
a writer's. So the run_rollups collection holds two kinds of documents, and none is
updated by two parties:

* a **cache** per (task, hour) (``cache_key``): the hour's rollup per status, written
  only by a reader holding the hour's lock, and ``valid`` once written whole;
* a **mark** per (task, hour) (``mark_key``): the hour's finished runs changed since
  its cache was computed. A writer inserts it after its run write (insert-if-absent: a
  mark already there stays, and a write applied twice marks twice, harmlessly); only a
  reader deletes it.

An hour is fresh when its cache is valid and it has no mark; its cache is then used as
is. A reader refreshes the stale hours of its window under their locks, in this order:
(1) set their caches invalid, (2) delete their marks, (3) read their finished runs,
(4) write their caches, valid, (5) check that it still holds their locks (one held past
``recover_after`` is broken as abandoned) and invalidate those it does not: another
reader may have refreshed them meanwhile, and a write after (5) can only be a later
holder's. The argument, per run write W of such an hour:

* W's mark was inserted (or found) before (2): W's run write came before it, so before
  (3), which counts it.
* Otherwise W's mark is inserted after (2) and outlives the refresh: the hour is stale
  again, and the next read counts W (whether or not (3) saw it).
* A reader that stops between (1) and (4) leaves an invalid cache, stale to the next
  one. A writer that stops between its run write and its mark: a transition's mark is
  in its fence, and completing the fence writes the mark too (``fences._write``); an
  insert of finished runs marks all of a batch, so the batch sent again marks it; a
  purge marks before its delete as well as after.

Readers of one hour take turns by its lock document (``fences._take_locks``): a reader's
steps 1 to 4 see no other reader's writes, or its step 5 invalidates; an hour another
reader holds is counted from its runs, not cached. A cache may so lag the runs only
while a mark or its ``valid`` flag says so, and no reader answers from such a cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import DeleteOne, ReplaceOne

from schedkit.models import HourlyRunCount, TaskStats, new_id
from schedkit.store._rollups import (
    HOUR,
    Rollup,
    WindowAggregate,
    add_rows,
    approximate_stats,
    encode_histogram,
    hourly_counts,
    hours_span,
    period_ceil,
)
from schedkit.store.mongo.base import (
    PENDING,
    RUNNING,
    WRITE_BATCH,
    Collections,
    translate_errors,
)
from schedkit.store.mongo.codec import Doc, from_us, to_us
from schedkit.store.mongo.fences import FencesMixin
from schedkit.store.mongo.rollup_marks import (
    CACHE,
    FINISHED,
    HOUR_US,
    MARK,
    Hour,
    cache_key,
    hour_of,
    mark_docs,
    mark_key,
    run_hour,
)
from schedkit.store.values import RollupRebuild

log = logging.getLogger(__name__)

#: The index version that brought rollups: an older database gets its history marked.
ROLLUPS_VERSION = 5
#: Hours refreshed per round of lock, invalidate, unmark, read, write, unlock: each
#: round reads the runs of its hours in one query (a 7-day window of 20 tasks is 3,360).
REFRESH_BATCH = 5000
#: Marks inserted per command when an older database's history is marked.
MARK_BATCH = 1000
#: Finished runs scanned between two progress lines of that.
PROGRESS_EVERY = 100_000

#: One rollup as ``_rollups.add_rows`` reads it.
Row = tuple[str, str, str, int, int, float | None, bytes | None]
PerStatus = dict[str, Rollup]


class RollupsMixin(FencesMixin):
    async def _rollup_stats(self, since: datetime, task_name: str | None) -> list[TaskStats]:
        """``run_stats`` from the rollups: the runs not finished counted from the runs,
        the window's partial first hour read run by run, every hour from the next one
        on from its cache (refreshed first if stale)."""
        since_us, hour = to_us(since), to_us(period_ceil(since, HOUR))
        of_task: Doc = {} if task_name is None else {"task_name": task_name}
        # One query for both (two index ranges on MongoDB): FerretDB v1 reads the whole
        # collection for any query on it, and this is the read's only one of the runs.
        # The runs not finished come one by one: few in a healthy store.
        parts: list[Doc] = [
            {"status": {"$in": [PENDING, RUNNING]}, "scheduled_for": {"$gte": since_us}}
        ]
        if since_us < hour:
            edge = {"$gte": since_us, "$lt": hour}
            parts.append({"status": {"$in": sorted(FINISHED)}, "scheduled_for": edge})
        projection = {"_id": 0, "task_name": 1, "status": 1, "duration": 1}
        window_runs, stored = await asyncio.gather(
            self._c.runs.find({"$or": parts, **of_task}, projection).to_list(),
            self._c.run_rollups.find({"hour": {"$gte": hour}, **of_task}).to_list(),
        )
        tasks: dict[str, WindowAggregate] = {}
        add_rows(tasks, map(_window_row, window_runs))
        fresh, refreshed = await self._fresh_hours(stored)
        add_rows(tasks, (row for d in fresh for row in _cached(d)))
        add_rows(tasks, (row for key, found in refreshed.items() for row in _rows(key, found)))
        return approximate_stats(tasks)

    @translate_errors
    async def run_counts_per_hour(self, since: datetime, until: datetime) -> list[HourlyRunCount]:
        start, end = hours_span(since, until)
        span = {"$gte": to_us(start), "$lt": to_us(end)}
        active = {"status": {"$in": [PENDING, RUNNING]}, "scheduled_for": span}
        projection = {"_id": 0, "status": 1, "scheduled_for": 1}
        window_runs, stored = await asyncio.gather(
            self._c.runs.find(active, projection).to_list(),
            self._c.run_rollups.find({"hour": span}).to_list(),
        )
        fresh, refreshed = await self._fresh_hours(stored)
        rows = [(hour_of(d["scheduled_for"]), d["status"], 1) for d in window_runs]
        rows += [(d["hour"], s["status"], s["runs"]) for d in fresh for s in d["statuses"]]
        rows += [
            (hour, status, r.runs)
            for (_, hour), found in refreshed.items()
            for status, r in found.items()
        ]
        return hourly_counts((from_us(hour), status, n) for hour, status, n in rows)

    async def _fresh_hours(self, stored: Iterable[Doc]) -> tuple[list[Doc], dict[Hour, PerStatus]]:
        """The hours of the rollup documents ``stored`` (caches and marks): the caches
        usable as they are, and the rollups of the other hours, refreshed."""
        caches: dict[Hour, Doc] = {}
        stale: set[Hour] = set()
        for d in stored:
            key = (d["task_name"], d["hour"])
            if d["kind"] == MARK or not d["valid"]:
                stale.add(key)
            else:
                caches[key] = d
        fresh = [d for key, d in caches.items() if key not in stale]
        return fresh, await self._refresh(stale)

    async def _refresh(self, hours: Collection[Hour]) -> dict[Hour, PerStatus]:
        """The rollups of ``hours`` counted from their runs, and cached where this
        caller gets the hour's lock (the module docstring's steps 1 to 5)."""
        # By hour, then task: a batch spans few hours of every task, so the runs each
        # batch reads are not read again by the next (after an upgrade, every hour of a
        # 7-day window of 20 tasks is stale at once).
        ordered = sorted(hours, key=lambda h: (h[1], h[0]))
        found: dict[Hour, PerStatus] = {}
        for start in range(0, len(ordered), REFRESH_BATCH):
            batch = ordered[start : start + REFRESH_BATCH]
            owner = new_id()
            taken = await self._take_locks([_lock(h) for h in batch], owner)
            try:
                mine = [h for h in batch if _lock(h) in taken]
                if mine:
                    await self._invalidate(mine)
                    marks = {"_id": {"$in": [mark_key(h) for h in mine]}}
                    await self._c.run_rollups.delete_many(marks)
                counted = await self._count_hours(batch)
                if mine:
                    await self._store_caches({h: counted.get(h, {}) for h in mine})
                    await self._invalidate(await self._locks_lost(mine, owner))
                found |= counted
            finally:
                await self._unlock(taken, owner)
        return found

    async def _invalidate(self, hours: Collection[Hour]) -> None:
        if hours:
            caches = {"_id": {"$in": [cache_key(h) for h in hours]}}
            await self._c.run_rollups.update_many(caches, {"$set": {"valid": False}})

    async def _locks_lost(self, hours: Sequence[Hour], owner: str) -> list[Hour]:
        """Those of ``hours`` whose lock ``owner`` no longer holds: broken as abandoned
        (a refresh slower than ``recover_after``), so another reader may have cached a
        newer count before this one wrote. Their caches are then invalidated: anyone's
        write after this check is a later lock holder's, and so newer."""
        ids = [f"lock:{_lock(h)}" for h in hours]
        query = {"_id": {"$in": ids}, "owner": owner}
        held = {d["_id"] for d in await self._c.claims.find(query, {"_id": 1}).to_list()}
        lost = [h for h, lock in zip(hours, ids, strict=True) if lock not in held]
        if lost:
            log.warning(
                "store %s: %d rollup lock(s) broken during a refresh (slower than "
                "recover_after): their hours are recounted by the next read",
                self.display_url,
                len(lost),
            )
        return lost

    async def _count_hours(self, hours: Sequence[Hour]) -> dict[Hour, PerStatus]:
        """The rollups of ``hours`` from their finished runs (step 3), in one query: the
        runs of the hour ranges they span, those of other tasks dropped here."""
        wanted = set(hours)
        query: Doc = {"status": {"$in": sorted(FINISHED)}}
        ranges = [{"scheduled_for": {"$gte": a, "$lt": b}} for a, b in _ranges(wanted)]
        if len(ranges) == 1:
            query |= ranges[0]
        else:
            query["$or"] = ranges
        tasks = {task for task, _ in wanted}
        if len(tasks) == 1:
            query["task_name"] = next(iter(tasks))
        projection = {"task_name": 1, "scheduled_for": 1, "status": 1, "duration": 1}
        counted: dict[Hour, PerStatus] = {}
        for d in await self._c.runs.find(query, projection).to_list():
            key = run_hour(d)
            if key in wanted:
                per_status = counted.setdefault(key, {})
                per_status.setdefault(d["status"], Rollup()).add(d["duration"])
        return counted

    async def _store_caches(self, counted: Mapping[Hour, PerStatus]) -> None:
        """Write the caches (step 4); an hour left without runs has none. New caches
        go in one insert; those there already are replaced one by one (each one
        statement, and on FerretDB v1 each a read of the whole collection)."""
        docs = [_cache_doc(h, found) for h, found in counted.items() if found]
        new = await self._insert_new(self._c.run_rollups, docs) if docs else set()
        writes: list[ReplaceOne[Doc] | DeleteOne] = [
            ReplaceOne({"_id": d["_id"]}, d) for d in docs if d["_id"] not in new
        ]
        writes += [DeleteOne({"_id": cache_key(h)}) for h, found in counted.items() if not found]
        for start in range(0, len(writes), WRITE_BATCH):
            await self._c.run_rollups.bulk_write(writes[start : start + WRITE_BATCH], ordered=False)

    async def _upgrade_documents(self, c: Collections, stored: int) -> None:
        """A database from before rollups gets a mark for every hour of its history."""
        await super()._upgrade_documents(c, stored)
        if stored < ROLLUPS_VERSION:
            await self._mark_history(c)

    async def _mark_history(self, c: Collections) -> None:
        """Mark every (task, hour) holding finished runs: one pass over them, their
        task and time only; the first reads then count those hours."""
        await self._mark_hours(c, await self._finished_hours(c))

    async def _finished_hours(self, c: Collections) -> set[Hour]:
        """The (task, hour) of every finished run."""
        hours: set[Hour] = set()
        scanned = 0
        query = {"status": {"$in": sorted(FINISHED)}}
        async for d in c.runs.find(query, {"_id": 0, "task_name": 1, "scheduled_for": 1}):
            hours.add(run_hour(d))
            scanned += 1
            if scanned % PROGRESS_EVERY == 0:
                log.info("store %s: rollups: %d finished runs read", self.display_url, scanned)
        return hours

    async def _mark_hours(self, c: Collections, hours: Iterable[Hour]) -> None:
        keys = sorted(mark_key(h) for h in hours)
        for start in range(0, len(keys), MARK_BATCH):
            await self._insert_new(c.run_rollups, mark_docs(keys[start : start + MARK_BATCH]))
            log.info(
                "store %s: rollups: %d of %d hours marked",
                self.display_url,
                min(start + MARK_BATCH, len(keys)),
                len(keys),
            )

    @translate_errors
    async def rebuild_rollups(self) -> RollupRebuild:
        """Mark every hour with a rollup document or finished runs, then refresh them
        all (the module docstring's steps 1 to 5, under the hours' locks). Only marks
        are written besides what a reader writes, so a concurrent run write is safe as
        it is with any reader: its mark is either deleted before the refresh reads its
        hour's runs (which counts it) or left for the next read. The marks also cover
        the two ways a cache escapes the protocol: one left valid but wrong, and an hour
        whose runs no document points at (both: runs written by code before rollups)."""
        started = time.monotonic()
        c = self._c
        shown: dict[Hour, int] = {}
        stale: set[Hour] = set()
        for d in await c.run_rollups.find({}).to_list():
            key = (d["task_name"], d["hour"])
            if d["kind"] == MARK or not d["valid"]:
                stale.add(key)
            else:
                shown[key] = sum(s["runs"] for s in d["statuses"])
        hours = set(shown) | stale | await self._finished_hours(c)
        await self._mark_hours(c, hours)
        runs_of = {
            h: n
            for h, found in (await self._refresh(hours)).items()
            if (n := sum(r.runs for r in found.values()))
        }
        # Before: what a read would have counted (a stale hour is recounted by any read).
        before = sum(n for h, n in shown.items() if h not in stale)
        before += sum(runs_of.get(h, 0) for h in stale)
        return RollupRebuild(
            tasks=len({task for task, _ in runs_of}),
            hours=len(runs_of),
            runs=sum(runs_of.values()),
            runs_before=before,
            seconds=time.monotonic() - started,
        )


def _window_row(d: Mapping[str, Any]) -> Row:
    """A run of the window read one by one: finished (``e``) or counted only (``a``)."""
    kind = "e" if d["status"] in FINISHED else "a"
    return kind, d["task_name"], d["status"], 1, 0, d["duration"], None


def _lock(hour: Hour) -> str:
    return f"rollup:{cache_key(hour)}"


def _ranges(hours: Iterable[Hour]) -> Iterator[tuple[int, int]]:
    """The spans of consecutive hours among ``hours`` (µs, end excluded)."""
    starts = sorted({h for _, h in hours})
    first = previous = starts[0]
    for h in starts[1:]:
        if h != previous + HOUR_US:
            yield first, previous + HOUR_US
            first = h
        previous = h
    yield first, previous + HOUR_US


def _cache_doc(hour: Hour, found: PerStatus) -> Doc:
    return {
        "_id": cache_key(hour),
        "kind": CACHE,
        "task_name": hour[0],
        "hour": hour[1],
        "valid": True,
        "statuses": [
            {
                "status": status,
                "runs": r.runs,
                "timed": r.timed,
                "duration_sum": r.duration_sum,
                "histogram": encode_histogram(r.compacted()),
            }
            for status, r in sorted(found.items())
        ],
    }


def _cached(d: Mapping[str, Any]) -> Iterator[Row]:
    for s in d["statuses"]:
        yield (
            "r",
            d["task_name"],
            s["status"],
            s["runs"],
            s["timed"],
            s["duration_sum"],
            s["histogram"],
        )


def _rows(hour: Hour, found: PerStatus) -> Iterator[Row]:
    for status, r in found.items():
        yield "r", hour[0], status, r.runs, r.timed, r.duration_sum, encode_histogram(r.compacted())
