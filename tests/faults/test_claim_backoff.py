"""The executor's claim loop after a store outage: its backoff ends when the store is
back, without polling a down store in a tight loop.

An SRE audit (PostgreSQL behind a TCP proxy, killed and restarted): a run created 2 s
after the store came back started 18.7 s after its creation, and with a flapping store
a manual run waited 93 s, while ``/ready`` already said ready: the claim loop slept its
backoff (doubling to 30 s) through every wake-up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from schedkit import RunStatus, Scheduler, TaskRegistry, task
from schedkit.engine.retries import Backoff
from schedkit.errors import StoreError
from tests.engine.conftest import fast_config
from tests.stopping import stop_or_fail
from tests.store.proxy import Proxy

#: Each failed claim waits this long unless woken: far beyond what the test waits for.
LONG_BACKOFF = 20.0
#: Wake-ups are heeded this far into a backoff wait.
HEED_AFTER = 0.2

postgres_only = pytest.mark.parametrize(
    "store_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.external_service)],
    indirect=True,
)


async def test_a_wake_up_ends_a_backoff_wait_but_not_before_heed_after() -> None:
    backoff = Backoff(first=LONG_BACKOFF, cap=LONG_BACKOFF, heed_after=HEED_AFTER)
    wake = asyncio.Event()
    wake.set()  # set all along: still one attempt per HEED_AFTER at most
    began = time.monotonic()
    await backoff.wait("store down", wake)
    took = time.monotonic() - began
    assert HEED_AFTER <= took < HEED_AFTER + 0.5
    # Not reset by the wake-up: only a success resets the doubling.
    assert backoff.current == LONG_BACKOFF
    short = Backoff(first=0.1, cap=10.0)
    await short.wait("store down", asyncio.Event())
    await short.wait("store down", asyncio.Event())
    assert short.current == 0.4


@postgres_only
async def test_a_run_created_after_an_outage_starts_at_once_and_a_down_store_is_not_hammered(
    store_url: str, proxy: Proxy
) -> None:
    @task("plain", category="t")
    async def plain() -> None:
        return None

    registry = TaskRegistry()
    registry.register_task(plain)
    parts = urlsplit(store_url)
    via_proxy = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}")
    # No notify channel: the node learns that the store is back from its own heartbeat
    # (the audit's node heard nothing either: its channel went through the proxy too).
    quiet = {"cluster": {"notify": "none"}}
    node = Scheduler(
        fast_config(via_proxy.geturl(), scheduler={"enabled": False}, **quiet),
        registry=registry,
    )
    node._executor.claims.backoff = Backoff(
        first=LONG_BACKOFF, cap=LONG_BACKOFF, heed_after=HEED_AFTER
    )
    manager = Scheduler(
        fast_config(store_url, scheduler={"enabled": False}, executor={"enabled": False}, **quiet),
        registry=registry,
    )
    await node.start()
    await manager.start()
    claims: list[tuple[float, bool]] = []
    claim_runs = node.store.claim_runs  # as instrumented by the monitor at start

    async def counted(*args: Any, **kwargs: Any) -> Any:
        try:
            claimed = await claim_runs(*args, **kwargs)
        except StoreError:
            claims.append((time.monotonic(), False))
            raise
        claims.append((time.monotonic(), True))
        return claimed

    node.store.claim_runs = counted  # type: ignore[method-assign]
    try:
        await asyncio.sleep(0.3)
        await proxy.cut()
        deadline = time.monotonic() + 5
        while not any(not ok for _, ok in claims):
            assert time.monotonic() < deadline, "no claim failed with the store cut off"
            await asyncio.sleep(0.02)

        # Wake-ups while the store is down (a NOTIFY storm, run ends): attempts go on at
        # one per HEED_AFTER at most, never in a tight loop.
        storm_began = time.monotonic()
        while time.monotonic() - storm_began < 2.0:
            node._executor.wake_here()
            await asyncio.sleep(0.01)
        during = [t for t, ok in claims if t >= storm_began and not ok]
        assert len(during) <= 2.0 / HEED_AFTER + 2, len(during)

        await proxy.start()  # the server is back, on the same port
        await asyncio.sleep(1.0)  # the audit created its run 2 s after the restart
        run = await manager.run_now("plain")
        done = await manager.wait_for_run(run.id, timeout=LONG_BACKOFF + 10)
        assert done.status is RunStatus.SUCCESS and done.started_at is not None
        waited = (done.started_at - done.created_at).total_seconds()
        assert waited < 2.0, f"started {waited:.1f} s after its creation"
    finally:
        await stop_or_fail(manager, 2)
        await stop_or_fail(node, 2)
