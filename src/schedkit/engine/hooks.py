"""The design document's hooks of one attempt, in order: validate → before → execute →
after. Shared by the attempt on this node (:mod:`~schedkit.engine.attempt`) and by an
attempt isolated in a child process (:mod:`~schedkit.engine.isolation_child`)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from schedkit.engine.retries import error_info
from schedkit.engine.threads import HeldThread
from schedkit.models import Run
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


async def run_hooks(
    task: BaseTask, run: Run, ctx: TaskContext, held: HeldThread | None
) -> TaskResult:
    """The hooks in the document's order; sync hooks of a sync task on ``held`` (in the
    calling thread when None). An ``after_execution`` failure is kept with the result,
    which stands."""
    validate = _own_hook(task, "validate_execution_environment")
    if validate is not None and not await call_hook(held, validate):
        raise EnvironmentCheckFailed(
            f"{type(task).__name__}.validate_execution_environment() returned False"
        )
    if (before := _own_hook(task, "before_execution")) is not None:
        await call_hook(held, before)
    kwargs = task.prepare_kwargs({k: v for k, v in run.kwargs.items() if k != WORKFLOW_KEY})
    result = TaskResult.from_value(await call_hook(held, task.execute, **kwargs))
    after = _own_hook(task, "after_execution")
    if after is None:
        return result
    try:
        await call_hook(held, after, result.to_json())
    except Exception as exc:
        ctx.logger.exception("after_execution failed (the run's result stands)")
        result = replace(result, extra={**result.extra, "after_execution_error": error_info(exc)})
    return result


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
