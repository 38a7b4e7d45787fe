"""The executor: claims runs from the store and executes them on this node.

Coroutines run on the event loop, synchronous code in a thread pool (the document's
20 workers). One attempt is a sequence of small steps: enter the context, call the
document's hooks in order, judge the outcome, then either requeue it for a retry or
finish it in one atomic write. Heartbeats keep claimed runs alive (invariant 4);
cancellation requested on any node arrives with the heartbeat answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from schedkit.batching import Batcher
from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.errors import StoreError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.logcapture import RunLogBuffer
from schedkit.models import (
    JSON,
    Run,
    RunOutcome,
    RunStatus,
    TriggerSource,
    new_id,
    storable_json,
)
from schedkit.registry import TaskRegistry
from schedkit.store.base import MAX_RESULT_BYTES, Store
from schedkit.store.values import RunFinish, RunRequeue
from schedkit.task import BaseTask, RunCancelledError, TaskContext, TaskResult

logger = logging.getLogger(__name__)

#: Log line numbers of attempt n start at (n - 1) * this, so attempts never collide.
SEQ_PER_ATTEMPT = 1_000_000_000
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.LOST})


class EnvironmentCheckFailed(Exception):
    """``validate_execution_environment()`` returned False."""


class TaskReportedFailure(Exception):
    """``execute`` returned ``success: False`` without raising."""


def error_info(exc: BaseException) -> JSON:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def retry_at(task: BaseTask | None, run: Run, status: RunStatus, now: datetime) -> datetime | None:
    """When to retry an attempt that ended in ``status``; None if it must not retry."""
    if status not in RETRYABLE or run.attempt >= run.max_attempts:
        return None
    policy = task.retry_policy if task is not None else None
    if policy is None:
        return None
    return now + timedelta(seconds=policy.delay(run.attempt))


@dataclass(kw_only=True, slots=True)
class _Attempt:
    status: RunStatus
    result: JSON | None = None
    error: JSON | None = None
    reason: str | None = None


@dataclass(kw_only=True, slots=True)
class _Active:
    run: Run
    ctx: TaskContext
    work: asyncio.Task[Any] | None = None


class Executor:
    """Executes runs claimed by (or fired on) this node."""

    def __init__(
        self,
        *,
        store: Store,
        registry: TaskRegistry,
        events: EventBus,
        clock: Clock,
        node_id: str,
        config: SchedkitConfig,
        logs: RunLogBuffer,
    ) -> None:
        self.store = store
        self.registry = registry
        self.events = events
        self.clock = clock
        self.node_id = node_id
        self.config = config
        self.logs = logs
        self.capacity = config.executor.max_concurrent_runs if config.executor.enabled else 0
        self._active: dict[str, _Active] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved = 0
        #: Runs whose task has returned and whose end is being written (in batches): they
        #: keep heartbeating but no longer take a slot.
        self._concluding = 0
        self._wake = asyncio.Event()
        #: Whether claimable runs may be waiting. A claim is a write transaction, so the
        #: claim loop runs one only on this hint or at each poll, not for every run end.
        self._maybe_pending = True
        #: Runs executing here that a queued run waits for (queue_one): their end makes
        #: the queued run claimable.
        self._blockers: set[str] = set()
        self._stopping = False
        self._progress: dict[str, JSON] = {}
        self._progress_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=config.executor.max_workers, thread_name_prefix="schedkit-run"
        )
        self._loops: list[asyncio.Task[None]] = []
        self._finishes: Batcher[RunFinish, bool] = Batcher(
            # Looked up per call: instrumentation may wrap the store's methods later.
            lambda items: self.store.finish_runs(items)
        )
        #: Context managers entered around every attempt (tracing spans and the like);
        #: each is called with the run and must not raise out of its own errors.
        self.run_wrappers: list[Callable[[Run], contextlib.AbstractAsyncContextManager[Any]]] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.capacity:
            self._loops.append(asyncio.create_task(self._claim_loop(), name="schedkit-claim"))
        self._loops.append(asyncio.create_task(self._heartbeat_loop(), name="schedkit-heartbeat"))
        self._loops.append(asyncio.create_task(self._flush_loop(), name="schedkit-flush"))

    async def stop(self, grace: float) -> None:
        """Stop claiming, give running runs ``grace`` seconds, then cancel the rest."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, still = await asyncio.wait(set(self._tasks), timeout=grace)
            for run_id in list(self._active):
                self.cancel_local(run_id, "service shut down before the run finished")
            if still:
                await asyncio.wait(still, timeout=max(5.0, grace))
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._flush()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def running_ids(self) -> list[str]:
        return list(self._active)

    @property
    def free_slots(self) -> int:
        if self._stopping:
            return 0
        executing = len(self._active) - self._concluding
        return max(0, self.capacity - executing - self._reserved)

    def reserve(self, wanted: int) -> int:
        """Reserve up to ``wanted`` slots for runs this node creates already claimed."""
        granted = min(wanted, self.free_slots)
        self._reserved += granted
        return granted

    def release(self, count: int) -> None:
        self._reserved = max(0, self._reserved - count)

    def wake(self) -> None:
        """Claimable runs may be waiting (created, requeued or released): claim now."""
        self._maybe_pending = True
        self._wake.set()

    def wake_at(self, when: datetime) -> None:
        """Claim again when a run's ``not_before`` (e.g. a retry's) arrives."""
        delay = max(0.0, (when - self.clock.now()).total_seconds())
        asyncio.get_running_loop().call_later(delay, self.wake)

    def note_blocker(self, run_id: str) -> None:
        """A queued run waits for ``run_id``: wake the claim loop when it ends here (a
        blocker executing elsewhere is left to the poll)."""
        if run_id in self._active:
            self._blockers.add(run_id)

    def start_claimed(self, run: Run) -> None:
        """Execute a run already claimed for this node (consumes one reservation)."""
        self.release(1)
        self._start(run)

    def cancel_local(self, run_id: str, reason: str) -> bool:
        """Stop a run executing here: async work is cancelled at once, sync work is asked
        to stop through ``ctx.cancelled`` (a thread cannot be interrupted)."""
        active = self._active.get(run_id)
        if active is None:
            return False
        if not active.ctx.cancelled:  # the first reason given is the one recorded
            active.ctx.cancel(reason)
        if active.work is not None:
            active.work.cancel()
        return True

    # -- loops ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff()
        names = self.config.executor.tasks
        poll_interval = self.config.executor.poll_interval
        loop = asyncio.get_running_loop()
        # While runs are executing, a slot freed by one finishing run does not start a
        # claim of its own: claims wait until a tenth of the slots are free (or the poll
        # interval passes), so a busy node claims in batches, one transaction each. The
        # poll (runs of other nodes, retries, runs released by other nodes) keeps its
        # own clock: the run ends that wake this loop must not keep postponing it.
        batch = max(1, self.capacity // 10)
        poll_at = loop.time()
        while not self._stopping:
            free = self.free_slots
            wanted = min(free, 100)
            polling = loop.time() >= poll_at
            if (
                free
                and (self._maybe_pending or polling)
                and (free >= batch or polling or not self._active)
            ):
                self._maybe_pending = False
                if polling:
                    poll_at = loop.time() + poll_interval
                try:
                    task_names = (
                        names if names is not None else [t.task_name for t in self.registry]
                    )
                    claimed = await self.store.claim_runs(
                        self.node_id, self.clock.now(), wanted, task_names
                    )
                    backoff.reset()
                except StoreError as exc:
                    self._maybe_pending = True
                    await backoff.wait(f"claiming runs failed: {exc}")
                    continue
                for run in claimed:
                    self._start(run)
                if len(claimed) == wanted:
                    # A full claim: more may be waiting.
                    self._maybe_pending = True
                    if len(claimed) == free:
                        continue
            self._wake.clear()
            # With the poll overdue, no slot is free: the next run end wakes this loop.
            wait = poll_at - loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait if wait > 0 else poll_interval)

    async def _heartbeat_loop(self) -> None:
        interval = self.config.scheduler.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            ids = list(self._active)
            if not ids:
                continue
            try:
                cancel = await self.store.heartbeat_runs(self.node_id, ids, self.clock.now())
            except StoreError as exc:
                logger.warning("run heartbeat failed (will retry): %s", exc)
                continue
            for run_id in cancel:
                self.cancel_local(run_id, "cancel requested on another node")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self._flush()
            except StoreError as exc:
                logger.warning("writing run logs/progress failed (will retry): %s", exc)

    async def _flush(self) -> None:
        lines = self.logs.take()
        if lines:
            try:
                await self.store.append_logs(lines)
            except StoreError:
                # Put them back so the next flush (after the store returns) writes them.
                self.logs.put_back(lines)
                raise
        with self._progress_lock:
            dirty, self._progress = self._progress, {}
        for run_id, progress in dirty.items():
            await self.store.update_progress(run_id, progress)
            active = self._active.get(run_id)
            if active is not None:
                active.run = replace(active.run, progress=progress)
                self.events.publish(RunEvent(kind=EventKind.PROGRESS, run=active.run))

    # -- one run --------------------------------------------------------------------------

    def _start(self, run: Run) -> None:
        ctx = TaskContext(
            run_id=run.id,
            task_name=run.task_name,
            schedule_id=run.schedule_id,
            scheduled_for=run.scheduled_for,
            attempt=run.attempt,
            kwargs=run.kwargs,
            trigger_source=run.trigger_source,
            on_progress=functools.partial(self._on_progress, run.id),
        )
        self._active[run.id] = _Active(run=run, ctx=ctx)
        task = asyncio.create_task(self._execute(run, ctx), name=f"schedkit-run-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_progress(self, run_id: str, progress: JSON) -> None:
        progress = {**progress, "updated_at": self.clock.now().isoformat()}
        with self._progress_lock:
            self._progress[run_id] = progress

    async def _execute(self, run: Run, ctx: TaskContext) -> None:
        started = self.clock.now()
        self.logs.start_run(run.id, (run.attempt - 1) * SEQ_PER_ATTEMPT)
        self.events.publish(RunEvent(kind=EventKind.STARTED, run=run))
        task = self.registry.get_task(run.task_name)
        try:
            if task is None:
                attempt = _Attempt(
                    status=RunStatus.FAILED,
                    error={
                        "type": "TaskNotFoundError",
                        "message": f"unknown task {run.task_name!r} on node {self.node_id}",
                    },
                )
            else:
                ctx.config.update(task.execution_context)
                async with contextlib.AsyncExitStack() as stack:
                    for wrapper in self.run_wrappers:
                        await stack.enter_async_context(wrapper(run))
                    attempt = await self._attempt(task, run, ctx)
        except Exception as exc:  # a bug of ours must still end the run, never leave it running
            logger.exception("internal error executing run %s", run.id)
            attempt = _Attempt(status=RunStatus.FAILED, error=error_info(exc))
        finally:
            self.logs.end_run(run.id)
        self._concluding += 1
        self._wake.set()  # its slot is free
        try:
            await self._conclude(task, run, attempt, started)
        finally:
            self._concluding -= 1
            self._active.pop(run.id, None)
            if run.id in self._blockers:
                self._blockers.discard(run.id)
                self._maybe_pending = True
            self._wake.set()

    async def _attempt(self, task: BaseTask, run: Run, ctx: TaskContext) -> _Attempt:
        token = ctx.activate()
        try:
            work = asyncio.create_task(self._hooks(task, run, ctx))
        finally:
            TaskContext.deactivate(token)
        self._active[run.id].work = work
        try:
            result = await asyncio.wait_for(work, run.timeout) if run.timeout else await work
        except TimeoutError:
            ctx.cancel("timeout")
            message = f"run exceeded its timeout of {run.timeout:g} s"
            await self._on_failure(task, ctx, TimeoutError(message))
            return _Attempt(
                status=RunStatus.TIMEOUT, error={"type": "TimeoutError", "message": message}
            )
        except (asyncio.CancelledError, RunCancelledError):
            if not ctx.cancelled:
                raise
            return _Attempt(status=RunStatus.CANCELLED, reason=ctx.cancel_reason)
        except Exception as exc:
            if ctx.cancelled:
                return _Attempt(status=RunStatus.CANCELLED, reason=ctx.cancel_reason)
            ctx.logger.error("run failed: %s: %s", type(exc).__name__, exc)
            await self._on_failure(task, ctx, exc)
            return _Attempt(status=RunStatus.FAILED, error=error_info(exc))
        if ctx.cancelled:
            return _Attempt(status=RunStatus.CANCELLED, reason=ctx.cancel_reason)
        return await self._judge(task, ctx, result)

    async def _hooks(self, task: BaseTask, run: Run, ctx: TaskContext) -> TaskResult:
        """The document's order: validate → before → execute → after."""
        if not await self._call(task, task.validate_execution_environment):
            raise EnvironmentCheckFailed(
                f"{type(task).__name__}.validate_execution_environment() returned False"
            )
        await self._call(task, task.before_execution)
        kwargs = task.prepare_kwargs(run.kwargs)
        result = TaskResult.from_value(await self._call(task, task.execute, **kwargs))
        try:
            await self._call(task, task.after_execution, result.to_json())
        except Exception as exc:
            ctx.logger.exception("after_execution failed (the run's result stands)")
            result = replace(
                result, extra={**result.extra, "after_execution_error": error_info(exc)}
            )
        return result

    async def _call(self, task: BaseTask, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Sync code of a sync task goes to the thread pool (with the run's context);
        everything else runs on the loop."""
        if task.is_async or inspect.iscoroutinefunction(fn):
            out = fn(*args, **kwargs)
            return await out if inspect.isawaitable(out) else out
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def _on_failure(self, task: BaseTask, ctx: TaskContext, exc: BaseException) -> None:
        token = ctx.activate()
        try:
            await self._call(task, task.on_failure, exc)
        except Exception:
            ctx.logger.exception("on_failure hook failed")
        finally:
            TaskContext.deactivate(token)

    async def _judge(self, task: BaseTask, ctx: TaskContext, result: TaskResult) -> _Attempt:
        payload = result.to_json()
        try:
            size = len(storable_json(payload))
        except ValueError as exc:
            return _Attempt(
                status=RunStatus.FAILED, error={"type": "ResultNotStorable", "message": str(exc)}
            )
        if size > MAX_RESULT_BYTES:
            message = (
                f"result is {size:,} bytes, over the {MAX_RESULT_BYTES:,}-byte limit; "
                "store large outputs elsewhere and return a reference"
            )
            return _Attempt(
                status=RunStatus.FAILED, error={"type": "ResultTooLargeError", "message": message}
            )
        if result.success:
            return _Attempt(status=RunStatus.SUCCESS, result=payload)
        message = result.message or "the task reported failure"
        await self._on_failure(task, ctx, TaskReportedFailure(message))
        return _Attempt(
            status=RunStatus.FAILED,
            result=payload,
            error={"type": "TaskReportedFailure", "message": message},
        )

    async def _conclude(
        self, task: BaseTask | None, run: Run, attempt: _Attempt, started: datetime
    ) -> None:
        """Write the attempt's end; retried until the store takes it (outages)."""
        await self._flush_logs_of_run()
        active = self._active.get(run.id)
        if active is not None:  # the events after this one carry the last progress
            run = replace(run, progress=active.run.progress)
        backoff = Backoff()
        while True:
            now = self.clock.now()
            try:
                retry_time = retry_at(task, run, attempt.status, now)
                if retry_time is not None:
                    applied = await self.store.requeue_run(
                        RunRequeue(
                            run_id=run.id,
                            attempt=run.attempt,
                            from_statuses=frozenset({RunStatus.RUNNING}),
                            not_before=retry_time,
                            attempt_error={
                                "attempt": run.attempt,
                                "status": attempt.status.value,
                                "error": attempt.error,
                                "started_at": started.isoformat(),
                                "finished_at": now.isoformat(),
                            },
                        )
                    )
                    kind = EventKind.RETRYING
                    if applied:
                        self.wake_at(retry_time)
                    final = replace(
                        run,
                        status=RunStatus.PENDING,
                        attempt=run.attempt + 1,
                        not_before=retry_time,
                    )
                else:
                    outcome = RunOutcome(
                        status=attempt.status,
                        finished_at=now,
                        duration=(now - started).total_seconds(),
                        result=attempt.result,
                        error=attempt.error,
                        reason=attempt.reason,
                    )
                    applied = await self._finishes.submit(
                        RunFinish(
                            run_id=run.id,
                            attempt=run.attempt,
                            node_id=self.node_id,
                            outcome=outcome,
                        )
                    )
                    kind = EventKind.FINISHED
                    final = replace(
                        run,
                        status=outcome.status,
                        finished_at=now,
                        duration=outcome.duration,
                        result=outcome.result,
                        error=outcome.error,
                        reason=outcome.reason,
                    )
                break
            except StoreError as exc:
                await backoff.wait(f"recording the end of run {run.id} failed: {exc}")
        if not applied:
            logger.warning(
                "run %s attempt %d was taken from this node (lost or cancelled); "
                "its outcome %s is dropped",
                run.id,
                run.attempt,
                attempt.status,
            )
            return
        detail = (
            {"status": attempt.status.value, "error": attempt.error}
            if kind is EventKind.RETRYING
            else {}
        )
        self.events.publish(RunEvent(kind=kind, run=final, detail=detail))
        if kind is EventKind.FINISHED and final.status is RunStatus.SUCCESS:
            await self._trigger_dependents(final)

    async def _flush_logs_of_run(self) -> None:
        with contextlib.suppress(StoreError):
            await self._flush()

    async def _trigger_dependents(self, upstream: Run) -> None:
        """Runs of tasks declaring ``depends_on`` this task, one per upstream run
        (fenced by a synthetic schedule id so a repeated step cannot double them)."""
        dependents = [t for t in self.registry if upstream.task_name in t.depends_on]
        if not dependents:
            return
        runs = [
            Run(
                id=new_id(),
                task_name=t.task_name,
                schedule_id=f"{t.task_name}:after:{upstream.task_name}",
                trigger_source=TriggerSource.DEPENDENCY,
                scheduled_for=upstream.scheduled_for,
                priority=int(t.task_priority),
                max_attempts=t.retry_policy.max_attempts,
                not_before=self.clock.now(),
                timeout=t.timeout,
                created_by=f"run:{upstream.id}",
            )
            for t in dependents
        ]
        try:
            await self.store.insert_runs(runs)
        except StoreError as exc:
            logger.error("could not create runs depending on %s: %s", upstream.id, exc)
            return
        self.wake()


class Backoff:
    """Exponential wait after store errors: 0.5 s doubling to 30 s; logs each failure."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self.current = first

    def reset(self) -> None:
        self.current = self.first

    async def wait(self, message: str) -> None:
        logger.warning("%s; retrying in %.1f s", message, self.current)
        await asyncio.sleep(self.current)
        self.current = min(self.current * 2, self.cap)
