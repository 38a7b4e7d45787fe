"""Runs in the MongoDB store: reading them (sidecars merged in), claiming them,
heartbeats, progress, the reaper's read, purge, statistics and log lines."""

from __future__ import annotations

import asyncio
from collections.abc import (
    Sequence,
)
from datetime import datetime

from pymongo.errors import (
    DuplicateKeyError,
)

from schedkit.models import (
    FINISHED_STATUSES,
    JSON,
    STEP_CREATOR,
    LogLine,
    Run,
    RunFilter,
    TaskStats,
    TriggerSource,
    WorkflowStatus,
)
from schedkit.store._common import (
    claim_order,
    nothing_to_claim,
    offered_keys,
    stale_order,
)
from schedkit.store._stats import task_stats
from schedkit.store.mongo.base import (
    CLAIM_ORDER,
    CLAIM_QUERIES,
    HISTORY_ORDER,
    PENDING,
    PURGE_BATCH,
    RUNNING,
    clock_us,
    translate_errors,
)
from schedkit.store.mongo.codec import (
    Doc,
    Transition,
    cancel_key,
    claim_key,
    decode_log,
    dump_json,
    encode_log,
    executor_match,
    progress_key,
    run_query,
    to_us,
)
from schedkit.store.mongo.rollup_marks import Hour, mark_of, run_hour
from schedkit.store.mongo.rollups import RollupsMixin
from schedkit.store.values import Held


