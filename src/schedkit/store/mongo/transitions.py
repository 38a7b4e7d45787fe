"""How attempts end in the MongoDB store: finish, requeue, lose, cancel, each one fenced
transition (see the package docstring).

A requeue or lost verdict of an active attempt whose cancel was requested ends the run
``cancelled`` instead. The request is a sidecar document, not the run's fence, so no
single insert decides between the two: each side writes first and looks for the other
after (a requeue writes ``pending``, then looks for the request; a request is written,
then looks at the run), so at least one of them sees the other and cancels the run out
of ``pending``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import (
    Mapping,
    Sequence,
)
from datetime import datetime

from schedkit.models import (
    JSON,
    Run,
    RunStatus,
)
from schedkit.store._common import (
    CANCELLED_IN_ATTEMPT,
    REQUEUE_CLEARED,
    check_finishes,
    finish_already_stored,
    held_for_finish,
)
from schedkit.store.mongo.base import (
    FENCE_PAYLOAD_KEPT,
    PENDING,
    RUNNING,
    SETTLE_DELAY,
    SETTLE_TRIES,
    translate_errors,
)
from schedkit.store.mongo.codec import (
    Doc,
    Transition,
    cancel_key,
    claim_key,
    dump_json,
    exit_key,
    opt_dt,
    opt_dump,
    payload_size,
    to_us,
)
from schedkit.store.mongo.fences import FencesMixin
from schedkit.store.mongo.rollup_marks import mark_of
from schedkit.store.values import (
    LostRun,
    RunFinish,
    RunRequeue,
)


class TransitionsMixin(FencesMixin):
    @translate_errors
    async def finish_runs(self, items: Sequence[RunFinish]) -> list[bool]:
        if not items:
            return []
        check_finishes(items)
        ids = list({item.run_id for item in items})
        claim_keys = list({claim_key(item.run_id, item.attempt) for item in items})
        found, claim_docs = await asyncio.gather(
            self._c.runs.find({"_id": {"$in": ids}}).to_list(),
            self._c.claims.find(
                {"_id": {"$in": claim_keys}}, {"kind": 1, "heartbeat_at": 1}
            ).to_list(),
        )
        runs = {d["_id"]: d for d in found}
        claims = {d["_id"]: d for d in claim_docs}
        finishes = [_finish(runs.get(item.run_id), item, claims) for item in items]
        wanted = [t for t in finishes if t is not None]
        won = await self._begin(wanted, recover=False)
        mine = {t.key for t in won}
        # A fence holding this very change is this finish sent before (its reply or its
        # write was lost): complete it now, it counts as applied.
        again = await self._same_change_held([t for t in wanted if t.key not in mine])
        if won or again:
            await self._write([*won, *again])
            # Written: the fences need not keep large outcomes (stored twice otherwise).
            large = [t.key for t in won if payload_size(t.fields) > FENCE_PAYLOAD_KEPT]
            if large:
                await self._c.claims.update_many(
                    {"_id": {"$in": large}}, {"$set": {"fields.result": None, "fields.error": None}}
                )
        mine |= {t.key for t in again}
        # Per item; of two items finishing one attempt, the first one given applies.
        applied: list[bool] = []
        for item, t in zip(items, finishes, strict=True):
            if t is not None:
                applied.append(t.key in mine)
                mine.discard(t.key)
            else:
                applied.append(_stored_as(runs.get(item.run_id), item))
        return applied

    @translate_errors
    async def requeue_run(self, item: RunRequeue) -> RunStatus | None:
        wanted = {"status": 1, "attempt": 1, "max_attempts": 1, "task_name": 1, "scheduled_for": 1}
        doc, request = await asyncio.gather(
            self._c.runs.find_one({"_id": item.run_id}, {**wanted, "cancel_requested": 1}),
            self._c.claims.find_one({"_id": cancel_key(item.run_id)}, {"_id": 1}),
        )
        if doc is None or doc["attempt"] != item.attempt:
            return None
        status = RunStatus(doc["status"])
        if status not in item.from_statuses:
            return None
        # The attempt's one way out (the same fence either way).
        exit_of = functools.partial(
            Transition,
            key=exit_key(item.run_id, item.attempt, status),
            run_id=item.run_id,
            attempt=item.attempt,
            from_status=status.value,
        )
        if status.active and (request is not None or doc["cancel_requested"]):
            change = exit_of(
                kind="cancel",
                fields=_cancelled(item.now, item.attempt_error),
                release=True,
                rollup=mark_of(doc),
            )
        else:
            if status.finished:
                # An explicit retry of a finished run (a workflow step): a cancel
                # requested in an earlier attempt does not stop it. The request goes
                # first, while no node can claim the run.
                await self._c.claims.delete_one({"_id": cancel_key(item.run_id)})
            change = exit_of(
                kind="requeue",
                fields={
                    **_requeued(item.attempt, item.not_before),
                    **({"max_attempts": doc["max_attempts"] + 1} if item.spare else {}),
                    **({"cancel_requested": False} if status.finished else {}),
                },
                push={"attempt_errors": dump_json(item.attempt_error)},
                # Out of a finished status: the run leaves its hour's rollup.
                rollup=mark_of(doc) if status.finished else None,
            )
        if not await self._begin([change]):
            return None
        await self._write([change])
        if change.kind == "cancel" or (
            status.active and await self._cancel_requeued({item.run_id: item.now})
        ):
            return RunStatus.CANCELLED
        return RunStatus.PENDING

    @translate_errors
    async def lose_runs(self, items: Sequence[LostRun]) -> list[bool]:
        """One fenced transition per item out of ``running`` (the same fence as a finish
        or a requeue of the attempt, so exactly one of them ever applies).

        When that fence is already held, the attempt's end was decided by someone else
        whose write has not landed: the attempt's own node finishing or requeueing it,
        or another reaper. The run's heartbeat being stale means that writer is, by the
        engine's own judgement, dead: its decided change is completed at once rather
        than after ``recover_after`` (30 s by default, against a ``lost_after`` of a few
        seconds: a run whose node died between its finish fence and its write stayed
        ``running`` that long). Completing writes exactly what the fence holds, so a
        writer that was merely slow writes the same.
        """
        if not items:
            return []
        ids = list({item.run_id for item in items})
        running = {
            d["_id"]: d
            for d in await self._c.runs.find(
                {"_id": {"$in": ids}, "status": RUNNING},
                {
                    "attempt": 1,
                    "node_id": 1,
                    "heartbeat_at": 1,
                    "task_name": 1,
                    "scheduled_for": 1,
                    "cancel_requested": 1,
                },
            ).to_list()
        }
        # Their claims (heartbeats) and cancel requests.
        sidecars = [
            key
            for d in running.values()
            for key in (claim_key(d["_id"], int(d["attempt"])), cancel_key(d["_id"]))
        ]
        claims = {
            d["_id"]: d
            for d in await self._c.claims.find(
                {"_id": {"$in": sidecars}}, {"kind": 1, "heartbeat_at": 1}
            ).to_list()
        }
        verdicts = [_lost(running.get(item.run_id), item, claims) for item in items]
        wanted = [t for t in verdicts if t is not None]
        won = await self._begin(wanted, recover=False)
        mine = {t.key for t in won}
        held = [t.key for t in wanted if t.key not in mine]
        if held:
            await self._complete_abandoned(held, older_than=None)
        if won:
            await self._write(won)
            requeued = {t.run_id for t in won if t.fields["status"] == PENDING}
            await self._cancel_requeued({i.run_id: i.now for i in items if i.run_id in requeued})
        applied: list[bool] = []
        for t in verdicts:
            applied.append(t is not None and t.key in mine)
            if t is not None:
                mine.discard(t.key)
        return applied

    @translate_errors
    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        found = await self._c.runs.find_one({"_id": run_id})
        doc = await self._cancel_pending(found, now, reason)
        if doc is None:
            return None
        run = (await self._load_runs([doc]))[0]
        if run.status.active and not run.cancel_requested:
            # The node running it learns of the request through heartbeat_runs. (Still
            # pending after the wait: its claimer stopped halfway, and the request waits
            # for whichever node ends up with the run.) The request is written last, as
            # the SQL stores commit last: a caller that stops the run itself acts before
            # the run's own heartbeat can.
            request = {"_id": cancel_key(run_id), "kind": "cancel", "run_id": run_id}
            await self._insert_new(self._c.claims, [{**request, "reason": reason}])
            run = dataclasses.replace(run, cancel_requested=True, reason=reason)
            again = await self._c.runs.find_one({"_id": run_id})
            if run.status is RunStatus.RUNNING and again is not None and again["status"] == PENDING:
                # Its attempt was sent back to pending by a requeue that looked for a
                # request before this one was written: cancel what it became.
                doc = await self._cancel_pending(again, now, reason)
                if doc is not None:
                    run = (await self._load_runs([doc]))[0]
        return run

    async def _cancel_pending(self, doc: Doc | None, now: datetime, reason: str) -> Doc | None:
        """Cancel the run of ``doc`` if it is pending (fenced as its way out of
        ``pending``); the run's document after, as it then stands."""
        fields = {"status": RunStatus.CANCELLED.value, "finished_at": to_us(now), "reason": reason}
        for _ in range(SETTLE_TRIES):
            if doc is None or doc["status"] != PENDING:
                break
            run_id = doc["_id"]
            cancel = Transition(
                key=claim_key(run_id, int(doc["attempt"])),
                kind="cancel",
                run_id=run_id,
                attempt=int(doc["attempt"]),
                from_status=PENDING,
                fields=fields,
                release=True,
                rollup=mark_of(doc),
            )
            if await self._begin([cancel]):
                await self._write([cancel])
                return await self._c.runs.find_one({"_id": run_id})
            # Someone else is moving it out of pending (a claimer, usually): wait for
            # the outcome to show, then cancel what it became.
            await asyncio.sleep(SETTLE_DELAY)
            doc = await self._c.runs.find_one({"_id": run_id})
        return doc

    async def _cancel_requeued(self, ended: Mapping[str, datetime]) -> bool:
        """Cancel those runs just sent back to pending (id: when their attempt ended)
        whose cancel was requested meanwhile (see the module docstring); whether any
        ended cancelled."""
        if not ended:
            return False
        requests = await self._c.claims.find(
            {"_id": {"$in": [cancel_key(run_id) for run_id in ended]}}, {"run_id": 1}
        ).to_list()
        cancelled = False
        for request in requests:
            run_id = request["run_id"]
            doc = await self._c.runs.find_one({"_id": run_id})
            doc = await self._cancel_pending(doc, ended[run_id], CANCELLED_IN_ATTEMPT)
            cancelled |= doc is not None and doc["status"] == RunStatus.CANCELLED.value
        return cancelled


