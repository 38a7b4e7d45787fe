"""MongoDB only: a queued run settled behind a run that ends before the settling is
written. FerretDB has no transactions: a release reads the schedule's active runs, then
writes (or a release's fence, abandoned by a writer that died, is completed later), and
a run it names can end in between. That end found nothing queued behind it, so without
a second look after the write the queued run waited for a run that is over.
(PostgreSQL's counterpart is the ``FOR SHARE`` in ``sql/queue.py``, raced in
``test_contract_queue_limit.py``.)"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from schedkit.models import OverlapPolicy, RunStatus
from schedkit.store.mongo import DEFAULT_COLLECTIONS, MongoStore
from schedkit.store.mongo.base import PENDING, clock_us
from schedkit.store.mongo.codec import Doc, Transition, claim_key
from schedkit.store.mongo.fences import RELEASE
from tests.store._contract import SEC, T0, fin, make_run, make_schedule, outcome, seed
from tests.store.conftest import Raw

pytestmark = pytest.mark.external_service


async def test_a_run_queued_behind_a_run_that_ends_meanwhile_is_released(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MongoStore(mongo_url) as store, MongoStore(mongo_url) as other:
        await seed(store, make_schedule(overlap=OverlapPolicy.QUEUE_ONE, max_instances=1))
        first = make_run(scheduled_for=T0)
        newest = make_run(scheduled_for=T0 + SEC)
        queued = make_run(scheduled_for=T0 + 2 * SEC, blocked_by=newest.id)
        await store.insert_runs([first, newest, queued])
        assert len(await store.claim_runs("n1", T0, 10)) == 2
        decide = store._waits_next

        async def then_first_ends(blocked: Sequence[Doc]) -> dict[str, str | None]:
            after = await decide(blocked)
            if after.get(queued.id) == first.id:
                assert await other.finish_run(fin(first.id, 1, "n1", outcome()))
            return after

        monkeypatch.setattr(store, "_waits_next", then_first_ends)
        assert await store.finish_run(fin(newest.id, 1, "n1", outcome()))
        got = await store.get_run(queued.id)
        assert got is not None and got.status is RunStatus.PENDING
        assert got.blocked_by is None


async def test_a_release_completed_late_behind_a_run_that_has_ended_is_released(
    mongo_url: str, raw: Raw
) -> None:
    """A writer queued a run behind another and died holding the release's fence; the
    claim that runs into the fence completes it after ``recover_after``, by which time
    the run it named has ended (its end found nothing queued behind it)."""
    async with MongoStore(mongo_url, recover_after=0.1) as store:
        gone = make_run(scheduled_for=T0)
        queued = make_run(scheduled_for=T0 + SEC)
        await store.insert_runs([gone, queued])
        await store.claim_runs("n1", T0, 1, run_ids=[gone.id])
        assert await store.finish_run(fin(gone.id, 1, "n1", outcome()))
        release = Transition(
            key=claim_key(queued.id, 1),
            kind=RELEASE,
            run_id=queued.id,
            attempt=1,
            from_status=PENDING,
            fields={"blocked_by": gone.id},
        )
        await raw[DEFAULT_COLLECTIONS["claims"]].insert_one(release.fence(clock_us() - 1_000_000))
        assert await store.claim_runs("n2", T0, 1) == []  # lost to the fence, completed it
        got = await store.get_run(queued.id)
        assert got is not None and got.blocked_by is None
        assert [r.id for r in await store.claim_runs("n2", T0, 1)] == [queued.id]
