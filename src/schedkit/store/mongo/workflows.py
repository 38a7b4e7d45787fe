"""Workflow runs in the MongoDB store, and reading several runs by id.

A workflow run is inserted once (a unique ``_id``: insert-if-absent). Its status is the
only thing that changes, and FerretDB's conditional updates are no compare-and-set (see
the package docstring), so a status change is written while holding the lock document
``lock:workflow:<id>``: the version is read and written under it, by one writer at a
time. Nothing else writes the document, so the update cannot undo another change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from schedkit.models import Run, TriggerSource, WorkflowRun, WorkflowStatus
from schedkit.store.mongo.base import translate_errors
from schedkit.store.mongo.codec import Doc, dump_json, from_us, opt_dt, opt_us, to_us
from schedkit.store.mongo.fences import FencesMixin

_ORDER: list[tuple[str, int]] = [("created_at", -1), ("_id", -1)]


def encode_workflow_run(w: WorkflowRun) -> Doc:
    return {
        "_id": w.id,
        "workflow": w.workflow,
        "definition": dump_json(w.definition),
        "trigger_source": w.trigger_source.value,
        "scheduled_for": to_us(w.scheduled_for),
        "status": w.status.value,
        "params": dump_json(w.params),
        "version": w.version,
        "created_at": to_us(w.created_at),
        "updated_at": to_us(w.updated_at),
        "finished_at": opt_us(w.finished_at),
        "created_by": w.created_by,
    }


def decode_workflow_run(d: Mapping[str, Any]) -> WorkflowRun:
    return WorkflowRun(
        id=d["_id"],
        workflow=d["workflow"],
        definition=json.loads(d["definition"]),
        trigger_source=TriggerSource(d["trigger_source"]),
        scheduled_for=from_us(d["scheduled_for"]),
        status=WorkflowStatus(d["status"]),
        params=json.loads(d["params"]),
        version=int(d["version"]),
        created_at=from_us(d["created_at"]),
        updated_at=from_us(d["updated_at"]),
        finished_at=opt_dt(d["finished_at"]),
        created_by=d["created_by"],
    )


def _query(workflow: str | None, statuses: frozenset[WorkflowStatus] | None) -> Doc:
    query: Doc = {}
    if workflow is not None:
        query["workflow"] = workflow
    if statuses is not None:
        query["status"] = {"$in": sorted(s.value for s in statuses)}
    return query


class WorkflowsMixin(FencesMixin):
    @translate_errors
    async def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        return await self._load_runs(await self._c.runs.find({"_id": {"$in": ids}}).to_list())

    @translate_errors
    async def insert_workflow_run(self, run: WorkflowRun) -> bool:
        inserted = await self._insert_new(self._c.workflow_runs, [encode_workflow_run(run)])
        return run.id in inserted

    @translate_errors
    async def get_workflow_run(self, run_id: str) -> WorkflowRun | None:
        doc = await self._c.workflow_runs.find_one({"_id": run_id})
        return decode_workflow_run(doc) if doc is not None else None

    @translate_errors
    async def list_workflow_runs(
        self,
        *,
        workflow: str | None = None,
        statuses: frozenset[WorkflowStatus] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WorkflowRun]:
        if limit <= 0:
            return []
        cursor = self._c.workflow_runs.find(_query(workflow, statuses)).sort(_ORDER)
        docs = await cursor.skip(offset).limit(limit).to_list()
        return [decode_workflow_run(d) for d in docs]

    @translate_errors
    async def count_workflow_runs(
        self, *, workflow: str | None = None, statuses: frozenset[WorkflowStatus] | None = None
    ) -> int:
        return int(await self._c.workflow_runs.count_documents(_query(workflow, statuses)))

    @translate_errors
    async def purge_workflow_runs(self, finished_before: datetime) -> int:
        query = _workflow_purgeable(finished_before)
        return int((await self._c.workflow_runs.delete_many(query)).deleted_count)

    @translate_errors
    async def count_purgeable_workflow_runs(self, finished_before: datetime) -> int:
        query = _workflow_purgeable(finished_before)
        return int(await self._c.workflow_runs.count_documents(query))

    @translate_errors
    async def set_workflow_status(
        self,
        run_id: str,
        *,
        expected_version: int,
        status: WorkflowStatus,
        finished_at: datetime | None,
        now: datetime,
    ) -> bool:
        async with self._locked(f"workflow:{run_id}"):
            doc = await self._c.workflow_runs.find_one({"_id": run_id}, {"version": 1})
            if doc is None or int(doc["version"]) != expected_version:
                return False
            fields = {
                "status": status.value,
                "finished_at": opt_us(finished_at),
                "updated_at": to_us(now),
                "version": expected_version + 1,
            }
            result = await self._c.workflow_runs.update_one(
                {"_id": run_id, "version": expected_version}, {"$set": fields}
            )
            return result.matched_count == 1


def _workflow_purgeable(finished_before: datetime) -> Doc:
    """The workflow runs a purge deletes: ended, and before ``finished_before``."""
    return {
        "status": {"$ne": WorkflowStatus.RUNNING.value},
        "finished_at": {"$lt": to_us(finished_before)},
    }
