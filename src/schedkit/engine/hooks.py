"""The design document's hooks of one attempt, in order: validate → before → execute →
after. Shared by the attempt on this node (:mod:`~schedkit.engine.attempt`) and by an
attempt isolated in a child process (:mod:`~schedkit.engine.isolation_child`)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import replace
from typing import Any

from schedkit.engine.retries import error_info
from schedkit.engine.threads import HeldThread
from schedkit.models import Run
from schedkit.stopping import being_cancelled
from schedkit.task import BaseTask, TaskContext, TaskResult
from schedkit.workflows.plan import WORKFLOW_KEY


def context_of(
    run: Run,
    *,
    config: Mapping[str, Any] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> TaskContext:
    """The context an attempt of ``run`` sees (on this node, or in its child process)."""
    return TaskContext(
        run_id=run.id,
        task_name=run.task_name,
        schedule_id=run.schedule_id,
        scheduled_for=run.scheduled_for,
        attempt=run.attempt,
        kwargs=run.kwargs,
        trigger_source=run.trigger_source,
        config=config,
        on_progress=on_progress,
        workflow=run.kwargs.get(WORKFLOW_KEY),
    )


class EnvironmentCheckFailed(Exception):
    """``validate_execution_environment()`` returned False."""


#: What task code can raise that would end the event loop, and with it the process.
PROCESS_EXITS: tuple[type[BaseException], ...] = (SystemExit, KeyboardInterrupt, GeneratorExit)


def raised_by_task(exc: BaseException) -> bool:
    """Whether ``exc``, caught around task code, is the task's to answer for: not the
    cancellation of the task catching it (a ``CancelledError`` the code raised of its own
    is), nor a Ctrl-C or exit of the process (the code's own are TaskExited by then,
    see :func:`call_hook`)."""
    if isinstance(exc, asyncio.CancelledError):
        return not being_cancelled()
    return not isinstance(exc, KeyboardInterrupt | SystemExit)


class TaskExited(Exception):
    """The task's code raised SystemExit, KeyboardInterrupt or GeneratorExit. Left as
    they are, these end the event loop (asyncio re-raises them out of the task that
    got them): ``sys.exit(1)`` in a task stopped the whole node, or the application
    embedding it, and a retry on the next start did it again."""

    def __init__(self, exc: BaseException) -> None:
        said = f": {exc}" if str(exc) else ""
        super().__init__(
            f"the task's code raised {type(exc).__name__}{said}; recorded as a failure "
            "instead of ending this process"
        )


class BaseExceptionRaised(Exception):
    """What ``on_failure`` receives when the task's code raised a BaseException that is
    no Exception and does not end the process (a ``BaseExceptionGroup`` of a task group,
    pytest's ``Failed``, gevent's ``GreenletExit``, a ``CancelledError`` of its own): the
    hook takes an Exception. The original is :attr:`exception` and the cause; the run's
    record names the original."""

    def __init__(self, exc: BaseException) -> None:
        said = f": {exc}" if str(exc) else ""
        super().__init__(f"the task's code raised {type(exc).__name__}{said}")
        self.exception = exc
        self.__cause__ = exc


async def run_hooks(
    task: BaseTask, run: Run, ctx: TaskContext, held: HeldThread | None
) -> TaskResult:
    """The hooks in the document's order; sync hooks of a sync task on ``held`` (in the
    calling thread when None). An ``after_execution`` failure is kept with the result,
    which stands. Kwargs that no longer fit the task fail it first (StaleKwargsError):
    no hook runs for a run that cannot."""
    kwargs = task.prepare_kwargs({k: v for k, v in run.kwargs.items() if k != WORKFLOW_KEY})
    validate = _own_hook(task, "validate_execution_environment")
    if validate is not None and not await call_hook(held, validate):
        raise EnvironmentCheckFailed(
            f"{type(task).__name__}.validate_execution_environment() returned False"
        )
    if (before := _own_hook(task, "before_execution")) is not None:
        await call_hook(held, before)
    value = await call_hook(held, task.execute, **kwargs)
    result = TaskResult.from_value(await _consumed(held, value))
    after = _own_hook(task, "after_execution")
    if after is None:
        return result
    # ResultNotStorable here fails the attempt, not retried (see attempt.judge_error).
    payload = result.to_json()
    try:
        await call_hook(held, after, payload)
    except BaseException as exc:  # "if it raises", whatever it raises (tasks.md)
        if not raised_by_task(exc):
            raise
        ctx.logger.exception("after_execution failed (the run's result stands)")
        result = replace(result, extra={**result.extra, "after_execution_error": error_info(exc)})
    return result


async def _consumed(held: HeldThread | None, value: Any) -> Any:
    """A generator ``execute`` returned, run to its end into a list (what it yields is
    the task's data) where its code belongs: a sync one on the task's thread (it was
    iterated while its result was stored, on the loop, past the timeout and the error
    handling), an async one on the loop.

    Either stops at its next item once the attempt is stopped (timeout, cancel, the node
    stopping), closed so that its ``finally`` runs: a thread cannot be interrupted, but
    a generator's consumer can stop asking for items. Read to its end by ``list``, a
    timed-out sync generator went on running its steps, side effects and all."""
    if inspect.isgenerator(value):
        stop = threading.Event()
        try:
            return await call_hook(held, _drained, value, stop)
        finally:
            # Early only when this task is stopped; after the call returned, a no-op.
            stop.set()
    if inspect.isasyncgen(value):
        return await call_hook(None, _listed, value)
    return value


def _drained(items: Generator[Any], stop: threading.Event) -> list[Any]:
    """``items`` into a list, on the task's thread; closed at the next item once ``stop``
    is set, when nothing waits for the list any more."""
    with contextlib.closing(items):
        listed = []
        for item in items:
            if stop.is_set():
                break
            listed.append(item)
        return listed


async def _listed(items: AsyncGenerator[Any]) -> list[Any]:
    async with contextlib.aclosing(items):
        listed = []
        async for item in items:
            if being_cancelled():
                # It swallowed its CancelledError and yielded on: it is asked for no
                # further item, and the attempt ends as stopped, not on to after_execution.
                raise asyncio.CancelledError
            listed.append(item)
        return listed


def _own_hook(task: BaseTask, name: str) -> Callable[..., Any] | None:
    """The task's hook ``name``, or None where it is :class:`BaseTask`'s own no-op, which
    is not called: for a sync task every call is a hop to its thread and back (three of
    the four hops of a task with no hooks of its own)."""
    hook: Callable[..., Any] = getattr(task, name)
    return None if getattr(hook, "__func__", None) is getattr(BaseTask, name) else hook


async def call_hook(
    held: HeldThread | None, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """A hook of an async task (or an async hook) on the loop; a sync task's sync hook on
    its held thread. What would end the process is raised as :class:`TaskExited`."""
    try:
        if held is None or inspect.iscoroutinefunction(fn):
            out = fn(*args, **kwargs)
            return await out if inspect.isawaitable(out) else out
        return await held.call(fn, *args, **kwargs)
    except PROCESS_EXITS as exc:
        if isinstance(exc, GeneratorExit) and _loop_gone():
            # This coroutine is being closed (a task left behind at exit, collected):
            # not the task's code failing, and nothing could record it any more.
            raise
        raise TaskExited(exc) from exc


def _loop_gone() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False
