"""One attempt of a run: the document's hooks in order, under the run's timeout, and the
verdict on how it ended.

The verdicts are pure functions (:func:`judge_result`, :func:`judge_error`,
:func:`timed_out`), tested without running anything; :class:`AttemptRunner` does the
running: async hooks on the event loop, a sync task's hooks on one thread of the
:class:`~schedkit.engine.threads.ThreadLane` (its timeout starts once it has a thread),
the hooks of a task with ``isolation = "process"`` in a child process
(:mod:`~schedkit.engine.isolation`; killed at the timeout or on cancel).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schedkit._controls import escape_controls
from schedkit.context import RunCancelledError, TaskContext
from schedkit.engine.hooks import BaseExceptionRaised, call_hook, raised_by_task, run_hooks
from schedkit.engine.isolation import IsolatedTimeout, needs_thread, run_isolated
from schedkit.engine.retries import error_info, is_final
from schedkit.engine.threads import HeldThread, ThreadLane, without_stop_iteration
from schedkit.engine.work import Work, WorkAbandonedError
from schedkit.errors import ResultNotReadable, ResultNotStorable, StaleKwargsError
from schedkit.limits import MAX_ERROR_MESSAGE_CHARS, MAX_RESULT_BYTES, clip
from schedkit.logcapture import ABOUT_RUN
from schedkit.models import JSON, Run, RunStatus, storable_json
from schedkit.parameters import secret_fields
from schedkit.redaction import mask_values, secret_values
from schedkit.stopping import wait_for
from schedkit.task import BaseTask, TaskResult

logger = logging.getLogger(__name__)

#: Longest wait for a task's ``on_failure`` hook; it must not hold the run's end forever.
ON_FAILURE_TIMEOUT = 60.0
#: The message of a ``CancelledError`` the task's code raised of its own, said without one.
OWN_CANCEL = (
    "the task's code raised CancelledError though its run was not cancelled (it awaited "
    "a task or future that was cancelled elsewhere)"
)


class TaskReportedFailure(Exception):
    """``execute`` returned ``success: False`` without raising."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How an attempt ended, before any retry decision."""

    status: RunStatus
    result: JSON | None = None
    error: JSON | None = None
    reason: str | None = None
    #: False when a retry would only repeat the work: the task did it, and its result
    #: cannot be stored (not JSON, too large).
    retryable: bool = True


def cancelled(ctx: TaskContext) -> Outcome:
    return Outcome(status=RunStatus.CANCELLED, reason=ctx.cancel_reason)


def timed_out(timeout: float) -> tuple[Outcome, Exception]:
    """The verdict on an attempt that overran ``timeout``, and the error ``on_failure``
    receives."""
    message = f"run exceeded its timeout of {timeout:g} s"
    return (
        Outcome(status=RunStatus.TIMEOUT, error={"type": "TimeoutError", "message": message}),
        TimeoutError(message),
    )


def judge_error(exc: BaseException, ctx: TaskContext) -> tuple[Outcome, Exception | None]:
    """The verdict on an attempt that raised ``exc`` (a cancelled run's error is its
    cancellation, not a failure); the second item goes to ``on_failure``, which takes an
    Exception (see hooks.BaseExceptionRaised)."""
    if ctx.cancelled:
        return cancelled(ctx), None
    # The task did its work, and a retry would do it again to return the same result;
    # or it cannot start, and a retry would read the same kwargs.
    retryable = not isinstance(exc, ResultNotReadable | ResultNotStorable | StaleKwargsError)
    error = masked(error_info(exc), ctx)
    if isinstance(exc, asyncio.CancelledError) and not str(exc):
        error["message"] = OWN_CANCEL
    failure = exc if isinstance(exc, Exception) else BaseExceptionRaised(exc)
    return Outcome(status=RunStatus.FAILED, error=error, retryable=retryable), failure


def masked(error: JSON, ctx: TaskContext) -> JSON:
    """``error`` (:func:`error_info`) with the values of the run's secret parameters
    masked in its message and traceback (an exception saying ``login refused for
    bob:Hunter2xyz``)."""
    return {
        key: mask_values(value, ctx.secret_values) if isinstance(value, str) else value
        for key, value in error.items()
    }


