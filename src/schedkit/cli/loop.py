"""The event loop a command runs on, ended within a bound.

``asyncio.run`` ends by cancelling the tasks left on its loop and waiting for each to
end, however long: task code that catches its cancellation (abandoned by its run after
``engine.work.ABANDON_AFTER``) then held ``schedkit serve`` 57 s past its SIGTERM, the
node already stopped. Here leftovers get :data:`LEFTOVER_WAIT` seconds, then the loop
closes without them, as a thread ignoring its stop is left at exit. Ctrl-C behaves as
under ``asyncio.run``: the first cancels the command's coroutine (its clean-up runs),
a second interrupts at once. SIGTERM (``timeout``, systemd, a cancelled CI job) does as
the first Ctrl-C, then exits 143: it killed the process outright, and ``run --wait``
left the run it executed ``running`` until a service judged it lost. Commands that
stop their own way on SIGTERM (``serve``, ``worker``) install their handler over this.
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

#: The signal that cancelled the running command ("Ctrl-C", "SIGTERM"), for the words
#: of what its clean-up records (a run cancelled "interrupted in the CLI (SIGTERM)").
_stopped_by: str | None = None


def stopped_by() -> str:
    """What stopped the command now ending: "Ctrl-C" unless it was SIGTERM."""
    return _stopped_by or "Ctrl-C"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop; see the module's docstring."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(coro)
    interrupted = 0
    terminated = False
    global _stopped_by
    _stopped_by = None

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted += 1
        if interrupted > 1 or main.done():
            raise KeyboardInterrupt
        loop.call_soon_threadsafe(main.cancel)

    def on_sigterm(signum: int, frame: object) -> None:
        global _stopped_by
        nonlocal terminated
        if terminated or main.done():
            raise SystemExit(128 + signal.SIGTERM)
        terminated = True
        _stopped_by = "SIGTERM"
        loop.call_soon_threadsafe(main.cancel)

    main_thread = threading.current_thread() is threading.main_thread()
    ours = main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # Over the default, or a handler that ends the process (coverage's saves its data,
    # then kills): the command ends cleanly instead, and its atexit work runs then.
    before_term = signal.getsignal(signal.SIGTERM) if main_thread else None
    term = main_thread and before_term not in (signal.SIG_IGN, None)
    if ours:
        signal.signal(signal.SIGINT, on_sigint)
    if term:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        try:
            return loop.run_until_complete(main)
        except asyncio.CancelledError:
            if terminated:
                raise SystemExit(128 + signal.SIGTERM) from None
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if term:
            signal.signal(signal.SIGTERM, before_term)
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
