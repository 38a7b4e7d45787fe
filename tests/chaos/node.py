"""A node of the chaos test in its own process, with schedkit's default timings.

Usage: python node.py STORE_URL. Prints "READY <node_id>" once started; SIGKILL is how
the test stops it (SIGTERM stops it cleanly at the end).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
sys.path.insert(0, str(Path(__file__).parent))

from chaos_tasks import chaos_single, chaos_tick

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from tests.engine.nodes import serve


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
    await serve(Scheduler(config, registry=registry), grace=5)


if __name__ == "__main__":
    asyncio.run(main())
