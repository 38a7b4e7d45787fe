"""A schedkit node in its own process, for the multi-process tests.

Usage: python node_proc.py STORE_URL CONFIG_JSON. Prints "READY <node_id>" once started;
stops cleanly on SIGTERM / SIGINT (SIGKILL is what the tests use to simulate a crash).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from proc_tasks import long_job, tick

from conftest import fast_config
from schedkit import Scheduler, TaskRegistry


async def main() -> None:
    url, overrides = sys.argv[1], json.loads(sys.argv[2])
    tasks = overrides.pop("tasks", ["tick", "long_job"])
    registry = TaskRegistry()
    for t in (tick, long_job):
        if t.task_name in tasks:
            registry.register_task(t)
    scheduler = Scheduler(fast_config(url, **overrides), registry=registry)
    await scheduler.start()
    sys.stdout.write(f"READY {scheduler.node_id}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await scheduler.stop(grace=2)


if __name__ == "__main__":
    asyncio.run(main())
