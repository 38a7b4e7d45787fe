"""Chaos (issue #16): three node processes on one store, schedules firing every second,
tasks long enough that kills land mid-run; the lease holder and random nodes SIGKILLed
at random intervals and replaced; the PostgreSQL and FerretDB servers restarted under
load. The checker (``checker.py``) then proves from the store and the tasks' marks: no
fire time with two runs, no run executed twice unless its node died (recorded lost),
every nominal second accounted for, nothing left pending or running; and measures
failover and lost-detection times against the documented defaults.

Short by default (about 50 s per store, part of the suite); the long version:
``SCHEDKIT_CHAOS_SECONDS=600 pytest tests/chaos -s`` (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from schedkit.errors import StoreError
from schedkit.models import RunFilter, RunStatus
from schedkit.store import Store, create_store
from tests.conftest import MONGO_VAR, POSTGRES_VAR, service_url
from tests.faults.servers import PrivateFerretDB, PrivatePostgres

from .chaos_tasks import chaos_single, chaos_tick
from .checker import check
from .conftest import record
from .harness import Cluster, Plan, disturb

#: Seconds of load: SCHEDKIT_CHAOS_SECONDS (600 for the long version), default 40.
CHAOS_SECONDS = float(os.environ.get("SCHEDKIT_CHAOS_SECONDS", "40"))

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.slow,
    # Load, then the drain, then reading and checking the history.
    pytest.mark.timeout(CHAOS_SECONDS + 300),
]

NODES = 3
#: The bounds the defaults promise (docs/lifecycle.md): a killed leader's schedules fire
#: again within 10 s; a dead node's runs are marked lost within 30 s (while the store is
#: reachable: a verdict whose window held a server restart waits for the server, and is
#: reported apart).
FAILOVER_BOUND = 10.0
LOST_BOUND = 30.0
#: Longest wait for the cluster to settle after the load: a run lost at the very end is
#: judged within LOST_BOUND, then retried (0.5 s) and run (up to 3 s).
DRAIN_TIMEOUT = LOST_BOUND + 30


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
def chaos_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str, Callable[[], None] | None]]:
    """(backend, store URL, restart the server or None) on a store of the test's own."""
    backend: str = request.param
    if backend == "sqlite":
        yield backend, f"sqlite:///{tmp_path / 'chaos.db'}", None
        return
    service_url(POSTGRES_VAR if backend == "postgres" else MONGO_VAR)
    server: PrivatePostgres | PrivateFerretDB = (
        PrivatePostgres() if backend == "postgres" else PrivateFerretDB()
    )

    def restart() -> None:
        server.crash()
        server.start()

    try:
        server.start()
        yield backend, server.url, restart
    finally:
        server.cleanup()


def _read_marks(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def _pause_schedules(url: str) -> None:
    """Stop the fires (through a management node: no scheduler, no executor)."""
    registry = TaskRegistry()
    registry.register_task(chaos_tick)
    registry.register_task(chaos_single)
    config = SchedkitConfig(
        store_url=url,
        entry_points=False,
        scheduler={"enabled": False},
        executor={"enabled": False},
    )
    async with Scheduler(config, registry=registry) as manager:
        for name in ("chaos_tick", "chaos_single"):
            for _ in range(10):
                try:
                    await manager.pause_task(name, "chaos test: load over")
                    break
                except StoreError:
                    await asyncio.sleep(1)


async def _drained(store: Store) -> float:
    """Wait until no run is pending or running; seconds waited."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    active = RunFilter(statuses=frozenset({RunStatus.PENDING, RunStatus.RUNNING}))
    while loop.time() - began < DRAIN_TIMEOUT:
        try:
            if await store.count_runs(active) == 0:
                break
        except StoreError:
            pass
        await asyncio.sleep(1)
    return loop.time() - began


async def test_chaos(
    chaos_store: tuple[str, str, Callable[[], None] | None], tmp_path: Path
) -> None:
    chaos_seconds = CHAOS_SECONDS
    backend, url, restart = chaos_store
    cluster = Cluster(url, tmp_path)
    long_run = chaos_seconds >= 300
    plan = Plan(
        seconds=chaos_seconds,
        kill_every=(8.0, 20.0) if long_run else (5.0, 9.0),
        restart_every=120.0 if long_run else chaos_seconds,
    )
    async with create_store(url) as observer:
        try:
            for _ in range(NODES):
                await cluster.start_node()
            began = time.time()
            kills, restarts = await disturb(cluster, observer, plan, restart)
            await _pause_schedules(url)
            drain = await _drained(observer)
        finally:
            cluster.stop_all()
        runs = await observer.list_runs(limit=1_000_000)
    figures = check(backend, time.time() - began, runs, _read_marks(cluster.marks), kills, restarts)
    summary = {
        **figures.summary(),
        "lease_changes": cluster.lease_changes(),
        "drain_s": round(drain, 1),
        "statuses": _statuses(runs),
    }
    record(summary)
    assert figures.ok, figures.problems[:20]
    assert figures.fires >= chaos_seconds, summary  # two schedules, one fire a second each
    assert kills, "no kill landed"
    assert max(figures.failover, default=0) <= FAILOVER_BOUND, summary
    assert max(figures.lost_detection, default=0) <= LOST_BOUND, summary


def _statuses(runs: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in runs:
        status: RunStatus = r.status
        counts[status.value] = counts.get(status.value, 0) + 1
    return dict(sorted(counts.items()))
