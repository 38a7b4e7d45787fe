"""A synchronous face for programs without an event loop (Flask, scripts).

One implementation: every call runs the async :class:`~schedkit.service.Scheduler`
method on an event loop in a background thread (an anyio blocking portal).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self

from anyio.from_thread import BlockingPortal, start_blocking_portal

from schedkit.service import Scheduler


class SyncScheduler:
    """``with SyncScheduler(config) as s: s.run_now("task", wait=True)``.

    Every coroutine method of :class:`Scheduler` is available as a blocking method with
    the same arguments; plain methods and attributes pass through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._scheduler: Scheduler | None = None

    def start(self) -> None:
        portal = self._stack.enter_context(start_blocking_portal())
        self._portal = portal
        # The Scheduler must be created on the portal's loop: it makes asyncio objects.
        self._scheduler = portal.call(self._create)
        try:
            portal.call(self._scheduler.start)
        except BaseException:
            self._stack.close()
            raise

    async def _create(self) -> Scheduler:
        return Scheduler(*self._args, **self._kwargs)

    def stop(self) -> None:
        if self._portal is not None and self._scheduler is not None:
            self._portal.call(self._scheduler.stop)
        self._stack.close()
        self._portal = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        scheduler = self.__dict__.get("_scheduler")
        portal = self.__dict__.get("_portal")
        if scheduler is None or portal is None:
            raise AttributeError(f"{name}: start the SyncScheduler first")
        attr = getattr(scheduler, name)
        if not callable(attr) or not _is_coroutine_function(attr):
            return attr

        @functools.wraps(attr)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return portal.call(functools.partial(attr, *args, **kwargs))

        return blocking


def _is_coroutine_function(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)
