"""The store's part in ``max_runs`` on every backend: a tick planned from a count the
store no longer holds writes nothing for that schedule."""

from __future__ import annotations

from dataclasses import replace

from schedkit.models import Run
from schedkit.store import ScheduleAdvance, Store
from tests.store._contract import SEC, T0, adv, make_run, make_schedule, seed


async def test_record_fires_applies_a_tick_only_at_the_count_it_was_planned_from(
    store: Store,
) -> None:
    """The leader plans a schedule's fires from its copy's ``run_count``, which no edit
    bumps the version of. A copy short by a run (seen under load: a count lost while the
    leader's window was cleared, an answer lost after its commit) planned fires past
    ``max_runs``: the store now refuses the tick for that schedule, as for a version
    changed, and the other schedules of the tick are written."""
    await seed(store, make_schedule(id="s", max_runs=2))
    await seed(store, make_schedule(id="other", max_runs=2))

    def counting(sid: str, run: Run, planned_from: int | None) -> ScheduleAdvance:
        return replace(
            adv(sid, 1, T0 + 3600 * SEC, run.scheduled_for),
            counted=(run.id,),
            run_count=planned_from,
        )

    first = make_run()
    record = await store.record_fires([first], [counting("s", first, 0)], fence=None, now=T0)
    assert record.inserted == [first.id] and record.advanced == 1
    # Planned from a copy still at 0 (the store holds 1): its run is not inserted, its
    # advance not applied; the schedule of the same tick planned from its count is.
    past, other = make_run(scheduled_for=T0 + SEC), make_run(schedule_id="other")
    record = await store.record_fires(
        [past, other],
        [counting("s", past, 0), counting("other", other, 0)],
        fence=None,
        now=T0,
    )
    assert record.inserted == [other.id] and record.advanced == 1
    assert await store.get_run(past.id) is None
    stored = await store.get_schedule("s")
    assert stored is not None and (stored.run_count, stored.last_fire_time) == (1, T0)
    # Planned from the count stored: written; without a count, only the version is checked.
    second = make_run(scheduled_for=T0 + 2 * SEC)
    record = await store.record_fires([second], [counting("s", second, 1)], fence=None, now=T0)
    assert record.inserted == [second.id] and record.advanced == 1
    ended = replace(adv("s", 1, None, T0 + 2 * SEC), run_count=None)
    assert (await store.record_fires([], [ended], fence=None, now=T0)).advanced == 1
    stored = await store.get_schedule("s")
    assert stored is not None and (stored.run_count, stored.next_fire_time) == (2, None)