class RunsMixin(RollupsMixin):
    @translate_errors
    async def get_run(self, run_id: str) -> Run | None:
        doc = await self._c.runs.find_one({"_id": run_id})
        return (await self._load_runs([doc]))[0] if doc is not None else None

    @translate_errors
    async def list_runs(
        self, flt: RunFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Run]:
        if limit <= 0:
            return []
        cursor = self._c.runs.find(run_query(flt)).sort(HISTORY_ORDER)
        return await self._load_runs(await cursor.skip(offset).limit(limit).to_list())

    @translate_errors
    async def count_runs(self, flt: RunFilter | None = None) -> int:
        return await self._c.runs.count_documents(run_query(flt))

    @translate_errors
    async def last_finished_runs(self, task_names: Sequence[str]) -> dict[str, Run]:
        finished = sorted(status.value for status in FINISHED_STATUSES)
        names = sorted(set(task_names))

        async def latest(name: str) -> Doc | None:
            query = {"task_name": name, "status": {"$in": finished}}
            return await self._c.runs.find_one(query, sort=HISTORY_ORDER)

        docs = [d for d in await asyncio.gather(*(latest(n) for n in names)) if d is not None]
        return {run.task_name: run for run in await self._load_runs(docs)}

    @translate_errors
    async def active_runs(self, schedule_id: str) -> list[Run]:
        return (await self.active_runs_of([schedule_id]))[schedule_id]

    @translate_errors
    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        found: dict[str, list[Run]] = {sid: [] for sid in schedule_ids}
        if not found:
            return found
        query = {"schedule_id": {"$in": sorted(found)}, "status": {"$in": [PENDING, RUNNING]}}
        cursor = self._c.runs.find(query).sort([("scheduled_for", 1), ("_id", 1)])
        for run in await self._load_runs(await cursor.to_list()):
            found[run.schedule_id or ""].append(run)
        return found

    @translate_errors
    async def claim_runs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        task_names: Sequence[str] | None = None,
        labels: Sequence[str] = (),
        *,
        run_ids: Sequence[str] | None = None,
        executor: str | None = None,
    ) -> list[Run]:
        if nothing_to_claim(limit, task_names, run_ids):
            return []
        now_us = to_us(now)
        query: Doc = {
            "status": PENDING,
            "not_before": {"$lte": now_us},
            "blocked_by": None,
            # None: documents written before runs had labels (they require none).
            "labels": {"$in": [*offered_keys(labels), None]},
        }
        if task_names is not None:
            query["task_name"] = {"$in": list(task_names)}
        if executor is not None:
            query["executor"] = executor_match(executor)
        ids: Doc = {} if run_ids is None else {"$in": list(run_ids)}
        fields = {
            "status": RUNNING,
            "node_id": node_id,
            "started_at": now_us,
            "heartbeat_at": now_us,
        }
        won: list[tuple[Doc, Transition]] = []
        lost: list[str] = []
        tried: list[str] = []
        for _ in range(CLAIM_QUERIES):
            # Twice the runs wanted: losing some races to other claimers then costs no
            # new query. Exactly as many fences as still wanted are inserted at a time,
            # since a fence won is a run owned.
            window_size = 2 * (limit - len(won))
            if ids or tried:
                query["_id"] = {**ids, "$nin": tried} if tried else ids
            cursor = self._c.runs.find(query).sort(CLAIM_ORDER).limit(window_size)
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
                        from_status=PENDING,
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
        return sorted(claimed, key=claim_order)

    @translate_errors
    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> Held:
        if not run_ids:
            return {}
        now_us = to_us(now)
        running = await self._c.runs.find(
            {"_id": {"$in": list(run_ids)}, "status": RUNNING, "node_id": node_id},
            {"attempt": 1, "cancel_requested": 1},
        ).to_list()
        if not running:
            return {}
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
        requested = {d["run_id"] for d in cancels}
        return {d["_id"]: bool(d["cancel_requested"]) or d["_id"] in requested for d in running}

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
                from_status=PENDING,
                fields={"status": RUNNING, "node_id": node_id},
                node_id=node_id,
                heartbeat_at=now_us,
            ).fence(clock_us())
            for d in running
        ]
        await self._insert_new(self._c.claims, fences)

    @translate_errors
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

    @translate_errors
    async def stale_runs(self, stale_before: datetime, limit: int) -> list[Run]:
        if limit <= 0:
            return []
        # Few runs are running at a time (bounded by the nodes' slots): read them all,
        # with the heartbeats their claim documents hold.
        running = await self._c.runs.find({"status": RUNNING}).to_list()
        runs = await self._load_runs(running)
        stale = [r for r in runs if r.heartbeat_at is not None and r.heartbeat_at < stale_before]
        return sorted(stale, key=stale_order)[:limit]

    @translate_errors
    async def count_purgeable_runs(self, finished_before: datetime) -> int:
        purgeable = _purgeable(finished_before)
        total = await self._c.runs.count_documents(purgeable)
        steps = {**purgeable, "trigger_source": TriggerSource.WORKFLOW.value}
        docs = await self._c.runs.find(steps, _STEP_FIELDS).to_list()
        held = 0
        for start in range(0, len(docs), PURGE_BATCH):
            held += len(await self._held_steps(docs[start : start + PURGE_BATCH], finished_before))
        return total - held

    async def _held_steps(self, docs: Sequence[Doc], finished_before: datetime) -> set[str]:
        """The ids, among ``docs``, of the step runs whose workflow run a purge by
        ``finished_before`` keeps (``Store.purge_runs``): they stay with it."""
        owners: dict[str, str] = {}
        for d in docs:
            creator = d.get("created_by")
            step = d.get("trigger_source") == TriggerSource.WORKFLOW.value
            if step and isinstance(creator, str) and creator.startswith(STEP_CREATOR):
                owners[d["_id"]] = creator[len(STEP_CREATOR) :]
        if not owners:
            return set()
        kept_query: Doc = {
            "_id": {"$in": sorted(set(owners.values()))},
            "$or": [
                {"status": WorkflowStatus.RUNNING.value},
                {"finished_at": None},
                {"finished_at": {"$gte": to_us(finished_before)}},
            ],
        }
        found = await self._c.workflow_runs.find(kept_query, {"_id": 1}).to_list()
        kept = {d["_id"] for d in found}
        return {run_id for run_id, owner in owners.items() if owner in kept}

    @translate_errors
    async def purge_runs(self, finished_before: datetime) -> int:
        purgeable = _purgeable(finished_before)
        total = 0
        hours: set[Hour] = set()
        projection = {"task_name": 1, "scheduled_for": 1, **_STEP_FIELDS}
        # Step runs kept with their workflow run; left out of the next batches' query so
        # that a batch of them cannot be read again and again.
        held: set[str] = set()
        while True:
            query = {**purgeable, "_id": {"$nin": sorted(held)}} if held else purgeable
            found = await self._c.runs.find(query, projection).limit(PURGE_BATCH).to_list()
            if not found:
                break
            held_now = await self._held_steps(found, finished_before)
            held |= held_now
            batch = [d for d in found if d["_id"] not in held_now]
            ids = [d["_id"] for d in batch]
            if not ids:
                continue
            # Marked before the delete too: a purge stopped right after it finds these
            # runs no more when run again (see rollups.py).
            marks = [mark_of(d) for d in batch]
            await self._mark(marks)
            deleted = await self._c.runs.delete_many({"_id": {"$in": ids}, **purgeable})
            await self._mark(marks)
            hours.update(run_hour(d) for d in batch)
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
            if len(found) < PURGE_BATCH:
                break
        # Count the hours purged now: the caches of hours left empty go, and with them
        # the marks of old hours that no statistics window may ever read again.
        await self._refresh(hours)
        return total

    @translate_errors
    async def run_stats(
        self, since: datetime, task_name: str | None = None, *, exact: bool = False
    ) -> list[TaskStats]:
        if not exact:
            return await self._rollup_stats(since, task_name)
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

    @translate_errors
    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if lines:
            # Idempotent on (run_id, seq), the _id: a batch re-sent adds no duplicates.
            await self._insert_new(self._c.run_logs, [encode_log(line) for line in lines])

    @translate_errors
    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        if limit <= 0:
            return []
        cursor = self._c.run_logs.find({"run_id": run_id, "seq": {"$gt": after_seq}})
        return [decode_log(d) for d in await cursor.sort("seq", 1).limit(limit).to_list()]


#: What a purge reads of a run to tell a workflow step's run (``_held_steps``).
_STEP_FIELDS = {"trigger_source": 1, "created_by": 1}


def _purgeable(finished_before: datetime) -> Doc:
    """The runs a purge deletes: finished, and before ``finished_before``."""
    finished = sorted(s.value for s in FINISHED_STATUSES)
    return {"status": {"$in": finished}, "finished_at": {"$lt": to_us(finished_before)}}
