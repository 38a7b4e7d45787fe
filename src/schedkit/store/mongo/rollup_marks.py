"""The writers' half of the MongoDB store's run rollups (``rollups.py`` has the protocol):
the keys of the rollup documents, and marking the hours whose finished runs a write
changed. A mark is only ever inserted (insert-if-absent) and, by a reader, deleted: no
update, so FerretDB's read-then-write updates cannot lose one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schedkit.models import FINISHED_STATUSES
from schedkit.store._rollups import HOUR
from schedkit.store.mongo.base import MongoBase
from schedkit.store.mongo.codec import Doc

#: (task name, start of the hour of ``scheduled_for`` in µs): one rollup's key.
Hour = tuple[str, int]

HOUR_US = HOUR * 1_000_000
FINISHED = frozenset(s.value for s in FINISHED_STATUSES)
MARK = "mark"
CACHE = "rollup"


def hour_of(scheduled_for_us: int) -> int:
    return scheduled_for_us - scheduled_for_us % HOUR_US


def run_hour(doc: Mapping[str, Any]) -> Hour:
    """The rollup key of a run document (its ``task_name`` and ``scheduled_for``)."""
    return doc["task_name"], hour_of(doc["scheduled_for"])


def mark_key(hour: Hour) -> str:
    """The ``_id`` of ``hour``'s mark; the hour first, so the task name needs no escaping."""
    return f"m|{hour[1]}|{hour[0]}"


def cache_key(hour: Hour) -> str:
    return f"r|{hour[1]}|{hour[0]}"


def mark_of(doc: Mapping[str, Any]) -> str:
    """The mark a transition of the run ``doc`` leaves (``Transition.rollup``)."""
    return mark_key(run_hour(doc))


def mark_docs(keys: Iterable[str]) -> list[Doc]:
    docs = []
    for key in sorted(set(keys)):
        _, hour, task_name = key.split("|", 2)
        docs.append({"_id": key, "kind": MARK, "task_name": task_name, "hour": int(hour)})
    return docs


class MarksMixin(MongoBase):
    async def _mark(self, keys: Iterable[str]) -> None:
        """Insert the marks ``keys`` (``mark_key``) that are not there yet, in one
        command: called after the run write that changed those hours."""
        docs = mark_docs(keys)
        if docs:
            await self._insert_new(self._c.run_rollups, docs)

    async def _mark_runs(self, docs: Iterable[Mapping[str, Any]], *, finished: bool = True) -> None:
        """Mark the hours of the run documents ``docs`` (those stored finished only,
        unless ``finished`` is false: a run that left a finished status)."""
        await self._mark(mark_of(d) for d in docs if not finished or d.get("status") in FINISHED)
