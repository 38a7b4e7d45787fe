"""Process isolation: an attempt of a task declaring ``isolation = "process"`` runs in a
child process of its own (``python -m schedkit.engine.isolation_child``), which is
killed at the run's timeout or when the run is cancelled: a hard timeout, which a thread
cannot have.

The child imports the task's module and finds the task by name there (so the task must
be defined at the top level of an importable module), runs the document's hooks, and
reports back over a pipe: that it started (the timeout counts from then, not from the
interpreter's start-up), each log record, each progress report, then the result or the
error. ``on_failure`` runs here, in the node, with the child's exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import sys
from typing import Any

from schedkit.errors import TaskDefinitionError
from schedkit.logcapture import keep, run_fields
from schedkit.models import Run
from schedkit.task import BaseTask, FunctionTask, TaskContext, TaskResult, definition

logger = logging.getLogger(__name__)

#: Longest wait for a child to start and import the task's module.
START_TIMEOUT = 60.0
#: Frames on the pipe: a 4-byte big-endian length, then a pickle.
HEADER = 4


class IsolatedTimeout(TimeoutError):
    """The child overran the run's timeout and was killed."""


class ChildFailed(Exception):
    """The child process ended without reporting a result (killed, crashed, or its
    error could not be sent back)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the child, attached as its cause."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def needs_thread(task: BaseTask) -> bool:
    """Whether an attempt of ``task`` runs on a thread of this node's lane."""
    return not task.is_async and task.isolation != "process"


def task_address(task: BaseTask) -> tuple[str, str | None]:
    """(module, class qualname) under which a child finds ``task``; the qualname is None
    for a function task (the child looks for the decorated object by task name).
    TaskDefinitionError when a child cannot import it."""
    obj = definition(task)
    module, qualname = obj.__module__, obj.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise TaskDefinitionError(
            f"task {task.task_name!r} has isolation='process' but is defined in "
            f"{module}.{qualname}: define it at the top level of an importable module"
        )
    return module, None if isinstance(task, FunctionTask) else qualname


def frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message)
    return len(data).to_bytes(HEADER, "big") + data


async def run_isolated(
    task: BaseTask, run: Run, ctx: TaskContext, timeout: float | None
) -> TaskResult:
    """Run one attempt's hooks in a child process; its result, or the child's exception
    raised here. IsolatedTimeout after ``timeout`` seconds from the child's start (the
    child is killed); a cancel kills it too."""
    module, qualname = task_address(task)
    request = {
        "sys_path": list(sys.path),
        "module": module,
        "qualname": qualname,
        "task_name": task.task_name,
        "run": run,
        "config": ctx.config,
        "execution_context": task.execution_context,
        "log_level": logging.getLogger().getEffectiveLevel(),
        # As the node lets it pass (pass_info): the child's has no level of its own.
        "module_log_level": logging.getLogger(module).getEffectiveLevel(),
    }
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "schedkit.engine.isolation_child",
            str(write_fd),
            stdin=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,),
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0)
    )
    try:
        assert proc.stdin is not None
        with contextlib.suppress(ConnectionError):  # a child that died says so on the pipe
            proc.stdin.write(pickle.dumps(request))
            await proc.stdin.drain()
        proc.stdin.close()
        starting = asyncio.timeout(START_TIMEOUT)
        try:
            async with starting:
                await _until(reader, proc, ctx, "ready")
        except TimeoutError:
            if not starting.expired():
                raise
            raise ChildFailed(
                f"the task's process did not start within {START_TIMEOUT:g} s"
            ) from None
        running = asyncio.timeout(timeout)
        try:
            async with running:
                return TaskResult.from_value(await _until(reader, proc, ctx, "result"))
        except TimeoutError:
            if not running.expired():  # the task's own TimeoutError
                raise
            raise IsolatedTimeout(f"killed after {timeout:g} s") from None
    finally:
        transport.close()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        # Reaped even while the caller is being cancelled (no zombie left behind).
        await asyncio.shield(proc.wait())


async def _until(
    reader: asyncio.StreamReader, proc: asyncio.subprocess.Process, ctx: TaskContext, kind: str
) -> Any:
    """Handle the child's messages until one of ``kind`` (returned) or an error (raised)."""
    while True:
        try:
            size = int.from_bytes(await reader.readexactly(HEADER), "big")
            message = pickle.loads(await reader.readexactly(size))
        except asyncio.IncompleteReadError:
            code = await proc.wait()
            raise ChildFailed(
                f"the task's process exited (code {code}) without reporting a result"
            ) from None
        tag = message[0]
        if tag == kind:
            return message[1] if len(message) > 1 else None
        if tag == "log":
            _emit(ctx, *message[1:])
        elif tag == "progress":
            ctx.progress(**message[1])
        elif tag == "error":
            raise _rebuilt(*message[1:])


def _emit(ctx: TaskContext, name: str, level: int, text: str, created: float) -> None:
    """A child's record: a line of its run, and logged here for the node's handlers."""
    record = logging.LogRecord(name, level, "(task process)", 0, text, None, None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    record.__dict__.update(run_fields(ctx))
    keep(ctx, record)
    logging.getLogger(name).handle(record)


def _rebuilt(info: dict[str, Any], pickled: bytes | None) -> Exception:
    """The child's exception (or a ChildFailed standing for it), with the child's
    traceback as its cause."""
    exc: Exception | None = None
    if pickled is not None:
        with contextlib.suppress(Exception):
            exc = pickle.loads(pickled)
    if not isinstance(exc, Exception):
        exc = ChildFailed(f"{info.get('type')}: {info.get('message')}")
    exc.__cause__ = RemoteTraceback(info.get("traceback") or "")
    return exc
