"""The first-hour path of a task's log lines: ``logging.getLogger(__name__).info(...)``
in a task's module reaches the run's log in an application that configures no logging
(the root logger at Python's default WARNING, as a FastAPI app under uvicorn has it);
levels the application did set are its own."""

from __future__ import annotations

import logging
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from schedkit import RunStatus, Scheduler, task

from .conftest import MakeScheduler
from .isolated_tasks import isolated_module_logging

module_logger = logging.getLogger(__name__)
child_module_logger = logging.getLogger(isolated_module_logging.func.__module__)


@task("module_logging", category="t")
def module_logging() -> None:
    module_logger.info("read %d rows", 3)
    module_logger.debug("row detail")


@pytest.fixture
def unconfigured_logging() -> Iterator[None]:
    """Logging as an application that never configured it has it (other tests of this
    process may have set levels)."""
    root = logging.getLogger()
    saved = root.level, module_logger.level, child_module_logger.level
    root.setLevel(logging.WARNING)
    module_logger.setLevel(logging.NOTSET)
    child_module_logger.setLevel(logging.NOTSET)
    yield
    root.setLevel(saved[0])
    module_logger.setLevel(saved[1])
    child_module_logger.setLevel(saved[2])


async def _messages(s: Scheduler, task_name: str) -> list[str]:
    done = await s.run_now(task_name, wait=True, timeout=30)
    assert done.status is RunStatus.SUCCESS, done.error
    return [line.message for line in await s.get_logs(done.id)]


@pytest.mark.usefixtures("unconfigured_logging")
async def test_info_lines_of_a_task_modules_logger_reach_the_run_log(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(module_logging)
    assert await _messages(s, "module_logging") == ["read 3 rows"]
    assert module_logger.level == logging.INFO


@pytest.mark.usefixtures("unconfigured_logging")
async def test_a_level_the_application_set_is_left_alone(make_scheduler: MakeScheduler) -> None:
    module_logger.setLevel(logging.WARNING)
    s = await make_scheduler(module_logging)
    assert await _messages(s, "module_logging") == []
    assert module_logger.level == logging.WARNING

    # A lower level set higher up (the root at DEBUG) is not raised to INFO.
    module_logger.setLevel(logging.NOTSET)
    logging.getLogger().setLevel(logging.DEBUG)
    s = await make_scheduler(module_logging)
    assert await _messages(s, "module_logging") == ["read 3 rows", "row detail"]
    assert module_logger.level == logging.NOTSET


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("unconfigured_logging")
async def test_a_process_isolated_task_logs_at_its_modules_level_in_the_node(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(isolated_module_logging)
    assert await _messages(s, "isolated_module_logging") == ["child read 3 rows"]


quiet_logger = logging.getLogger("schedkit_tests.quiet")


@task("quiet_logging", category="t")
def quiet_logging() -> None:
    quiet_logger.warning("kept apart")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_logger_that_does_not_propagate_still_reaches_the_run_log(
    make_scheduler: MakeScheduler,
) -> None:
    quiet_logger.propagate = False
    quiet_logger.addHandler(logging.NullHandler())
    try:
        s = await make_scheduler(quiet_logging)
        assert await _messages(s, "quiet_logging") == ["kept apart"]
    finally:
        quiet_logger.propagate = True
        quiet_logger.handlers.clear()


# Run in a fresh interpreter: pytest puts handlers of its own on the root logger, which
# hide Python's last-resort output as a handler of schedkit's did.
UNCONFIGURED_APP = """
import asyncio, logging, sys
from schedkit import Scheduler, TaskRegistry

async def main():
    async with Scheduler({"store_url": sys.argv[1]}, registry=TaskRegistry()):
        logging.getLogger("app").warning("seen while a node runs")
        logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s: %(message)s")
        logging.getLogger("app").info("configured while a node runs")

asyncio.run(main())
"""


def test_an_application_that_configures_no_logging_still_sees_its_warnings(
    tmp_path: pathlib.Path,
) -> None:
    """Python prints WARNING records to stderr when no handler is configured; a node
    must not take that away (nor make a later ``logging.basicConfig`` a no-op)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    done = subprocess.run(
        [sys.executable, "-c", UNCONFIGURED_APP, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "seen while a node runs" in done.stderr
    assert "has no task" in done.stderr  # the node's own start-up warning
    assert "app: configured while a node runs" in done.stdout
