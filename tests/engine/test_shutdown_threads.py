"""The warning of a node stopping while sync task code still holds threads names each
run and task (docs/deployment.md: "a warning naming it"); an on-call audit found only
"1 thread(s) still run task code of runs already recorded"."""

from __future__ import annotations

import logging
import threading

import pytest

from schedkit import RunStatus, task

from .conftest import MakeScheduler


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the lane, not a store
async def test_the_shutdown_warning_names_each_run_whose_sync_code_still_runs(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    @task("stubborn_report", category="t", timeout=0.2, retry={"max_retries": 0})
    def stubborn_report(day: int) -> None:
        release.wait(10)  # ignores its timeout: a thread cannot be interrupted

    s = await make_scheduler(stubborn_report)
    try:
        first = await s.run_now("stubborn_report", {"day": 1})
        second = await s.run_now("stubborn_report", {"day": 2})
        for run in (first, second):
            assert (await s.wait_for_run(run.id, timeout=10)).status is RunStatus.TIMEOUT
        with caplog.at_level(logging.WARNING, logger="schedkit.engine.threads"):
            await s.stop(grace=0.2)
    finally:
        release.set()
    (warning,) = [r.getMessage() for r in caplog.records if "still run task code" in r.getMessage()]
    assert warning.startswith("2 thread(s) still run task code of runs already recorded")
    assert f"run {first.id} of stubborn_report" in warning
    assert f"run {second.id} of stubborn_report" in warning
