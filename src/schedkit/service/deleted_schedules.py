"""The versions of deleted schedules, so that a schedule's version never repeats for its id.

The firing node holds copies of the schedules it fires and reads one again only when its
version changes (:class:`schedkit.engine.window.FireWindow`), and the store applies a
tick's advance only at the version planned from. A schedule deleted and created again
under the same id at version 1 again was taken for the copy of the deleted one: it kept
firing the deleted trigger and kwargs (an audit: "every 6 seconds" said, every 2 s
fired with the old kwargs) until the lease moved or the schedule was edited. So each
deletion leaves the schedule's version in the key/value state (``schedule-deleted:<id>``:
``{"version": N, "at": ISO date-time}``) and a schedule created under that id starts at
N + 1.

An entry is needed only while a firing node may still hold the deleted copy (its fire
window drops a copy not due for two generations of ten minutes), so a purge
(``schedkit purge``) prunes those older than :data:`KEPT`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schedkit.models import Schedule, StateEntry
from schedkit.store.base import Store

PREFIX = "schedule-deleted:"

#: How long a deleted schedule's version is remembered at least.
KEPT = timedelta(days=1)

#: Tries of a write racing another deletion of the same id (each re-reads the entry).
_ATTEMPTS = 5


def deleted_key(schedule_id: str) -> str:
    """State key holding the version of the schedule last deleted under this id."""
    return f"{PREFIX}{schedule_id}"


async def remember_deleted(store: Store, schedule: Schedule, now: datetime) -> None:
    """Record ``schedule``'s version as deleted; called before the deletion, so that a
    schedule created as soon as it is gone finds it. The highest version wins: a slower
    deletion of an earlier version never lowers it."""
    key = deleted_key(schedule.id)
    for _ in range(_ATTEMPTS):
        entry = await store.get_state(key)
        if entry is not None and _version(entry) >= schedule.version:
            return
        value = {"version": schedule.version, "at": now.isoformat()}
        if await store.set_state(key, value, entry.version if entry is not None else 0):
            return


async def deleted_version(store: Store, schedule_id: str) -> int:
    """The version of the schedule last deleted under ``schedule_id`` (0: none known); a
    schedule created under it starts one above."""
    entry = await store.get_state(deleted_key(schedule_id))
    return _version(entry) if entry is not None else 0


async def deleted_versions(store: Store) -> dict[str, int]:
    """:func:`deleted_version` of every id known, in one read (a bulk import)."""
    return {e.key.removeprefix(PREFIX): _version(e) for e in await store.list_state(PREFIX)}


async def prune_deleted(store: Store, now: datetime) -> int:
    """Forget the versions of schedules deleted more than :data:`KEPT` before ``now``;
    returns how many."""
    before = now - KEPT
    pruned = 0
    for entry in await store.list_state(PREFIX):
        if datetime.fromisoformat(entry.value["at"]) < before:
            await store.delete_state(entry.key)
            pruned += 1
    return pruned


def _version(entry: StateEntry) -> int:
    return int(entry.value["version"])
