"""What an extension (the monitor, a plugin) may use of the node it is attached to.

Extensions are started after the node and stopped before it. They reach the node only
through :class:`ExtensionHost` — the façade's own methods — never through its store or
engine, so the façade stays the one way in (and no import cycle ties them together).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from schedkit.calendars import CalendarWarning
from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.events import EventKind, Listener
from schedkit.models import (
    JSON,
    Lease,
    Node,
    Run,
    RunStatus,
    Schedule,
    ScheduleCounts,
    StateEntry,
)
from schedkit.task import BaseTask

#: A context manager entered around every attempt executed on the node.
RunWrapper = Callable[[Run], contextlib.AbstractAsyncContextManager[Any]]
#: Told of every store call: (operation, seconds, exception or None).
StoreObserver = Callable[[str, float, BaseException | None], None]


class CalendarWarnings(Protocol):
    async def warnings(self) -> list[CalendarWarning]: ...


class ExtensionHost(Protocol):
    """The node as an extension sees it (implemented by :class:`schedkit.Scheduler`)."""

    @property
    def config(self) -> SchedkitConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def is_leader(self) -> bool: ...

    @property
    def running_count(self) -> int:
        """Runs executing on this node now."""
        ...

    @property
    def dropped(self) -> dict[str, int]:
        """What the node's bounded buffers dropped so far, by buffer."""
        ...

    def find_task(self, task_name: str) -> BaseTask | None: ...

    def add_listener(
        self, listener: Listener, kinds: Iterable[EventKind] | None = None
    ) -> Callable[[], None]: ...

    def add_run_wrapper(self, wrapper: RunWrapper) -> Callable[[], None]: ...

    def observe_store(self, observer: StoreObserver, tracer: Any = None) -> Callable[[], None]: ...

    def add_executor(
        self, name: str, send: Callable[[Run], Awaitable[None]]
    ) -> Callable[[], None]: ...

    async def get_schedule(self, schedule_id: str) -> Schedule | None: ...

    async def schedule_counts(self) -> list[ScheduleCounts]: ...

    async def list_nodes(self) -> list[Node]: ...

    async def list_runs(
        self,
        task_name: str | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Run]: ...

    async def count_runs(
        self, task_name: str | None = None, *, status: RunStatus | Sequence[RunStatus] | None = None
    ) -> int: ...

    async def leader_lease(self) -> Lease | None: ...

    async def waiting_reasons(self, runs: Sequence[Run]) -> dict[str, str]: ...

    @property
    def calendars(self) -> CalendarWarnings:
        """The business calendars (``warnings()``: years no source confirms)."""
        ...

    async def get_state(self, key: str) -> StateEntry | None: ...

    async def list_state(self, prefix: str) -> list[StateEntry]: ...

    async def get_run(self, run_id: str) -> Run: ...

    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool: ...


class Extension(Protocol):
    """Something started with the node and stopped after it (the monitor, plugins)."""

    async def start(self, host: ExtensionHost) -> None: ...

    async def stop(self) -> None: ...
