"""A task whose code ignores being stopped (tests/cli/test_subprocess.py)."""

from __future__ import annotations

import asyncio

from schedkit import task


@task("stubborn", category="demo", description="Catches its cancellation.")
async def stubborn(seconds: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        try:
            await asyncio.sleep(left)
        except asyncio.CancelledError:
            continue
