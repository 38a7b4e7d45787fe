"""A schedule's ``executor`` overrides its task's: the runs of a local task whose schedule
says ``celery`` execute on a real ``celery worker`` (real Redis), and the runs of a Celery
task whose schedule says ``local`` on the schedkit node; the choice is recorded on each
run and a retry keeps it."""

from __future__ import annotations

import os

import pytest

from schedkit.models import RunStatus
from tests.celery_executor.conftest import CeleryEnv
from tests.celery_executor.test_celery import finished, until

pytestmark = [pytest.mark.external_service, pytest.mark.timeout(120)]

EVERY_HALF_SECOND = {"trigger": "interval", "seconds": 0.5}


async def test_a_local_task_scheduled_on_celery_runs_on_a_celery_worker(
    celery_env: CeleryEnv,
) -> None:
    s = await celery_env.scheduler()
    await celery_env.serve()
    await s.add_task(
        "local_echo",
        {**EVERY_HALF_SECOND, "kwargs": {"value": 5}, "executor": "celery"},
    )
    [job] = await s.get_job_info("local_echo")
    assert job["executor"] == "celery"

    async def two_succeeded() -> bool:
        return await s.count_runs("local_echo", status=RunStatus.SUCCESS) >= 2

    await until(two_succeeded, "two scheduled runs done on the Celery worker")
    await s.remove_task("local_echo")
    done = await s.list_runs("local_echo", status=RunStatus.SUCCESS)
    for run in done:
        assert run.executor == "celery" and run.schedule_id == "local_echo"
        # Executed by the worker process's node, not by this one.
        assert run.node_id != s.node_id
        assert run.result is not None and run.result["data"]["pid"] != os.getpid()
    # A retry of such a run goes to Celery as well; a manual run follows the task.
    again = await finished(s, (await s.retry_run(done[0].id)).id)
    assert again.status is RunStatus.SUCCESS and again.executor == "celery"
    assert again.node_id != s.node_id
    manual = await finished(s, (await s.run_now("local_echo", {"value": 1})).id)
    assert manual.executor == "local" and manual.node_id == s.node_id


async def test_without_a_sender_a_celery_scheduled_run_waits_and_is_never_run_locally(
    celery_env: CeleryEnv,
) -> None:
    s = await celery_env.scheduler(send=False)
    await s.add_task(
        "local_echo",
        {**EVERY_HALF_SECOND, "kwargs": {"value": 2}, "executor": "celery"},
    )

    async def fired() -> bool:
        return await s.count_runs("local_echo") >= 4

    # Fires keep coming for seconds while this node's claim loop polls many times.
    await until(fired, "four fires recorded")
    await s.remove_task("local_echo")
    runs = await s.list_runs("local_echo")
    # The first waits; the overlap policy (max_instances 1) skips the later fires.
    assert len(runs) >= 4 and {r.status for r in runs} == {RunStatus.PENDING, RunStatus.SKIPPED}
    assert {(r.executor, r.node_id, r.started_at) for r in runs} == {("celery", None, None)}


async def test_a_celery_task_scheduled_locally_runs_on_the_schedkit_node(
    celery_env: CeleryEnv,
) -> None:
    s = await celery_env.scheduler()  # sends to Celery, but no worker ever runs
    await s.add_task(
        "celery_echo",
        {**EVERY_HALF_SECOND, "kwargs": {"value": 4}, "executor": "local"},
    )

    async def succeeded() -> bool:
        return await s.count_runs("celery_echo", status=RunStatus.SUCCESS) >= 1

    await until(succeeded, "a scheduled run done on the schedkit node")
    await s.remove_task("celery_echo")
    [run, *_] = await s.list_runs("celery_echo", status=RunStatus.SUCCESS)
    assert run.executor == "local" and run.node_id == s.node_id
    assert run.result is not None and run.result["data"]["pid"] == os.getpid()
