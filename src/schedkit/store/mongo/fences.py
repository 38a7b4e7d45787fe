"""Run transitions, fences, locks and the release of blocked runs (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import (
    AsyncIterator,
    Collection,
    Sequence,
)

from pymongo import UpdateMany, UpdateOne

from schedkit.errors import StoreError
from schedkit.models import (
    OverlapPolicy,
    new_id,
)
from schedkit.store._common import waits_next
from schedkit.store.mongo.base import (
    MAX_LOCK_DELAY,
    PENDING,
    RUNNING,
    WRITE_BATCH,
    clock_us,
    log,
)
from schedkit.store.mongo.codec import (
    Doc,
    Transition,
    claim_key,
    dump_json,
)
from schedkit.store.mongo.rollup_marks import MarksMixin

#: Kind of the fence of a blocked run's release (deleted once written).
RELEASE = "release"
#: What settling a queued run reads of it.
_QUEUED_FIELDS = {"attempt": 1, "schedule_id": 1, "scheduled_for": 1, "blocked_by": 1}


class FencesMixin(MarksMixin):
    async def _begin(
        self, transitions: Sequence[Transition], *, recover: bool = True
    ) -> list[Transition]:
        """Insert the fences of ``transitions``; the ones inserted are the caller's to
        :meth:`_write`. A fence someone else has held for longer than ``recover_after``
        is completed on their behalf (unless ``recover`` is false: the caller will)."""
        if not transitions:
            return []
        # One fence per key: of two transitions of one run in a batch, the first counts.
        first: dict[str, Transition] = {}
        for t in transitions:
            first.setdefault(t.key, t)
        fences = [t.fence(clock_us()) for t in first.values()]
        inserted = await self._insert_new(self._c.claims, fences)
        held = [key for key in first if key not in inserted]
        if held and recover:
            await self._complete_abandoned(held)
        return [t for key, t in first.items() if key in inserted]

    async def _complete_abandoned(
        self, keys: Sequence[str], *, older_than: float | None = -1.0
    ) -> None:
        """Write the changes of those fences among ``keys`` held for longer than
        ``older_than`` seconds (default ``recover_after``; None: whatever their age, for
        a caller that knows their writer is gone)."""
        query: Doc = {"_id": {"$in": list(keys)}, "kind": {"$ne": "lock"}}
        age = self._recover_after if older_than is not None and older_than < 0 else older_than
        if age is not None:
            query["at"] = {"$lt": clock_us() - int(age * 1_000_000)}
        old = await self._c.claims.find(query).to_list()
        if not old:
            return
        # Written already, almost always: the write then matches nothing (a run never
        # returns to a (status, attempt) it left).
        transitions = [Transition.from_fence(d) for d in old]
        completed = await self._write(transitions)
        # A fence from before rollups names no mark: mark its run's hour from the run.
        unmarked = [
            d["run_id"] for d in old if "rollup" not in d and d["kind"] not in ("claim", RELEASE)
        ]
        if unmarked:
            runs = self._c.runs.find(
                {"_id": {"$in": unmarked}}, {"task_name": 1, "scheduled_for": 1}
            )
            await self._mark_runs(await runs.to_list(), finished=False)
        await self._drop_releases(transitions)
        # A release completed late may queue its run behind a run ended since.
        await self._release(await self._ended_of(transitions))
        if completed:
            log.warning(
                "store %s: completed %d run transition(s) whose writer stopped halfway: %s",
                self.display_url,
                completed,
                ", ".join(d["_id"] for d in old),
            )

    async def _same_change_held(self, transitions: Sequence[Transition]) -> list[Transition]:
        """Those of ``transitions`` whose fence is held with exactly their change (the
        same call sent again after its reply was lost): theirs to write."""
        if not transitions:
            return []
        keys = [t.key for t in transitions]
        held = {d["_id"]: d for d in await self._c.claims.find({"_id": {"$in": keys}}).to_list()}
        return [
            t
            for t in transitions
            if (d := held.get(t.key)) is not None
            and (d["kind"], _own(d["fields"]), d["push"]) == (t.kind, _own(t.fields), t.push)
        ]

    async def _write(self, transitions: Sequence[Transition]) -> int:
        """Write fenced transitions to their runs; how many runs they changed.

        A write applies only while its run is still in the (status, attempt) it leaves.
        For the fence's owner that always holds (leaving takes the very fence it holds),
        unless it paused beyond ``recover_after`` and its change was completed and
        followed by others meanwhile: then its late write must not apply, and does not.
        For whoever completes an abandoned fence, it is what makes a late completion
        harmless. One ``update`` command (one round trip) per ``WRITE_BATCH``
        statements. Transitions making the same change (a batch of claims) go as one
        UpdateMany: FerretDB v1 pays per update statement, and reads the whole
        collection for an ``$in``. A change of its own (a finish: its times and result
        are its own) goes as an UpdateOne, which FerretDB v1 stops reading at its run.
        No filter here is looked up by index on FerretDB 1.24 (SQLite): it hands SQLite
        only a filter of exactly ``{_id: value}``, and SQLite scans even that; these,
        with status and attempt, are decoded document by document, so a write's cost
        grows with the run history.

        Then the rollup marks of the transitions (one command): after the run write, as
        ``rollups.py`` requires, and here so that completing a fence marks too.
        """
        groups: dict[str, list[Transition]] = {}
        for t in transitions:
            same = dump_json([t.from_status, t.attempt, t.fields, t.push])
            groups.setdefault(same, []).append(t)
        writes: list[UpdateOne | UpdateMany] = [
            UpdateOne(
                {
                    "_id": group[0].run_id,
                    "status": group[0].from_status,
                    "attempt": group[0].attempt,
                },
                group[0].update(),
            )
            if len(group) == 1
            else UpdateMany(
                {
                    "_id": {"$in": [t.run_id for t in group]},
                    "status": group[0].from_status,
                    "attempt": group[0].attempt,
                },
                group[0].update(),
            )
            for group in groups.values()
        ]
        matched = 0
        for start in range(0, len(writes), WRITE_BATCH):
            chunk = writes[start : start + WRITE_BATCH]
            matched += (await self._c.runs.bulk_write(chunk, ordered=False)).matched_count
        await self._mark(t.rollup for t in transitions if t.rollup is not None)
        ended = [t.run_id for t in transitions if t.release]
        if ended:
            await self._release(ended)
        return matched

    async def _release(self, ended: Sequence[str]) -> None:
        """Settle the pending runs ``blocked_by`` any of ``ended``: each is released, or
        queued again behind another active run of its schedule while the schedule has
        ``max_instances`` of them (``_common.waits_next``).

        A release is a transition of the blocked run, fenced by the key of its way out
        of ``pending`` (held only while it writes, then deleted): a plain update would,
        on FerretDB, write back a copy read before a concurrent cancel or skip of that
        run and bring the cancelled run back. A blocked run whose fence is taken is
        leaving ``pending`` anyway (cancelled) or being released by someone else.

        A run queued again behind a run that has ended since it was read is settled
        again, read after the write and the fence's deletion: a run's end writes its
        status before it reads its queue, so either that read finds the run queued
        behind it (or its fence still held here, and passes it by) or this one sees the
        end.
        """
        while ended:
            blocked = await self._c.runs.find(
                {"blocked_by": {"$in": list(ended)}, "status": PENDING}, _QUEUED_FIELDS
            ).to_list()
            mine, _ = await self._settle(blocked, recover=False)
            ended = await self._ended_of(mine)

    async def _settle_queued(self, schedule_ids: Sequence[str]) -> None:
        """Settle the runs queued in ``schedule_ids``, just replaced or deleted: a limit
        raised or lifted (``allow``, the schedule gone) releases them, one lowered keeps
        them waiting. Nothing queued (almost always): one read of the runs.

        A queued run whose fence is held is read again once it is free: a release by
        its blocker's end may have read the limit before this write (it is written in
        a few milliseconds), a cancel takes the run out of the queue. A fence left by a
        writer gone is completed once older than ``recover_after``."""
        query = {
            "schedule_id": {"$in": list(schedule_ids)},
            "status": PENDING,
            "blocked_by": {"$ne": None},
        }
        delay = 0.005
        deadline = time.monotonic() + 2 * self._recover_after
        while True:
            queued = await self._c.runs.find(query, _QUEUED_FIELDS).to_list()
            mine, wanted = await self._settle(queued, recover=True)
            await self._release(await self._ended_of(mine))
            if len(mine) == wanted or time.monotonic() > deadline:
                return
            await asyncio.sleep(delay)
            delay = min(2 * delay, MAX_LOCK_DELAY)

    async def _settle(
        self, queued: Sequence[Doc], *, recover: bool
    ) -> tuple[list[Transition], int]:
        """Write what each of ``queued`` (run documents) waits for now, where that
        changes, as releases (see :meth:`_release`; ``recover`` as :meth:`_begin`'s):
        those written, and how many were to be (the rest had their fence held)."""
        after = await self._waits_next(queued)
        releases = [
            Transition(
                key=claim_key(d["_id"], int(d["attempt"])),
                kind=RELEASE,
                run_id=d["_id"],
                attempt=int(d["attempt"]),
                from_status=PENDING,
                fields={"blocked_by": after[d["_id"]]},
            )
            for d in queued
            if after[d["_id"]] != d["blocked_by"]
        ]
        mine = await self._begin(releases, recover=recover)
        if mine:
            await self._write(mine)
            await self._drop_releases(mine)
        return mine, len(releases)

    async def _waits_next(self, blocked: Sequence[Doc]) -> dict[str, str | None]:
        """``_common.waits_next`` of the runs ``blocked`` (documents), read from the
        store: their schedules' limits, and the runs active and waiting for nothing."""
        if not blocked:
            return {}
        schedules = sorted({d["schedule_id"] for d in blocked if d.get("schedule_id")})
        limits: dict[str, int] = {}
        if schedules:
            query = {"_id": {"$in": schedules}, "overlap": {"$ne": OverlapPolicy.ALLOW.value}}
            found = self._c.schedules.find(query, {"max_instances": 1})
            limits = {d["_id"]: int(d["max_instances"]) for d in await found.to_list()}
        active: dict[str, list[str]] = {}
        if limits:
            query = {
                "schedule_id": {"$in": sorted(limits)},
                "status": {"$in": [PENDING, RUNNING]},
                "blocked_by": None,
            }
            runs = await self._c.runs.find(query, {"schedule_id": 1, "scheduled_for": 1}).to_list()
            for d in sorted(runs, key=_oldest_first):
                active.setdefault(d["schedule_id"], []).append(d["_id"])
        waiting = [(d["_id"], d.get("schedule_id")) for d in sorted(blocked, key=_oldest_first)]
        return waits_next(waiting, limits, active)

    async def _ended_of(self, releases: Sequence[Transition]) -> list[str]:
        """The runs those of ``releases`` queued a run behind that have ended."""
        behind = sorted({t.fields["blocked_by"] for t in releases if t.kind == RELEASE} - {None})
        return await self._ended(behind)

    async def _ended(self, run_ids: Sequence[str]) -> list[str]:
        """Those of ``run_ids`` that have ended (neither pending nor running)."""
        if not run_ids:
            return []
        query = {"_id": {"$in": list(run_ids)}, "status": {"$nin": [PENDING, RUNNING]}}
        return [d["_id"] for d in await self._c.runs.find(query, {"_id": 1}).to_list()]

    async def _drop_releases(self, transitions: Sequence[Transition]) -> None:
        """Delete the fences of written releases: the run's way out of ``pending`` is
        open again (to a claim or a cancel)."""
        keys = [t.key for t in transitions if t.kind == RELEASE]
        if keys:
            await self._c.claims.delete_many({"_id": {"$in": keys}, "kind": RELEASE})

    @contextlib.asynccontextmanager
    async def _locked(self, *names: str) -> AsyncIterator[str]:
        """Hold the lock documents of ``names`` (waiting for them) while the body writes;
        yields their owner (for :meth:`_still_locked`). They are taken all at once or
        none is kept: two callers each holding a part would wait on each other."""
        owner = new_id()
        delay = 0.005
        deadline = time.monotonic() + 2 * self._recover_after
        while len(taken := await self._take_locks(names, owner)) < len(names):
            await self._unlock(taken, owner)
            if time.monotonic() > deadline:
                busy = sorted(set(names) - taken)
                raise StoreError(f"store {self.display_url}: {busy[0]} stayed locked")
            await asyncio.sleep(delay)
            delay = min(2 * delay, MAX_LOCK_DELAY)
        try:
            yield owner
        finally:
            await self._unlock(names, owner)

    async def _still_locked(self, name: str, owner: str) -> bool:
        """Whether ``owner`` still holds lock ``name``, its age renewed if so: a writer
        making progress is not taken for one gone, however long it holds the lock."""
        held = await self._c.claims.update_one(
            {"_id": f"lock:{name}", "owner": owner}, {"$set": {"at": clock_us()}}
        )
        return held.matched_count == 1

    async def _take_locks(
        self, names: Sequence[str], owner: str, term: int | None = None
    ) -> set[str]:
        """Take the free locks among ``names``; a lock held longer than ``recover_after``
        belongs to a writer that died holding it, and is broken (to be taken next time).

        ``term``: the caller is a scheduler tick fenced by the lease at that term. Its
        locks record the term, and a lock recorded by a tick of an older term is broken
        at once: that tick's leader has lost the lease (killed mid-tick, usually), and
        waiting ``recover_after`` for its locks kept the new leader from firing those
        schedules for 30 s. Should that old tick still be writing, it writes what the
        fencing key and the version checks let through: no fire twice, no user change
        overwritten."""
        at = clock_us()
        docs = [
            {"_id": f"lock:{name}", "kind": "lock", "owner": owner, "at": at}
            | ({} if term is None else {"term": term})
            for name in names
        ]
        taken = await self._insert_new(self._c.claims, docs)
        busy = [d["_id"] for d in docs if d["_id"] not in taken]
        if busy:
            abandoned: list[Doc] = [{"at": {"$lt": at - self._recover_after_us}}]
            if term is not None:
                abandoned.append({"term": {"$lt": term}})
            stale = {"_id": {"$in": busy}, "kind": "lock", "$or": abandoned}
            broken = await self._c.claims.delete_many(stale)
            if broken.deleted_count:
                log.warning(
                    "store %s: broke %d lock(s) of a writer gone (held for over %.0f s, "
                    "or by a scheduler tick of an earlier lease term)",
                    self.display_url,
                    broken.deleted_count,
                    self._recover_after,
                )
        return {name for name in names if f"lock:{name}" in taken}

    async def _unlock(self, names: Collection[str], owner: str) -> None:
        if names:
            ids = [f"lock:{name}" for name in names]
            await self._c.claims.delete_many({"_id": {"$in": ids}, "owner": owner})


def _own(fields: Doc) -> Doc:
    """A change's fields without the run's live heartbeat, which a finish copies in as it
    is sent: the run beats on while a finish whose write failed waits to be sent again,
    and that is still the same finish."""
    return {k: v for k, v in fields.items() if k != "heartbeat_at"}


def _oldest_first(d: Doc) -> tuple[int, str]:
    """Run documents by scheduled_for, then id."""
    return (int(d["scheduled_for"]), d["_id"])
