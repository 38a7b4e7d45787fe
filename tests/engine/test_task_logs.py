"""The first-hour path of a task's log lines: ``logging.getLogger(__name__).info(...)``
in a task's module reaches the run's log in an application that configures no logging
(the root logger at Python's default WARNING, as a FastAPI app under uvicorn has it);
levels the application did set are its own."""

from __future__ import annotations

import logging
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
