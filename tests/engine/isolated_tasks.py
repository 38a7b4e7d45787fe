"""Tasks with ``isolation = "process"``: each attempt runs in a child process, which
imports this module by name (so they live at the top level of an importable module).

Each body writes ``{"pid", "at"}`` to the file named by its ``mark`` parameter when it
starts, so a test can tell when the body really began and which process ran it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from schedkit import BaseTask, TaskContext, task


def _mark(path: str) -> None:
    with open(path, "w") as f:
        json.dump({"pid": os.getpid(), "at": time.time()}, f)


@task("isolated_stubborn", category="t", timeout=1.0, retry={"max_retries": 0}, isolation="process")
def isolated_stubborn(mark: str, ctx: TaskContext) -> None:
    """Ignores ctx.cancelled and never returns by itself: only a kill stops it."""
    ctx.progress(1, 3, "started")
    ctx.logger.info("stubborn body started")
    _mark(mark)
    while True:
        time.sleep(0.05)


@task("isolated_forever", category="t", retry={"max_retries": 0}, isolation="process")
def isolated_forever(mark: str) -> None:
    """No timeout, never returns: only a kill (or its node's death) stops it."""
    _mark(mark)
    while True:
        time.sleep(0.05)


@task("isolated_report", category="t", retry={"max_retries": 0}, isolation="process")
def isolated_report(mark: str, rows: int, ctx: TaskContext) -> dict[str, Any]:
    _mark(mark)
    for i in range(rows):
        ctx.progress(i + 1, rows, f"row {i + 1}")
        ctx.logger.info("row %d done", i + 1)
    logging.getLogger("thirdparty.lib").warning("a library warned")
    return {"success": True, "message": "report ready", "data": {"rows": rows}}


@task("isolated_says_false", category="t", retry={"max_retries": 2}, isolation="process")
def isolated_says_false() -> dict[str, Any]:
    """A ``success`` that is no bool: its ResultNotReadable is raised in the child."""
    return {"success": "false", "message": "source unavailable"}


@task("isolated_bytes", category="t", retry={"max_retries": 2}, isolation="process")
def isolated_bytes() -> bytes:
    """Bytes that are not UTF-8: its ResultNotStorable is raised in the child."""
    return b"\x89PNG\r\n\x1a\n"


@task("isolated_fails", category="t", retry={"max_retries": 0}, isolation="process")
def isolated_fails(mark: str) -> None:
    _mark(mark)
    raise ValueError("bad input row 7")


class IsolatedAsyncTask(BaseTask):
    """A design-document task class, async, isolated."""

    isolation = "process"

    @property
    def task_name(self) -> str:
        return "isolated_async"

    @property
    def task_description(self) -> str:
        return "an async task in a child process"

    @property
    def task_category(self) -> str:
        return "t"

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 0}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        _mark(kwargs["mark"])
        return {"success": True, "data": {"pid": os.getpid()}}


@task("isolated_module_logging", category="t", retry={"max_retries": 0}, isolation="process")
def isolated_module_logging() -> None:
    logging.getLogger(__name__).info("child read %d rows", 3)
    logging.getLogger(__name__).debug("child detail")
