"""What a run stores of the value ``execute`` returned (docs/tasks.md, "What `execute`
returns is read by one rule"): a dict is the document's result by its keys, any other is
the task's ``data``; a ``success`` that is not a bool fails the run, not retried."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from schedkit import RunStatus, task

from .conftest import MakeScheduler
from .isolated_tasks import isolated_bytes, isolated_says_false

RETRIES = {"max_retries": 2, "retry_delay": 0.05, "jitter": 0}


@task("flags", category="t", retry={"max_retries": 0})
def flags(n: int, flag: bool = False) -> dict[str, Any]:
    return {"n": n, "flag": flag}


@task("says_false", category="t", retry=RETRIES)
async def says_false() -> dict[str, Any]:
    return {"success": "false", "message": "source unavailable"}


@task("reports_extra", category="t", retry={"max_retries": 0})
def reports_extra() -> dict[str, Any]:
    return {"success": True, "message": "done", "statistics": {"rows": 2}, "report": "x.xlsx"}


async def test_a_plain_dict_is_stored_as_data(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(flags, reports_extra)
    run = await s.run_now("flags", {"n": 3}, wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.result == {
        "success": True,
        "message": "",
        "data": {"n": 3, "flag": False},
        "statistics": {},
    }
    # The document's result keeps its extra keys beside its four, as it always did.
    run = await s.run_now("reports_extra", wait=True, timeout=10)
    assert run.result == {
        "success": True,
        "message": "done",
        "data": None,
        "statistics": {"rows": 2},
        "report": "x.xlsx",
    }


async def test_a_success_that_is_no_bool_fails_the_run_once(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(says_false)
    run = await s.run_now("says_false", wait=True, timeout=10)
    assert run.status is RunStatus.FAILED
    assert run.attempt == 1 and run.attempt_errors == []
    assert run.error is not None and run.error["type"] == "ResultNotReadable"
    assert run.error["message"] == "the result's 'success' is 'false' (str), not True or False"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_the_same_from_a_child_process(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(isolated_says_false, isolated_bytes)
    run = await s.run_now("isolated_says_false", wait=True, timeout=30)
    assert run.status is RunStatus.FAILED
    assert run.attempt == 1
    assert run.error is not None and run.error["type"] == "ResultNotReadable"
    # Before: the child died making its result JSON, and the run was retried.
    run = await s.run_now("isolated_bytes", wait=True, timeout=30)
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1)
    assert run.error is not None and run.error["type"] == "ResultNotStorable"


@task("reports_failure", category="t", retry={"max_retries": 1, "retry_delay": 0.05})
async def reports_failure() -> dict[str, Any]:
    return {"success": False, "message": "数据源不可用"}


async def test_every_failed_attempt_is_said_in_the_node_s_log(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """A re-audit: a task returning ``success: False`` failed its run with no line in
    the node's log, and an unreadable ``success`` (not retried) was said at WARNING as
    "will be retried", its ERROR line never written: monitoring counting ERROR lines
    missed both."""
    s = await make_scheduler(reports_failure, says_false)
    with caplog.at_level(logging.WARNING, logger="schedkit.task"):
        reported = await s.run_now("reports_failure", wait=True, timeout=10)
        unreadable = await s.run_now("says_false", wait=True, timeout=10)
    said = [
        (r.levelname, r.getMessage().split(": ", 1)[0])
        for r in caplog.records
        if "failed (attempt" in r.getMessage()
    ]
    assert said == [
        (
            "WARNING",
            f"run {reported.id} of reports_failure failed (attempt 1 of 2, will be retried)",
        ),
        ("ERROR", f"run {reported.id} of reports_failure failed (attempt 2 of 2)"),
        ("ERROR", f"run {unreadable.id} of says_false failed (attempt 1 of 3)"),
    ]


@task("yields", category="t", retry={"max_retries": 0})
def yields() -> Iterator[Any]:
    yield (
        "on the task's thread"
        if threading.current_thread() is not threading.main_thread()
        else "on the loop"
    )
    yield 2


@task("yields_async", category="t", retry={"max_retries": 0})
async def yields_async(n: int = 2) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def test_generator_tasks_are_run_to_their_end(make_scheduler: MakeScheduler) -> None:
    """Before: an async generator's body never ran, and the run recorded success with
    the generator's repr as its data; a sync one was iterated on the event loop, while
    its result was stored."""
    s = await make_scheduler(yields, yields_async)
    run = await s.run_now("yields_async", {"n": 3}, wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.result is not None and run.result["data"] == [0, 1, 2]
    run = await s.run_now("yields", wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.result is not None and run.result["data"] == ["on the task's thread", 2]


BYTES_BODIES: list[str] = []


@task("returns_bytes", category="t", retry=RETRIES)
def returns_bytes(utf8: bool) -> bytes:
    BYTES_BODIES.append("returns_bytes")
    return "réussi".encode() if utf8 else b"\x89PNG\r\n\x1a\n"


async def test_bytes_are_text_or_not_storable(make_scheduler: MakeScheduler) -> None:
    """Before: bytes that are not UTF-8 failed the run with a raw UnicodeDecodeError, and
    it was retried (the body ran three times)."""
    s = await make_scheduler(returns_bytes)
    run = await s.run_now("returns_bytes", {"utf8": True}, wait=True, timeout=10)
    assert run.result is not None and run.result["data"] == "réussi"
    BYTES_BODIES.clear()
    run = await s.run_now("returns_bytes", {"utf8": False}, wait=True, timeout=10)
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1), run
    assert run.error is not None and run.error["type"] == "ResultNotStorable"
    assert "bytes that are not UTF-8 text" in run.error["message"]
    assert "base64" in run.error["message"]
    assert BYTES_BODIES == ["returns_bytes"]