def _finish(doc: Doc | None, item: RunFinish, claims: Mapping[str, Doc]) -> Transition | None:
    """The transition finishing ``doc`` as ``item`` says, or None if the run is not
    where the item may finish it (``_common.held_for_finish``)."""
    if doc is None or not held_for_finish(
        item, status=RunStatus(doc["status"]), attempt=int(doc["attempt"]), node_id=doc["node_id"]
    ):
        return None
    outcome = item.outcome
    fields: Doc = {
        "status": outcome.status.value,
        "finished_at": to_us(outcome.finished_at),
        "duration": outcome.duration,
        "result": opt_dump(outcome.result),
        "error": opt_dump(outcome.error),
        "reason": outcome.reason,
    }
    if item.node_id is not None:
        claim = claims.get(claim_key(doc["_id"], item.attempt))
        if claim is not None and claim["kind"] == "claim":
            # The live heartbeat becomes part of the finished run.
            fields["heartbeat_at"] = claim["heartbeat_at"]
    return Transition(
        key=exit_key(doc["_id"], item.attempt, RunStatus(doc["status"])),
        kind="finish",
        run_id=doc["_id"],
        attempt=item.attempt,
        from_status=doc["status"],
        fields=fields,
        release=True,
        rollup=mark_of(doc),
    )