def judge_result(result: TaskResult, ctx: TaskContext) -> tuple[Outcome, Exception | None]:
    """The verdict on an attempt whose hooks returned ``result``: cancelled if cancel was
    asked meanwhile; failed if the result cannot be stored or is over the size limit, or
    if the task reported ``success: False``; else success."""
    if ctx.cancelled:
        return cancelled(ctx), None
    try:
        payload = result.to_json()
        size = len(storable_json(payload))
    except (ResultNotStorable, ValueError) as exc:
        return Outcome(
            status=RunStatus.FAILED,
            error={"type": "ResultNotStorable", "message": str(exc)},
            retryable=False,
        ), None
    if size > MAX_RESULT_BYTES:
        message = (
            f"result is {size:,} bytes, over the {MAX_RESULT_BYTES:,}-byte limit; "
            "store large outputs elsewhere and return a reference"
        )
        return Outcome(
            status=RunStatus.FAILED,
            error={"type": "ResultTooLargeError", "message": message},
            retryable=False,
        ), None
    if result.success:
        return Outcome(status=RunStatus.SUCCESS, result=payload), None
    said = mask_values(result.message or "the task reported failure", ctx.secret_values)
    message = clip(said, MAX_ERROR_MESSAGE_CHARS)
    failure = TaskReportedFailure(message)
    return Outcome(
        status=RunStatus.FAILED,
        result=payload,
        error={"type": "TaskReportedFailure", "message": message},
    ), failure


def say_ended(run: Run, ctx: TaskContext, outcome: Outcome) -> None:
    """Log an attempt that failed (raised, or returned ``success: False`` or a result that
    cannot be kept), timed out, or was stopped (cancelled, a node's stop or drain). The
    run and task in the text: a host app's plain log format shows nothing of ``extra``
    (an audit: "run failed: ConnectionError: …", whose?). A failure or timeout a retry
    follows is no failure of the run yet (monitoring.md): a warning; the one ending the
    run an error; a stop is someone's decision: info, with its reason, in the node's log
    only. A failure or timeout is made in the run's context, so that the run's own log
    ends with it (a timed-out run's log was empty);
    ``about_run``: the node's own log shows it too (lines made inside runs go to their
    run's log only).

    The error is anyone's text (a partner's answer): its controls are written as escapes
    here, not only by the CLI's formatter, so that the record is one line in any handler
    of a host process (ESC, BEL, a newline faking a log line, U+202E)."""
    if outcome.status is RunStatus.CANCELLED:
        # The node's log only: the run's page shows the stop and its reason in the
        # reader's language, which an English line at the end of its log contradicted.
        ctx.logger.info(
            "run %s of %s stopped (attempt %d of %d): %s",
            ctx.run_id,
            escape_controls(ctx.task_name),
            ctx.attempt,
            run.max_attempts,
            escape_controls(outcome.reason or "cancelled"),
        )
        return
    if outcome.status not in (RunStatus.FAILED, RunStatus.TIMEOUT):
        return
    token = ctx.activate()
    try:
        final = not outcome.retryable or is_final(run, outcome.status, registered=True)
        error = outcome.error or {}
        ctx.logger.log(
            logging.ERROR if final else logging.WARNING,
            "run %s of %s %s (attempt %d of %d%s): %s: %s",
            ctx.run_id,
            escape_controls(ctx.task_name),
            "failed" if outcome.status is RunStatus.FAILED else "timed out",
            ctx.attempt,
            run.max_attempts,
            "" if final else ", will be retried",
            escape_controls(str(error.get("type"))),
            escape_controls(str(error.get("message"))),
            extra={ABOUT_RUN: True},
        )
    finally:
        TaskContext.deactivate(token)


