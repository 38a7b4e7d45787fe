"""A node of the chaos test in its own process, with schedkit's default timings.

Usage: python node.py STORE_URL. Prints "READY <node_id>" once started; SIGKILL is how
the test stops it (SIGTERM stops it cleanly at the end).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from chaos_tasks import chaos_single, chaos_tick

from schedkit import SchedkitConfig, Scheduler, TaskRegistry


async def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(process)d %(name)s %(message)s"
    )
    # Lease changes are counted from the nodes' logs.
    logging.getLogger("schedkit.engine.leadership").setLevel(logging.INFO)
    registry = TaskRegistry()
    registry.register_task(chaos_tick)
    registry.register_task(chaos_single)
    config = SchedkitConfig(store_url=sys.argv[1], entry_points=False)
    scheduler = Scheduler(config, registry=registry)
    await scheduler.start()
    sys.stdout.write(f"READY {scheduler.node_id}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await scheduler.stop(grace=5)


if __name__ == "__main__":
    asyncio.run(main())
