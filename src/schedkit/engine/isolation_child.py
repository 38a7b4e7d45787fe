"""The child process of an isolated attempt (see :mod:`schedkit.engine.isolation`).

``python -m schedkit.engine.isolation_child FD``: reads its request (a pickle) from
stdin, finds the task in its module, runs the hooks, and writes framed messages to file
descriptor FD: ``ready``, then ``log`` / ``progress`` as they come, then ``result`` or
``error``. Anything the task prints goes to the node's own stdout and stderr. The child
exits by itself when its node dies.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from schedkit.context import TASK_LOGGER
from schedkit.engine.hooks import context_of, run_hooks
from schedkit.engine.isolation import frame
from schedkit.engine.retries import error_info
from schedkit.errors import TaskNotFoundError
from schedkit.logcapture import pass_info, record_text
from schedkit.task import BaseTask, FunctionTask, TaskContext

Send = Callable[[tuple[Any, ...]], None]


class _Forward(logging.Handler):
    """Every record made in the child goes to the node, formatted here."""

    def __init__(self, send: Send) -> None:
        super().__init__(logging.DEBUG)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        self._send(("log", record.name, record.levelno, record_text(record), record.created))


def find_task(module: str, qualname: str | None, task_name: str) -> BaseTask:
    """The task named ``task_name`` in ``module``: the class at ``qualname``
    (instantiated), or for a function task the decorated object of that name."""
    mod = importlib.import_module(module)
    if qualname is not None:
        obj: Any = mod
        for part in qualname.split("."):
            obj = getattr(obj, part)
        found = obj()
        if isinstance(found, BaseTask) and found.task_name == task_name:
            return found
    else:
        for value in vars(mod).values():
            if isinstance(value, FunctionTask) and value.task_name == task_name:
                return value
    raise TaskNotFoundError(f"task {task_name!r} is not defined in module {module!r}")


def _sender(out: IO[bytes]) -> Send:
    lock = threading.Lock()  # log records may come from the task's own threads

    def send(message: tuple[Any, ...]) -> None:
        data = frame(message)
        with lock:
            out.write(data)
            out.flush()

    return send


def _error(send: Send, exc: BaseException) -> None:
    try:
        pickled: bytes | None = pickle.dumps(exc)
    except Exception:
        pickled = None
    send(("error", error_info(exc), pickled))


#: How often the child checks that its node is still there.
ORPHAN_CHECK = 0.5


def _die_with(parent: int) -> None:
    """End this process when its node dies (SIGKILL leaves children running): the run
    is retried elsewhere, and this attempt must not go on working beside the retry."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK)
    os._exit(1)


def main() -> None:
    threading.Thread(target=_die_with, args=(os.getppid(),), daemon=True).start()
    out = os.fdopen(int(sys.argv[1]), "wb")
    send = _sender(out)
    request = pickle.load(sys.stdin.buffer)
    sys.path[:] = request["sys_path"]
    root = logging.getLogger()
    root.handlers = [_Forward(send)]
    root.setLevel(request["log_level"])
    logging.getLogger(request["module"]).setLevel(request["module_log_level"])
    pass_info(TASK_LOGGER)
    run = request["run"]
    try:
        task = find_task(request["module"], request["qualname"], request["task_name"])
    except Exception as exc:
        _error(send, exc)
        return
    task.execution_context = request["execution_context"]
    ctx = context_of(
        run,
        config=request["config"],
        on_progress=lambda progress: send(("progress", progress)),
    )
    send(("ready",))
    token = ctx.activate()
    try:
        # Made JSON here, in the try: ResultNotStorable goes back as the attempt's error.
        payload = asyncio.run(run_hooks(task, run, ctx, None)).to_json()
    except BaseException as exc:
        _error(send, exc)
    else:
        send(("result", payload))
    finally:
        TaskContext.deactivate(token)
        out.close()


if __name__ == "__main__":
    main()
