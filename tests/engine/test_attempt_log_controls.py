"""schedkit's own log lines about a run are one line with escapes in any handler, not only
in the CLI's text log. A re-audit: with ``Scheduler(...)`` embedded in a host process
(the documented FastAPI embedding, the host's own logging), the failed-attempt record
carried raw ESC, BEL, a newline and U+202E from the run's error message, and could fake
a log line ("FAKE 2026-01-01 INFO injected line") in the host's log.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from schedkit import RunStatus, task
from schedkit.engine import work

from .conftest import MakeScheduler
from .taps import until

EVIL = "<b>\x1b[31mRED\x1b[0m\nFAKE 2026-01-01 INFO injected line\u202eevil\x07bell"
SHOWN = "<b>\\x1b[31mRED\\x1b[0m\\nFAKE 2026-01-01 INFO injected line\\u202eevil\\x07bell"
RAW = ("\n", "\x1b", "\x07", "\u202e")

sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@task("evil_raises", category="t", retry={"max_retries": 0})
async def evil_raises(msg: str) -> None:
    raise RuntimeError(msg)


@task("evil_reports", category="t", retry={"max_retries": 0})
async def evil_reports(msg: str) -> dict[str, Any]:
    return {"success": False, "message": msg}


@pytest.fixture
def host_log() -> Iterator[io.StringIO]:
    """The host's own logging: a plain handler with a plain format on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@sqlite_only
async def test_a_failed_attempt_s_log_record_is_one_line_with_escapes(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture, host_log: io.StringIO
) -> None:
    s = await make_scheduler(evil_raises, evil_reports)
    with caplog.at_level(logging.WARNING, logger="schedkit.task"):
        raised = await s.run_now("evil_raises", {"msg": EVIL}, wait=True, timeout=10)
        reported = await s.run_now("evil_reports", {"msg": EVIL}, wait=True, timeout=10)
    assert raised.status is RunStatus.FAILED and reported.status is RunStatus.FAILED
    said = [r.getMessage() for r in caplog.records if "failed (attempt" in r.getMessage()]
    assert said == [
        f"run {raised.id} of evil_raises failed (attempt 1 of 1): RuntimeError: {SHOWN}",
        f"run {reported.id} of evil_reports failed (attempt 1 of 1): TaskReportedFailure: {SHOWN}",
    ]
    lines = host_log.getvalue().splitlines()
    failed = [line for line in lines if "failed (attempt" in line]
    assert [line.endswith(f": {SHOWN}") for line in failed] == [True, True], lines
    assert not any(line.startswith("FAKE") for line in lines), lines
    for char in RAW[1:]:
        assert char not in host_log.getvalue()
    # The run keeps its error as it was: data, shown escaped by whatever reads it.
    assert raised.error is not None and raised.error["message"] == EVIL


@sqlite_only
async def test_a_cancel_reason_in_the_left_running_line_is_escaped(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason a run was cancelled with is anyone's text too (``schedkit cancel
    --reason``, the API)."""
    monkeypatch.setattr(work, "ABANDON_AFTER", 0.3)
    released = asyncio.Event()

    @task("deaf_log", category="t", retry={"max_retries": 0})
    async def deaf_log() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    s = await make_scheduler(deaf_log)
    try:
        run = await s.run_now("deaf_log")

        async def running() -> bool:
            return (await s.get_run(run.id)).status is RunStatus.RUNNING

        await until(running, timeout=10)
        with caplog.at_level(logging.WARNING, logger="schedkit.engine.attempt"):
            await s.cancel_run(run.id, actor="ops", reason=EVIL)
            done = await s.wait_for_run(run.id, timeout=5)
        assert done.status is RunStatus.CANCELLED
    finally:
        released.set()
    said = [r.getMessage() for r in caplog.records if "left running" in r.getMessage()]
    assert said == [
        f"run {run.id} of deaf_log ignored being stopped ({SHOWN}) and is left running: "
        "its attempt ends without it"
    ]
