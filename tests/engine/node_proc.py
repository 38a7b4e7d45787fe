"""A schedkit node in its own process, for the multi-process tests.

Usage: python node_proc.py STORE_URL CONFIG_JSON. Prints "READY <node_id>" once started;
stops cleanly on SIGTERM / SIGINT (SIGKILL is what the tests use to simulate a crash).
``"die_in": "finish"`` in the config kills the node with SIGKILL at the moment it writes
a run's end (on MongoDB: after the end's fence is taken, before the run is written);
``"die_in": "requeue"`` when it first sends a run back to pending. ``"clock_at": ISO
datetime`` starts the node's clock at that instant (then it runs at the normal pace);
``"clock_skew": seconds`` runs it that far ahead, as a machine's clock off by as much
(which the node sets right by the store server's).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[2]))
sys.path.insert(0, str(Path(__file__).parent))

from isolated_tasks import isolated_forever
from proc_tasks import long_job, quick, tick

from conftest import fast_config
from schedkit import OffsetClock, Scheduler, TaskRegistry
from schedkit.clock import Clock, StoreClock
from schedkit.store import Store
from tests.engine.nodes import serve


def _die(*_: Any, **__: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def die_in(store: Store, where: str) -> None:
    """Make the node SIGKILL itself at ``where`` (see the module docstring)."""
    if where == "requeue":
        store.requeue_run = _die  # type: ignore[method-assign]
        return
    finish = store.finish_runs
    write = getattr(store, "_write", None)
    if write is None:  # SQL: one transaction; dying before it is all there is
        store.finish_runs = _die  # type: ignore[method-assign]
        return

    async def finishing(items: Any) -> Any:
        store._write = _die  # type: ignore[attr-defined]
        return await finish(items)

    store.finish_runs = finishing  # type: ignore[method-assign]


async def main() -> None:
    url, overrides = sys.argv[1], json.loads(sys.argv[2])
    where = overrides.pop("die_in", None)
    tasks = overrides.pop("tasks", ["tick", "long_job"])
    clock_at = overrides.pop("clock_at", None)
    skew = overrides.pop("clock_skew", None)
    clock: Clock | None = None
    if clock_at is not None:
        clock = OffsetClock(datetime.fromisoformat(clock_at) - datetime.now(UTC))
    if skew is not None:  # a machine whose clock is off, set right by the store's
        clock = StoreClock(OffsetClock(timedelta(seconds=skew)))
    registry = TaskRegistry()
    for t in (tick, long_job, quick, isolated_forever):
        if t.task_name in tasks:
            registry.register_task(t)
    scheduler = Scheduler(fast_config(url, **overrides), registry=registry, clock=clock)
    await serve(
        scheduler, started=None if where is None else lambda: die_in(scheduler.store, where)
    )


if __name__ == "__main__":
    asyncio.run(main())
