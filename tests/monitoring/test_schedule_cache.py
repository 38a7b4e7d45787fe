"""The alert monitor's schedule cache (a soak audit: it held every schedule it ever read,
deleted ones included, for the life of the process). On a real SQLite store; an outage is
the store closed."""

from __future__ import annotations

from schedkit.alerts.schedules import (
    SCHEDULE_CACHE_SECONDS,
    SCHEDULE_KEEP_SECONDS,
    ScheduleCache,
)
from schedkit.models import Schedule
from schedkit.store import Store, create_store
from tests.store._contract import make_schedule

ORDERS = 200


async def test_schedules_read_long_ago_are_not_kept(sqlite_url: str) -> None:
    """An app creating and deleting a one-off schedule per order: the copies read for
    alerts go once older than SCHEDULE_KEEP_SECONDS; younger ones still answer an
    outage."""
    now = [0.0]
    stores: list[Store] = []

    async def read(schedule_id: str) -> Schedule | None:
        return await stores[-1].get_schedule(schedule_id)

    cache = ScheduleCache(read, monotonic=lambda: now[0])
    for _ in range(2):
        stores.append(create_store(sqlite_url))
        await stores[-1].open()
    try:
        orders = [make_schedule(id=f"order-{i}") for i in range(ORDERS)]
        await stores[-1].insert_schedules([*orders, make_schedule(id="later")])
        for order in orders:
            assert await cache.get(order.id) == order
            assert await stores[-1].delete_schedule(order.id)

        now[0] += 2 * SCHEDULE_CACHE_SECONDS
        await stores[-1].close()  # an outage: the copy held answers
        assert await cache.get("order-0") == orders[0]
        stores.pop()

        now[0] += SCHEDULE_KEEP_SECONDS
        assert await cache.get("later") is not None  # a read that succeeds drops the old
        await stores[-1].close()
        assert [await cache.get(order.id) for order in orders] == [None] * ORDERS
    finally:
        for store in stores:
            await store.close()
