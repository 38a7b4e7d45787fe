"""The event loop a command runs on, ended within a bound.

``asyncio.run`` ends by cancelling the tasks left on its loop and waiting for each to
end, however long: task code that catches its cancellation (abandoned by its run after
``engine.work.ABANDON_AFTER``) then held ``schedkit serve`` 57 s past its SIGTERM, the
node already stopped. Here leftovers get :data:`LEFTOVER_WAIT` seconds, then the loop
closes without them, as a thread ignoring its stop is left at exit. Ctrl-C behaves as
under ``asyncio.run``: the first cancels the command's coroutine (its clean-up runs),
a second interrupts at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from schedkit.stopping import wait_for

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Seconds the tasks left when a command's coroutine returns get to end.
LEFTOVER_WAIT = 2.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop; see the module's docstring."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(coro)
    interrupted = 0

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted += 1
        if interrupted > 1 or main.done():
            raise KeyboardInterrupt
        loop.call_soon_threadsafe(main.cancel)

    ours = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if ours:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        try:
            return loop.run_until_complete(main)
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _end_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(_within(loop.shutdown_default_executor()))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _end_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    left = asyncio.all_tasks(loop)
    if not left:
        return
    for task in left:
        task.cancel()
    done, going = loop.run_until_complete(asyncio.wait(left, timeout=LEFTOVER_WAIT))
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "task %s ended with an error at exit", task.get_name(), exc_info=task.exception()
            )
    if going:
        logger.warning(
            "%d task(s) ignored being stopped and are left running at exit: %s",
            len(going),
            ", ".join(sorted(t.get_name() for t in going)),
        )
        for task in going:
            # Said above: asyncio's "Task was destroyed but it is pending!" with the
            # task's repr, as the process drops it, read as a crash to operators.
            task._log_destroy_pending = False  # type: ignore[attr-defined]


async def _within(step: Coroutine[Any, Any, None]) -> None:
    try:
        await wait_for(step, LEFTOVER_WAIT)
    except TimeoutError:
        logger.warning("threads of the default executor still busy at exit are left running")
