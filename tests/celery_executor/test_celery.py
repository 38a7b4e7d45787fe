"""Runs of ``executor = "celery"`` tasks execute on real Celery workers (real Redis,
``celery worker`` subprocesses), recorded in the store the schedkit node shares."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from schedkit import Scheduler
from schedkit.models import Run, RunStatus
from tests.celery_executor.conftest import CeleryEnv

pytestmark = [pytest.mark.external_service, pytest.mark.timeout(90)]

WAIT = 45.0


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def finished(s: Scheduler, run_id: str) -> Run:
    run = await s.wait_for_run(run_id, WAIT)
    assert run.status.finished, f"run still {run.status}"
    return run


# Every pool on SQLite, and Celery's default pool (prefork, what production runs) on every
# store: the pool and the store are independent here, so their whole product (nine worker
# starts) tested nothing the five below do not.
@pytest.mark.parametrize(
    ("store_url", "pool", "capacity"),
    [
        pytest.param("sqlite", "solo", 1, id="sqlite-solo-1"),
        pytest.param("sqlite", "threads", 2, id="sqlite-threads-2"),
        pytest.param("sqlite", "prefork", 1, id="sqlite-prefork-1"),
        pytest.param("postgres", "prefork", 1, id="postgres-prefork-1"),
        pytest.param("mongo", "prefork", 1, id="mongo-prefork-1"),
    ],
    indirect=["store_url"],
)
async def test_a_run_executes_on_a_celery_worker_into_the_store(
    celery_env: CeleryEnv, pool: str, capacity: int
) -> None:
    s = await celery_env.scheduler()
    worker = celery_env.worker(pool)
    run = await finished(s, (await s.run_now("celery_echo", {"value": 7})).id)
    assert run.status is RunStatus.SUCCESS, run
    assert run.result is not None and run.result["data"]["value"] == 7
    # Executed by the worker process's schedkit node, not by the node that created it.
    assert run.result["data"]["pid"] != os.getpid()
    assert run.node_id != s.node_id
    assert run.progress is not None and run.progress["note"] == "half way"
    logs = await s.get_logs(run.id)
    assert any("echo 7 from pid" in line.message for line in logs), logs
    nodes = {n.id: n for n in await s.list_nodes()}
    assert run.node_id in nodes and nodes[run.node_id].roles == ["executor"]
    # An audit: each prefork child (--concurrency 2) was listed with capacity 50 (the
    # configuration's max_concurrent_runs), though it runs one task at a time.
    assert nodes[run.node_id].info["capacity"] == capacity
    # A worker shut down as Celery does (warm shutdown) stops its schedkit node.
    worker.terminate()
    assert await asyncio.to_thread(worker.wait, 30) == 0
    assert run.node_id not in {n.id for n in await s.list_nodes()}


async def test_scheduled_fires_are_sent_to_celery(celery_env: CeleryEnv) -> None:
    s = await celery_env.scheduler()
    await celery_env.serve()
    await s.add_task("celery_echo", {"trigger": "interval", "seconds": 0.5, "kwargs": {"value": 3}})
    [job] = await s.get_job_info("celery_echo")
    assert job["executor"] == "celery"

    async def two_succeeded() -> bool:
        return await s.count_runs("celery_echo", status=RunStatus.SUCCESS) >= 2

    await until(two_succeeded, "two scheduled runs done on the worker")
    runs = await s.list_runs("celery_echo", status=RunStatus.SUCCESS)
    assert all(r.node_id != s.node_id and r.schedule_id == "celery_echo" for r in runs)


async def test_a_failed_attempt_is_retried_on_celery(celery_env: CeleryEnv) -> None:
    s = await celery_env.scheduler()
    await celery_env.serve()
    run = await finished(s, (await s.run_now("celery_flaky")).id)
    assert run.status is RunStatus.SUCCESS, run
    assert run.attempt == 2
    assert run.result is not None and run.result["message"] == "attempt 2"
    assert "the first attempt fails" in str(run.attempt_errors)


async def test_the_document_s_hooks_run_in_order_on_celery(celery_env: CeleryEnv) -> None:
    s = await celery_env.scheduler()
    await celery_env.serve()
    ok = await s.run_now("celery_hooked", {"valid": True})
    refused = await s.run_now("celery_hooked", {"valid": False})
    ok, refused = await finished(s, ok.id), await finished(s, refused.id)

    async def hooks(run: Run) -> list[str]:
        return [line.message for line in await s.get_logs(run.id) if "hook:" in line.message]

    assert ok.status is RunStatus.SUCCESS, ok
    assert await hooks(ok) == ["hook: validate", "hook: before", "hook: execute", "hook: after"]
    assert refused.status is RunStatus.FAILED, refused
    assert refused.error is not None and refused.error["type"] == "EnvironmentCheckFailed"
    assert await hooks(refused) == ["hook: validate", "hook: on_failure EnvironmentCheckFailed"]


async def test_a_run_over_its_timeout_times_out_on_celery(celery_env: CeleryEnv) -> None:
    s = await celery_env.scheduler()
    await celery_env.serve()
    run = await finished(s, (await s.run_now("celery_slow")).id)
    assert run.status is RunStatus.TIMEOUT, run
    assert run.error is not None and "timeout of 0.5 s" in run.error["message"]


async def test_a_run_on_celery_is_cancelled_from_the_schedkit_node(celery_env: CeleryEnv) -> None:
    s = await celery_env.scheduler()
    await celery_env.serve()
    run_id = (await s.run_now("celery_long")).id

    async def progressing() -> bool:
        run = await s.get_run(run_id)
        return run.status is RunStatus.RUNNING and run.progress is not None

    await until(progressing, "the run running on the worker")
    await s.cancel_run(run_id, reason="enough")
    run = await finished(s, run_id)
    assert run.status is RunStatus.CANCELLED, run


async def test_a_message_delivered_twice_executes_the_run_once(
    celery_env: CeleryEnv, tmp_path: Path
) -> None:
    # This node sends nothing: the test publishes the run's message twice itself, to a
    # worker with two threads that receive both at once.
    s = await celery_env.scheduler(send=False)
    counter = tmp_path / "executions"
    run = await s.run_now("celery_counted", {"path": str(counter)})
    assert run.status is RunStatus.PENDING
    first, second = celery_env.send(run.id, run.task_name), celery_env.send(run.id, run.task_name)
    await celery_env.serve("threads")
    answers = [await asyncio.to_thread(m.get, timeout=WAIT) for m in (first, second)]
    assert sorted(answers, key=lambda a: a is not None) == [
        None,
        {"run_id": run.id, "status": "success", "attempt": 1},
    ]
    assert len(counter.read_text().splitlines()) == 1
    done = await s.get_run(run.id)
    assert done.status is RunStatus.SUCCESS and done.attempt == 1


async def test_a_killed_celery_worker_s_run_is_lost_then_retried(
    celery_env: CeleryEnv, tmp_path: Path
) -> None:
    s = await celery_env.scheduler()
    worker = celery_env.worker()
    marker = tmp_path / "attempt1.pid"
    run_id = (await s.run_now("celery_killed", {"marker": str(marker)})).id

    async def first_attempt_running() -> bool:
        return marker.exists() and (await s.get_run(run_id)).status is RunStatus.RUNNING

    await until(first_attempt_running, "the first attempt running on the worker")
    victim = (await s.get_run(run_id)).node_id
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    await celery_env.serve()
    run = await finished(s, run_id)
    assert run.status is RunStatus.SUCCESS, run
    assert run.attempt == 2 and run.node_id != victim
    [lost] = run.attempt_errors
    assert isinstance(lost, dict) and lost["status"] == "lost", lost


async def test_a_message_the_broker_lost_is_sent_again(celery_env: CeleryEnv) -> None:
    s = await celery_env.scheduler(executor={"resend_after": 1.0})
    run = await s.run_now("celery_echo", {"value": 1})

    async def sent() -> bool:
        return await asyncio.to_thread(celery_env.queued) >= 1

    await until(sent, "the run's message in the queue")
    assert await asyncio.to_thread(celery_env.purge) >= 1  # no worker ever sees it
    await celery_env.serve()
    done = await finished(s, run.id)
    assert done.status is RunStatus.SUCCESS and done.attempt == 1


async def test_an_isolated_task_on_a_prefork_worker_is_killed_at_its_timeout(
    celery_env: CeleryEnv,
) -> None:
    s = await celery_env.scheduler()
    celery_env.worker("prefork")
    quick = await finished(s, (await s.run_now("celery_isolated", {"seconds": 0})).id)
    assert quick.status is RunStatus.SUCCESS, quick
    assert quick.result is not None and quick.result["data"]["pid"] != os.getpid()
    hung = await finished(s, (await s.run_now("celery_isolated", {"seconds": 60})).id)
    assert hung.status is RunStatus.TIMEOUT, hung
    logs = await s.get_logs(hung.id)
    assert any("child pid" in line.message for line in logs), logs
