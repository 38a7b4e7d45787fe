"""The store goes away while the service runs, then comes back.

Each test starts a private server (its own PostgreSQL cluster or FerretDB process on a
free port) so that stopping it disturbs no other test. The scheduler and executor must
log, back off and resume on their own; a run that finished during the outage gets its
result written once the store is back; no run stays running; no fire is doubled.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

from schedkit import RunStatus, Scheduler, StoreUnavailableError, TaskRegistry, task
from schedkit.store import create_store
from tests.conftest import MONGO_VAR, POSTGRES_VAR, service_url
from tests.engine.conftest import fast_config
from tests.faults.servers import PrivateFerretDB, PrivatePostgres

pytestmark = pytest.mark.external_service


@pytest.fixture(params=["postgres", "mongo"])
def private_server(request: pytest.FixtureRequest) -> Iterator[PrivatePostgres | PrivateFerretDB]:
    # The shared servers' variables tell that these servers are installed here.
    service_url(POSTGRES_VAR if request.param == "postgres" else MONGO_VAR)
    server: PrivatePostgres | PrivateFerretDB = (
        PrivatePostgres() if request.param == "postgres" else PrivateFerretDB()
    )
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def outage_scheduler(
    private_server: PrivatePostgres | PrivateFerretDB,
) -> AsyncIterator[Scheduler]:
    @task("heartbeat_tick", category="t")
    async def heartbeat_tick() -> None:
        return None

    @task("finishes_during_outage", category="t", retry={"max_retries": 0})
    async def finishes_during_outage() -> dict[str, object]:
        await asyncio.sleep(1.5)
        return {"success": True, "message": "finished while the store was down"}

    registry = TaskRegistry()
    registry.register_task(heartbeat_tick)
    registry.register_task(finishes_during_outage)
    # lost_after above the outage: a node that cannot reach the store cannot heartbeat.
    config = fast_config(private_server.url, scheduler={"lost_after": 30.0})
    s = Scheduler(config, registry=registry)
    await s.start()
    try:
        yield s
    finally:
        await s.stop(grace=2)


async def test_store_lost_while_running_then_back(
    private_server: PrivatePostgres | PrivateFerretDB, outage_scheduler: Scheduler
) -> None:
    s = outage_scheduler
    await s.add_task("heartbeat_tick", {"trigger": "interval", "seconds": 0.3, "overlap": "allow"})
    await asyncio.sleep(0.8)
    run = await s.run_now("finishes_during_outage")
    await asyncio.sleep(0.3)
    assert (await s.get_run(run.id)).status is RunStatus.RUNNING

    await asyncio.to_thread(private_server.crash)
    down_at = time.monotonic()
    await asyncio.sleep(2.5)  # the run finishes while the store is unreachable
    with pytest.raises(StoreUnavailableError):
        await s.store.ping()
    await asyncio.to_thread(private_server.start)
    back_at = time.monotonic()

    final = None
    while time.monotonic() - back_at < 40:
        try:
            final = await s.get_run(run.id)
        except StoreUnavailableError:
            await asyncio.sleep(0.2)
            continue
        if final.status.finished:
            break
        await asyncio.sleep(0.2)
    assert final is not None and final.status is RunStatus.SUCCESS
    assert final.result is not None
    assert final.result["message"] == "finished while the store was down"
    assert final.finished_at is not None
    assert final.duration is not None and final.duration < 2.5 + (time.monotonic() - down_at)

    # Scheduling resumed on its own after the outage.
    resumed_at = s.clock.now()
    for _ in range(200):
        later = await s.list_runs("heartbeat_tick", since=resumed_at, limit=10)
        if any(r.status is RunStatus.SUCCESS for r in later):
            break
        await asyncio.sleep(0.1)
    assert any(r.status is RunStatus.SUCCESS for r in later)
    await s.pause_task("heartbeat_tick")
    await asyncio.sleep(0.5)

    ticks = await s.list_runs("heartbeat_tick", limit=1000)
    fires = Counter(r.scheduled_for for r in ticks)
    assert all(c == 1 for c in fires.values())
    assert await s.count_runs(status=RunStatus.RUNNING) == 0


async def test_unreachable_at_start_is_one_clear_error(
    private_server: PrivatePostgres | PrivateFerretDB,
) -> None:
    await asyncio.to_thread(private_server.crash)
    url = private_server.url.replace("schedkit@", "schedkit:hunter2@")
    store = create_store(
        url, **({"server_selection_timeout": 2.0} if url.startswith("mongodb") else {})
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as err:
        await store.open()
    assert time.monotonic() - started < 15
    message = str(err.value)
    del err
    assert f"127.0.0.1:{private_server.port}" in message
    assert "hunter2" not in message
    assert "\n" not in message
    # pymongo leaves the socket of the connection attempt it cancelled unclosed; collect
    # it here so its ResourceWarning cannot fail an unrelated later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
