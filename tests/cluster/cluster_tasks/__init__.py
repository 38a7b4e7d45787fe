"""Tasks the worker processes of the cluster tests discover and run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from schedkit import TaskContext, task


@task("plain", retry={"max_retries": 0})
async def plain() -> dict[str, object]:
    return {"success": True, "message": "plain"}


@task("gpu_job", labels=["gpu"], retry={"max_retries": 0})
async def gpu_job() -> dict[str, object]:
    return {"success": True, "message": "gpu"}


@task("report_job", labels=["reports"], retry={"max_retries": 0})
async def report_job() -> dict[str, object]:
    return {"success": True, "message": "reports"}


@task("intranet_job", labels=["intranet"], retry={"max_retries": 0})
async def intranet_job() -> dict[str, object]:
    return {"success": True, "message": "intranet"}


@task("sleeper", retry={"max_retries": 0})
async def sleeper(seconds: float, ctx: TaskContext) -> dict[str, object]:
    """Sleeps ``seconds`` on its first attempt only: a run handed back by a drain
    finishes quickly on the node that claims it next."""
    if ctx.attempt == 1:
        await asyncio.sleep(seconds)
    return {"success": True, "message": f"slept on attempt {ctx.attempt}"}


@task("blocking", retry={"max_retries": 1, "retry_delay": 0})
async def blocking(seconds: float, marks: str) -> dict[str, object]:
    """Holds its node's event loop: a synchronous sleep inside ``async def``, as the
    design document's example does with pymongo. Each body start is appended to
    ``marks``."""
    with Path(marks).open("a", encoding="utf-8") as out:  # noqa: ASYNC230 - on purpose
        out.write("start\n")
    time.sleep(seconds)  # noqa: ASYNC251 - the blocking call under test
    return {"success": True, "message": f"blocked {seconds} s"}


@task("chatty", retry={"max_retries": 0})
async def chatty(ctx: TaskContext) -> dict[str, object]:
    ctx.logger.info("settled 3 accounts")
    return {"success": True, "message": "chatty"}