class AttemptRunner:
    def __init__(self, lane: ThreadLane) -> None:
        self.lane = lane

    async def run(
        self,
        task: BaseTask,
        run: Run,
        ctx: TaskContext,
        on_work: Callable[[Work], None],
    ) -> Outcome:
        """Run one attempt. ``on_work`` is given each work a cancel must stop (waiting
        for a thread, then the hooks), so that :meth:`Executor.cancel_local` can."""
        held: HeldThread | None = None
        isolated = task.isolation == "process"
        model = task.parameters
        names = secret_fields(model) if model is not None else ()
        ctx.secret_values = secret_values(run.kwargs, names)
        token = ctx.activate()
        label = f"run {run.id} of {run.task_name}"
        try:
            if needs_thread(task):
                waiting = Work(asyncio.create_task(self.lane.hold(label)))
                on_work(waiting)
                held = await waiting.result()
            # An isolated attempt keeps its own timeout: it starts once the child runs.
            work = Work(
                asyncio.create_task(
                    run_isolated(task, run, ctx, run.timeout)
                    if isolated
                    else run_hooks(task, run, ctx, held),
                    # Named after its run: code ignoring its stop is left behind by the
                    # loop's end with a warning naming the tasks it leaves.
                    name=label,
                ),
                None if isolated else run.timeout,
            )
            work.thread = held
        except (asyncio.CancelledError, RunCancelledError):
            if not ctx.cancelled:
                raise
            say_ended(run, ctx, outcome := cancelled(ctx))
            return outcome
        finally:
            TaskContext.deactivate(token)
        on_work(work)
        try:
            outcome, failure = await self._settle(work, run, ctx)
        finally:
            if held is not None:
                held.done()
        say_ended(run, ctx, outcome)
        if failure is not None:
            await self._on_failure(task, ctx, failure)
        return outcome

    async def _settle(
        self, work: Work, run: Run, ctx: TaskContext
    ) -> tuple[Outcome, Exception | None]:
        """The verdict on ``work`` once it ended or was abandoned (see engine.work)."""
        try:
            result = await work.result()
        except (asyncio.CancelledError, RunCancelledError, WorkAbandonedError) as exc:
            if not (work.timed_out or ctx.cancelled):
                # Neither a stop nor a timeout: ours (the node stops), or the code's own.
                if isinstance(exc, asyncio.CancelledError) and raised_by_task(exc):
                    return judge_error(exc, ctx)
                raise
            if isinstance(exc, WorkAbandonedError):
                logger.warning(
                    "run %s of %s ignored being stopped (%s) and is left running: its "
                    "attempt ends without it",
                    run.id,
                    escape_controls(run.task_name),
                    "timeout" if work.timed_out else escape_controls(str(ctx.cancel_reason)),
                )
            return self._timed_out(run, ctx) if work.timed_out else (cancelled(ctx), None)
        except IsolatedTimeout:
            return self._timed_out(run, ctx)
        except BaseException as exc:  # any the code raised, else the run stayed running
            if not raised_by_task(exc):
                raise
            if work.timed_out:
                return self._timed_out(run, ctx)
            return judge_error(exc, ctx)
        if work.timed_out:  # it caught its cancellation and returned anyway
            return self._timed_out(run, ctx)
        return judge_result(result, ctx)

    @staticmethod
    def _timed_out(run: Run, ctx: TaskContext) -> tuple[Outcome, Exception]:
        ctx.cancel("timeout")
        return timed_out(run.timeout or 0)

    async def _on_failure(self, task: BaseTask, ctx: TaskContext, exc: Exception) -> None:
        """Call ``on_failure`` in the run's context. A sync hook runs outside the lane: the
        attempt's own thread may still be busy (a timeout does not stop a thread)."""
        token = ctx.activate()
        try:
            hook: Callable[[Exception], Any] = task.on_failure
            on_loop = task.is_async or inspect.iscoroutinefunction(hook)
            # Through call_hook: the hook's own sys.exit() / KeyboardInterrupt become
            # TaskExited inside wait_for's task, which would otherwise end the event loop.
            called = (
                call_hook(None, hook, exc)
                if on_loop
                else call_hook(None, asyncio.to_thread, without_stop_iteration, hook, exc)
            )
            await wait_for(called, ON_FAILURE_TIMEOUT)
        except BaseException as exc:  # whatever it raised: the run's end is still written
            if not raised_by_task(exc):
                raise
            ctx.logger.exception("on_failure hook failed")
        finally:
            TaskContext.deactivate(token)
