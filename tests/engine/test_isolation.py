"""``isolation = "process"``: an attempt in a child process, killed at its timeout or on
cancel, with its log lines, progress, result and errors carried back (issue #16)."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schedkit import RunStatus, Scheduler, TaskContext, task
from schedkit.errors import TaskDefinitionError
from schedkit.models import Run
from schedkit.store import create_store

from .conftest import MakeScheduler
from .isolated_tasks import (
    IsolatedAsyncTask,
    isolated_fails,
    isolated_report,
    isolated_stubborn,
)
from .nodes import Node
from .taps import manual_run

# The child process is the same whatever the store: one backend is enough here.
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _read_mark(mark: Path) -> dict[str, Any] | None:
    if not mark.exists() or not mark.stat().st_size:
        return None
    started: dict[str, Any] = json.loads(mark.read_text())
    return started


async def _started(mark: Path, timeout: float = 30) -> dict[str, Any]:
    for _ in range(int(timeout / 0.05)):
        if (started := _read_mark(mark)) is not None:
            return started
        await asyncio.sleep(0.05)
    raise AssertionError("the task's body never started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _stubborn(
    make_scheduler: MakeScheduler, tmp_path: Path
) -> tuple[Scheduler, Run, dict[str, Any]]:
    """A node, and a run of the stubborn task whose body (in a child) has started."""
    mark = tmp_path / "mark.json"
    s = await make_scheduler(isolated_stubborn)
    run = await s.run_now("isolated_stubborn", {"mark": str(mark)})
    body = await _started(mark)
    assert body["pid"] != os.getpid()
    return s, run, body


@sqlite_only
async def test_a_stubborn_body_is_killed_at_its_timeout(
    make_scheduler: MakeScheduler, tmp_path: Path
) -> None:
    s, run, body = await _stubborn(make_scheduler, tmp_path)
    done = await s.wait_for_run(run.id, timeout=30)
    assert done.status is RunStatus.TIMEOUT
    assert done.error is not None and "timeout of 1 s" in done.error["message"]
    assert done.finished_at is not None
    # The timeout counts from the body's start (not from the interpreter's start-up).
    late = (done.finished_at - datetime.fromtimestamp(body["at"], UTC)).total_seconds()
    assert 0.9 <= late < 2.0, late
    assert not _alive(body["pid"])
    assert done.progress is not None and done.progress["note"] == "started"
    assert "stubborn body started" in [line.message for line in await s.get_logs(run.id)]


@sqlite_only
async def test_cancel_kills_the_child(make_scheduler: MakeScheduler, tmp_path: Path) -> None:
    s, run, body = await _stubborn(make_scheduler, tmp_path)
    await s.cancel_run(run.id, actor="alice")
    done = await s.wait_for_run(run.id, timeout=10)
    assert done.status is RunStatus.CANCELLED and done.reason == "cancelled by alice"
    assert not _alive(body["pid"])


@sqlite_only
async def test_logs_progress_and_result_come_back(
    make_scheduler: MakeScheduler, tmp_path: Path
) -> None:
    mark = tmp_path / "mark.json"
    s = await make_scheduler(isolated_report)
    done = await s.run_now("isolated_report", {"mark": str(mark), "rows": 3}, wait=True, timeout=30)
    assert done.status is RunStatus.SUCCESS, done.error
    assert done.result is not None
    assert (done.result["message"], done.result["data"]) == ("report ready", {"rows": 3})
    assert done.progress is not None and done.progress["done"] == 3
    assert done.progress["note"] == "row 3"
    lines = await s.get_logs(done.id)
    assert [line.message for line in lines if line.message.startswith("row")] == [
        "row 1 done",
        "row 2 done",
        "row 3 done",
    ]
    warn = next(line for line in lines if line.message == "a library warned")
    assert (warn.level, warn.logger) == ("WARNING", "thirdparty.lib")
    assert (_read_mark(mark) or {}).get("pid") != os.getpid()


@sqlite_only
async def test_an_error_in_the_child_fails_the_run_with_its_traceback(
    make_scheduler: MakeScheduler, tmp_path: Path
) -> None:
    seen: list[Exception] = []
    s = await make_scheduler(isolated_fails)
    s.get_task("isolated_fails").on_failure = seen.append  # type: ignore[method-assign]
    done = await s.run_now(
        "isolated_fails", {"mark": str(tmp_path / "m.json")}, wait=True, timeout=30
    )
    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert (done.error["type"], done.error["message"]) == ("ValueError", "bad input row 7")
    assert "isolated_tasks.py" in done.error["traceback"]  # the child's frames
    assert len(seen) == 1 and isinstance(seen[0], ValueError)


@sqlite_only
async def test_an_async_task_class_runs_isolated(
    make_scheduler: MakeScheduler, tmp_path: Path
) -> None:
    s = await make_scheduler(IsolatedAsyncTask())
    done = await s.run_now(
        "isolated_async", {"mark": str(tmp_path / "m.json")}, wait=True, timeout=30
    )
    assert done.status is RunStatus.SUCCESS, done.error
    assert done.result is not None and done.result["data"]["pid"] != os.getpid()


@sqlite_only
async def test_a_task_a_child_cannot_import_fails_clearly(make_scheduler: MakeScheduler) -> None:
    @task("local_isolated", category="t", retry={"max_retries": 0}, isolation="process")
    def local_isolated() -> None:
        return None

    s = await make_scheduler(local_isolated)
    done = await s.run_now("local_isolated", wait=True, timeout=30)
    assert done.status is RunStatus.FAILED and done.error is not None
    assert "top level of an importable module" in done.error["message"]


def test_isolation_must_be_thread_or_process() -> None:
    with pytest.raises(TaskDefinitionError, match="isolation"):

        @task("bad", isolation="fork")  # type: ignore[arg-type]
        def bad(ctx: TaskContext) -> None:
            return None


@sqlite_only
async def test_the_child_of_a_killed_node_exits(store_url: str, tmp_path: Path) -> None:
    """SIGKILL leaves children running: an isolated attempt of a dead node must not go on
    beside the retry of its run on another node."""
    mark = tmp_path / "mark.json"
    node = Node(store_url, tmp_path / "marks.jsonl", tasks=["isolated_forever"])
    await node.ready()
    try:
        async with create_store(store_url) as store:
            await store.insert_runs([manual_run("isolated_forever", {"mark": str(mark)})])
            body = await _started(mark)
    finally:
        node.kill()
    for _ in range(60):
        if not _alive(body["pid"]):
            break
        await asyncio.sleep(0.1)
    assert not _alive(body["pid"])
