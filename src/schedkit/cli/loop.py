"""The event loop a command runs on, ended within a bound.

``asyncio.run`` ends by cancelling the tasks left on its loop and waiting for each to
end, however long: task code that catches its cancellation (abandoned by its run after
``engine.work.ABANDON_AFTER``) then held ``schedkit serve`` 57 s past its SIGTERM, the
node already stopped. Here leftovers get ``stopping.LEFTOVER_WAIT`` seconds, then the
loop closes without them, as a thread ignoring its stop is left at exit.

The first Ctrl-C cancels the command's coroutine (its clean-up runs), as under
``asyncio.run``. SIGTERM (``timeout``, systemd, a cancelled CI job) does the same, then
exits 143: it killed the process outright, and ``run --wait`` left the run it executed
``running`` until a service judged it lost. Commands that stop their own way on SIGTERM
(``serve``, ``worker``) install their handler over this.

A second signal, of either kind, exits at once, unless the command holds its exit
(:func:`held`: ``run --wait`` executing its run here): it then exits once the held step
has ended, :data:`HOLD_WAIT` seconds at most, and a third one exits at once. Raised at
once, a second Ctrl-C cut the run's creation mid-insert: the run stayed ``running``
with nothing executing it, was judged lost, and a service executed it again, although
the user had interrupted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from schedkit.stopping import end_default_executor, end_leftovers

T = TypeVar("T")

#: Seconds a second signal waits for the step the command holds its exit for.
HOLD_WAIT = 3.0

#: The signal that cancelled the running command ("Ctrl-C", "SIGTERM"), for the words
#: of what its clean-up records (a run cancelled "interrupted in the CLI (SIGTERM)").
_stopped_by: str | None = None


def stopped_by() -> str:
    """What stopped the command now ending: "Ctrl-C" unless it was SIGTERM."""
    return _stopped_by or "Ctrl-C"


class _Exit:
    """The exit a signal after the first asks for: raised at once, or, while the command
    holds it (:func:`held`), from the loop once the held steps end or :data:`HOLD_WAIT`
    has passed. Raised from the loop, between two steps of its tasks, it cuts no task's
    code midway (an async generator cut so could not be closed: asyncio's tracebacks)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, main: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.main = main
        #: What each held step says when a second signal comes (it will end first).
        self.holds: list[Callable[[], None]] = []
        self.asked: BaseException | None = None
        self.over = False  # the command's coroutine has ended: nothing more is raised
        self._deadline: asyncio.TimerHandle | None = None

    def defer(self, stop: BaseException) -> bool:
        """In a signal handler: whether ``stop`` waits for the held steps."""
        if self.asked is not None or not self.holds:
            return False
        self.asked = stop
        self.loop.call_soon_threadsafe(self._hurry)
        return True

    def _hurry(self) -> None:
        if not self.holds:
            self._leave()
            return
        self.holds[-1]()
        self._deadline = self.loop.call_later(HOLD_WAIT, self._leave)

    def release(self, say: Callable[[], None]) -> None:
        self.holds.remove(say)
        if not self.holds and self.asked is not None and not self.over:
            if self._deadline is not None:
                self._deadline.cancel()
            self.loop.call_soon(self._leave)

    def _leave(self) -> None:
        # Once the command's coroutine has ended, run() raises ``asked``: raised here
        # too, the loop's stop that the end schedules came in the next
        # run_until_complete (closing async generators), which failed.
        if self.over or self.asked is None or self.main.done():
            return
        self.over = True
        raise self.asked


_exit: _Exit | None = None


@contextlib.contextmanager
def held(say: Callable[[], None]) -> Iterator[None]:
    """Hold the command's exit while this step goes on: a second signal lets it end
    (``say`` is called then, to tell the user why the command does not exit yet)."""
    ending = _exit
    if ending is None:  # not run by run()
        yield
        return
    ending.holds.append(say)
    try:
        yield
    finally:
        ending.release(say)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop; see the module's docstring."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(coro)
    global _stopped_by, _exit
    _stopped_by = None
    ending = _exit = _Exit(loop, main)

    def on_signal(signum: int, frame: object) -> None:
        global _stopped_by
        # Whichever the signal, a later one is an exit: a SIGINT after SIGTERM cancelled
        # the command again, cutting its clean-up (recording its run cancelled) short.
        stop = KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)
        if _stopped_by is not None or main.done():
            if main.done() or not ending.defer(stop):
                raise stop
            return
        _stopped_by = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        loop.call_soon_threadsafe(main.cancel)

    main_thread = threading.current_thread() is threading.main_thread()
    ours = main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # Over the default, or a handler that ends the process (coverage's saves its data,
    # then kills): the command ends cleanly instead, and its atexit work runs then.
    before_term = signal.getsignal(signal.SIGTERM) if main_thread else None
    term = main_thread and before_term not in (signal.SIG_IGN, None)
    if ours:
        signal.signal(signal.SIGINT, on_signal)
    if term:
        signal.signal(signal.SIGTERM, on_signal)
    try:
        try:
            return loop.run_until_complete(main)
        except asyncio.CancelledError:
            if ending.asked is not None:
                raise ending.asked from None
            if _stopped_by == "SIGTERM":
                raise SystemExit(128 + signal.SIGTERM) from None
            if _stopped_by is not None:
                raise KeyboardInterrupt from None
            raise
    finally:
        ending.over = True
        _exit = None
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if term:
            signal.signal(signal.SIGTERM, before_term)
        try:
            loop.run_until_complete(end_leftovers("at exit"))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(end_default_executor("at exit"))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