def _stored_as(doc: Doc | None, item: RunFinish) -> bool:
    """Whether ``doc`` already shows ``item`` applied (a finish sent again)."""
    if doc is None:
        return False
    return finish_already_stored(
        item,
        status=RunStatus(doc["status"]),
        attempt=int(doc["attempt"]),
        node_id=doc["node_id"],
        finished_at=opt_dt(doc["finished_at"]),
    )


def _lost(doc: Doc | None, item: LostRun, claims: Mapping[str, Doc]) -> Transition | None:
    """The transition applying ``item`` to ``doc`` (a running run's attempt, node and
    heartbeat), or None if the run is not where the verdict applies."""
    if doc is None or doc["attempt"] != item.attempt or doc["node_id"] != item.node_id:
        return None
    claim = claims.get(claim_key(item.run_id, item.attempt))
    beat = claim["heartbeat_at"] if claim and claim["kind"] == "claim" else doc["heartbeat_at"]
    if beat is None or beat >= to_us(item.stale_before):
        return None  # a heartbeat landed first
    # Ends the run (rolled up) unless it goes back to pending for a retry.
    final = True
    push = None
    if item.retry_at is None:
        fields: Doc = {
            "status": RunStatus.LOST.value,
            "finished_at": to_us(item.now),
            "reason": item.reason,
            # The last heartbeat (in the claim document) becomes part of the record.
            "heartbeat_at": beat,
        }
    elif doc["cancel_requested"] or cancel_key(item.run_id) in claims:
        fields = {**_cancelled(item.now, item.attempt_error), "heartbeat_at": beat}
    else:
        final = False
        fields = _requeued(item.attempt, item.retry_at)
        push = {"attempt_errors": dump_json(item.attempt_error)}
    return Transition(
        key=exit_key(item.run_id, item.attempt, RunStatus.RUNNING),
        kind="lost",
        run_id=item.run_id,
        attempt=item.attempt,
        from_status=RUNNING,
        fields=fields,
        push=push,
        # Sent back for its retry, it keeps the runs queued behind it (see lose_runs).
        release=final,
        rollup=mark_of(doc) if final else None,
    )


def _cancelled(now: datetime, attempt_error: JSON) -> Doc:
    """The ``$set`` of an active run ended ``cancelled`` instead of retried: its cancel
    was requested during the attempt; the attempt's record becomes its error."""
    return {
        "status": RunStatus.CANCELLED.value,
        "finished_at": to_us(now),
        "reason": CANCELLED_IN_ATTEMPT,
        "error": dump_json(attempt_error),
    }


def _requeued(attempt: int, not_before: datetime) -> Doc:
    """The ``$set`` of a run sent back to pending for attempt ``attempt + 1``."""
    return {
        "status": PENDING,
        "attempt": attempt + 1,
        "not_before": to_us(not_before),
        **dict.fromkeys(REQUEUE_CLEARED),
    }
