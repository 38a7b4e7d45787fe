"""A synchronous face for programs without an event loop (Flask, scripts).

One implementation: every call runs the async :class:`~schedkit.service.Scheduler`
method on an event loop in a background thread (an anyio blocking portal). Each method
below is declared from the async one it runs, so it keeps that method's signature and
types (a test checks that every public coroutine method of Scheduler is here).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload
from zoneinfo import ZoneInfo

from anyio.from_thread import BlockingPortal, start_blocking_portal

from schedkit.config import SchedkitConfig
from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler
from schedkit.store import Store
from schedkit.task import BaseTask

P = ParamSpec("P")
T = TypeVar("T")


class _Blocking(Generic[P, T]):
    """A blocking twin of an async Scheduler method."""

    def __init__(self, method: Callable[Concatenate[Scheduler, P], Awaitable[T]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, objtype: type[SyncScheduler]) -> Self: ...

    @overload
    def __get__(self, obj: SyncScheduler, objtype: type[SyncScheduler]) -> Callable[P, T]: ...

    def __get__(
        self, obj: SyncScheduler | None, objtype: type[SyncScheduler]
    ) -> Self | Callable[P, T]:
        if obj is None:
            return self
        method = self._method

        @functools.wraps(method)
        def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
            scheduler, portal = obj._running()
            return portal.call(functools.partial(method, scheduler, *args, **kwargs))

        return blocking


class SyncScheduler:
    """``with SyncScheduler(config) as s: s.run_now("task", wait=True)``.

    Takes the same arguments as :class:`Scheduler`; its coroutine methods are blocking
    methods here, with the same arguments.
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

    def _running(self) -> tuple[Scheduler, BlockingPortal]:
        if self._scheduler is None or self._portal is None:
            raise RuntimeError("start the SyncScheduler first (or use it in a with block)")
        return self._scheduler, self._portal

    @property
    def scheduler(self) -> Scheduler:
        """The async scheduler behind this one (for its plain, non-async methods)."""
        return self._running()[0]

    @property
    def config(self) -> SchedkitConfig:
        return self.scheduler.config

    @property
    def registry(self) -> TaskRegistry:
        return self.scheduler.registry

    @property
    def node_id(self) -> str:
        return self.scheduler.node_id

    @property
    def tz(self) -> ZoneInfo:
        return self.scheduler.tz

    @property
    def is_leader(self) -> bool:
        return self.scheduler.is_leader

    @property
    def store(self) -> Store:
        return self.scheduler.store

    def get_task(self, task_name: str) -> BaseTask:
        return self.scheduler.get_task(task_name)

    def list_tasks(
        self, category: str | None = None, tags: list[str] | None = None
    ) -> list[BaseTask]:
        return self.scheduler.list_tasks(category, tags)

    add_task = _Blocking(Scheduler.add_task)
    add_schedules = _Blocking(Scheduler.add_schedules)
    remove_task = _Blocking(Scheduler.remove_task)
    delete_schedule = _Blocking(Scheduler.delete_schedule)
    pause_task = _Blocking(Scheduler.pause_task)
    resume_task = _Blocking(Scheduler.resume_task)
    get_schedule = _Blocking(Scheduler.get_schedule)
    list_schedules = _Blocking(Scheduler.list_schedules)
    count_schedules = _Blocking(Scheduler.count_schedules)
    pending_defaults = _Blocking(Scheduler.pending_defaults)
    schedule_counts = _Blocking(Scheduler.schedule_counts)
    next_schedules = _Blocking(Scheduler.next_schedules)
    get_job_info = _Blocking(Scheduler.get_job_info)
    allowed_fires = _Blocking(Scheduler.allowed_fires)
    run_now = _Blocking(Scheduler.run_now)
    execute_handed_off = _Blocking(Scheduler.execute_handed_off)
    wait_for_run = _Blocking(Scheduler.wait_for_run)
    cancel_run = _Blocking(Scheduler.cancel_run)
    retry_run = _Blocking(Scheduler.retry_run)
    backfill = _Blocking(Scheduler.backfill)
    backfill_status = _Blocking(Scheduler.backfill_status)
    cancel_backfill = _Blocking(Scheduler.cancel_backfill)
    get_run = _Blocking(Scheduler.get_run)
    list_runs = _Blocking(Scheduler.list_runs)
    count_runs = _Blocking(Scheduler.count_runs)
    last_finished_runs = _Blocking(Scheduler.last_finished_runs)
    result_file = _Blocking(Scheduler.result_file)
    get_logs = _Blocking(Scheduler.get_logs)
    stats = _Blocking(Scheduler.stats)
    runs_per_hour = _Blocking(Scheduler.runs_per_hour)
    purge = _Blocking(Scheduler.purge)
    purge_history = _Blocking(Scheduler.purge_history)
    purge_plan = _Blocking(Scheduler.purge_plan)
    purge_audit = _Blocking(Scheduler.purge_audit)
    ping = _Blocking(Scheduler.ping)
    list_nodes = _Blocking(Scheduler.list_nodes)
    drain = _Blocking(Scheduler.drain)
    wait_drained = _Blocking(Scheduler.wait_drained)
    request_drain = _Blocking(Scheduler.request_drain)
    undrain = _Blocking(Scheduler.undrain)
    request_undrain = _Blocking(Scheduler.request_undrain)
    waiting_reasons = _Blocking(Scheduler.waiting_reasons)
    leader_lease = _Blocking(Scheduler.leader_lease)
    list_audit = _Blocking(Scheduler.list_audit)
    count_audit = _Blocking(Scheduler.count_audit)
    create_token = _Blocking(Scheduler.create_token)
    list_tokens = _Blocking(Scheduler.list_tokens)
    revoke_token = _Blocking(Scheduler.revoke_token)
    verify_token = _Blocking(Scheduler.verify_token)
    token_is_live = _Blocking(Scheduler.token_is_live)
    get_state = _Blocking(Scheduler.get_state)
    set_state = _Blocking(Scheduler.set_state)
