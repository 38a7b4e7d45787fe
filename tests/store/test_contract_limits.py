"""The store contract's bounded creates: ``max_schedules`` on put_schedule and
insert_schedules is counted in the same step as the insert, against every other bounded
create of any process sharing the store."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from schedkit.errors import ScheduleConflictError, ScheduleLimitError
from schedkit.store import Store
from tests.store._contract import make_schedule
from tests.store.conftest import MoreStores


def named(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(n)]


async def test_a_bounded_create_is_refused_past_the_limit(store: Store) -> None:
    for sid in ("a", "b"):
        await store.put_schedule(make_schedule(id=sid), expected_version=0, max_schedules=2)
    with pytest.raises(ScheduleLimitError) as caught:
        await store.put_schedule(make_schedule(id="c"), expected_version=0, max_schedules=2)
    assert (caught.value.stored, caught.value.adding, caught.value.limit) == (2, 1, 2)
    # The limit is checked before the id: a create of a stored id at the limit too.
    with pytest.raises(ScheduleLimitError):
        await store.put_schedule(make_schedule(id="a"), expected_version=0, max_schedules=2)
    # A replacement adds nothing: the limit does not apply to it.
    changed = replace(make_schedule(id="b"), kwargs={"x": 1}, version=2)
    await store.put_schedule(changed, expected_version=1, max_schedules=2)
    # Unbounded creates are neither counted nor refused.
    await store.put_schedule(make_schedule(id="c"), expected_version=0)
    assert [s.id for s in await store.list_schedules()] == ["a", "b", "c"]
    assert (await store.get_schedule("b")) == changed


async def test_a_bounded_insert_counts_the_whole_batch(store: Store) -> None:
    await store.insert_schedules([make_schedule(id=i) for i in named("x", 3)], max_schedules=5)
    batch = [make_schedule(id=i) for i in named("y", 3)]
    with pytest.raises(ScheduleLimitError) as caught:
        await store.insert_schedules(batch, max_schedules=5)
    assert (caught.value.stored, caught.value.adding, caught.value.limit) == (3, 3, 5)
    assert await store.count_schedules() == 3
    await store.insert_schedules(batch[:2], max_schedules=5)
    await store.insert_schedules([], max_schedules=5)
    assert await store.count_schedules() == 5
    # At the limit, a batch naming a stored id is refused for the limit, nothing written.
    with pytest.raises(ScheduleLimitError):
        await store.insert_schedules([make_schedule(id="x-000")], max_schedules=5)
    # Below it, the stored id is the conflict, as without a limit.
    with pytest.raises(ScheduleConflictError):
        await store.insert_schedules([make_schedule(id="x-000")], max_schedules=6)
    assert await store.count_schedules() == 5


async def test_racing_bounded_creates_never_pass_the_limit(
    store: Store, more_stores: MoreStores
) -> None:
    """Imports of 30 and single creates, 36 in flight through four connections (other
    nodes, as far as the store can tell), 20 stored and room for 40 more."""
    stores = [store, *await more_stores(3)]
    await store.insert_schedules([make_schedule(id=i) for i in named("held", 20)])
    limit = 60

    async def bounded(n: int) -> tuple[int, BaseException | None]:
        target = stores[n % len(stores)]
        try:
            if n < 12:
                batch = [make_schedule(id=i) for i in named(f"batch{n:02d}", 30)]
                await target.insert_schedules(batch, max_schedules=limit)
                return 30, None
            one = make_schedule(id=f"one-{n:02d}")
            await target.put_schedule(one, expected_version=0, max_schedules=limit)
            return 1, None
        except ScheduleLimitError as refused:
            return refused.adding, refused

    outcomes = await asyncio.gather(*(bounded(n) for n in range(36)))
    total = await store.count_schedules()
    assert total == 20 + sum(n for n, refused in outcomes if refused is None)
    assert total <= limit
    # Each refusal was due: creates only add, so what it asked for does not fit now.
    assert all(total + n > limit for n, refused in outcomes if refused is not None)
