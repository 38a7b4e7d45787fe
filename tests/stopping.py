"""Stopping a test's Schedulers so that a hang fails the test with where it hangs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from schedkit import Scheduler

#: Seconds a fixture's stop() may take before the test fails with every task's stack.
STOP_LIMIT = 60.0


async def stop_or_fail(scheduler: Scheduler, grace: float) -> None:
    """``scheduler.stop(grace)``; a stop still waiting after ``STOP_LIMIT`` seconds prints
    the stack of every task of the loop (where each one waits) and fails the test, rather
    than leaving pytest-timeout to show only the idle selector."""
    stopping = asyncio.ensure_future(scheduler.stop(grace=grace))
    done, _ = await asyncio.wait({stopping}, timeout=STOP_LIMIT)
    if not done:
        for waiting in asyncio.all_tasks():
            waiting.print_stack(file=sys.stderr)
        stopping.cancel()
        pytest.fail(f"Scheduler.stop() did not return within {STOP_LIMIT:.0f} s (stacks on stderr)")
    stopping.result()
