"""Real Celery workers (``celery -A tests.celery_executor.celery_app worker`` subprocesses) on
the real Redis, sharing each test's store with a schedkit node in the test process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from schedkit import Scheduler, TaskRegistry
from schedkit.integrations.celery import CeleryBridge, install
from tests.celery_executor.celery_tasks import TASKS
from tests.conftest import REDIS_VAR, service_url
from tests.engine.conftest import fast_config

ROOT = Path(__file__).resolve().parents[2]
#: Seconds a worker has to answer a control command (it answers between two tasks).
CONTROL_TIMEOUT = 10.0
#: Seconds a worker has to start.
START_TIMEOUT = 60.0


def sender_app(redis_url: str) -> Celery:
    app = Celery("schedkit_test_sender", broker=redis_url, backend=redis_url)
    app.conf.update(broker_connection_retry_on_startup=True, result_expires=300)
    return app


def start_worker(
    redis_url: str, pool: str, queue: str, name: str, log_path: Path, store_url: str | None
) -> subprocess.Popen[bytes]:
    """``celery worker`` on ``queue``, as a user runs it."""
    cmd = [
        sys.executable, "-m", "celery", "-A", "tests.celery_executor.celery_app", "worker",
        f"--pool={pool}", "--concurrency=2", "-Q", queue, "-n", name,
        "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "INFO",
    ]  # fmt: skip
    env = {**os.environ, "SCHEDKIT_TEST_REDIS_URL": redis_url}
    if store_url is not None:
        env["SCHEDKIT_TEST_CELERY_STORE"] = store_url
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """A warm shutdown (SIGTERM), as Celery is stopped; killed if it takes too long."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class SharedWorker:
    """A worker of one pool kept for the session and lent to one test at a time: starting
    a worker for each test cost more than most of these tests. It consumes a test's queue
    only while lent to it, and its schedkit node runs on that test's store: started by the
    test's first message, stopped when the test ends (before its store is dropped)."""

    def __init__(self, pool: str, redis_url: str, log_path: Path) -> None:
        self.pool = pool
        self.log_path = log_path
        # A fixed host part: the name is the control commands' destination as it is.
        self.name = f"shared-{pool}-{uuid.uuid4().hex[:10]}@schedkit-test"
        self.app = sender_app(redis_url)
        idle = f"schedkit-test-idle-{uuid.uuid4().hex[:10]}"
        self.proc = start_worker(redis_url, pool, idle, self.name, log_path, None)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.app.control.ping(destination=[self.name], timeout=0.5):
            if not self.alive() or time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name} did not start:\n{self.logs_since(0)}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _answered(self, replies: list[dict[str, Any]] | None, command: str) -> None:
        answer = (replies or [{}])[0].get(self.name)
        if answer is None:
            raise AssertionError(
                f"worker {self.name} did not answer {command} in {CONTROL_TIMEOUT} s "
                "(busy with a task of this test?)"
            )
        if not (isinstance(answer, dict) and "ok" in answer):
            raise AssertionError(f"worker {self.name} answered {command} with {answer!r}")

    def lend(self, queue: str, store_url: str) -> None:
        """Serve ``queue``, with a schedkit node on ``store_url``."""
        self._new_node(store_url)
        replies = self.app.control.add_consumer(
            queue, destination=[self.name], reply=True, timeout=CONTROL_TIMEOUT, limit=1
        )
        self._answered(replies, "add_consumer")

    def take_back(self, queue: str) -> None:
        """Stop serving ``queue`` (its messages not received yet are dropped) and stop
        the schedkit node: once this returns, nothing of the test runs on the worker."""
        with redis.Redis.from_url(self.app.conf.broker_url) as client:
            client.delete(queue)
        replies = self.app.control.cancel_consumer(
            queue, destination=[self.name], reply=True, timeout=CONTROL_TIMEOUT, limit=1
        )
        self._answered(replies, "cancel_consumer")
        self._new_node(None)

    def _new_node(self, store_url: str | None) -> None:
        """Stop the worker's schedkit node; the next message starts one on ``store_url``
        (celery_app.schedkit_test_store). Answered once stopped: after the task a solo
        pool was executing (its tasks and control commands take turns); a threads
        pool's runs get the shutdown grace, as at a warm shutdown."""
        arguments = {} if store_url is None else {"store_url": store_url}
        replies = self.app.control.broadcast(
            "schedkit_test_store",
            arguments=arguments,
            destination=[self.name],
            reply=True,
            timeout=CONTROL_TIMEOUT,
            limit=1,
        )
        self._answered(replies, "schedkit_test_store")

    def logs_since(self, start: int) -> str:
        with self.log_path.open("rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def stop(self) -> None:
        stop_worker(self.proc)
        self.app.close()


class SharedWorkers:
    """The session's shared workers, one per pool, started when first lent."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.by_pool: dict[str, SharedWorker] = {}

    def get(self, pool: str, redis_url: str) -> SharedWorker:
        worker = self.by_pool.get(pool)
        if worker is None or not worker.alive():
            if worker is not None:
                worker.stop()
            log_path = self.logs / f"shared-{pool}-{uuid.uuid4().hex[:6]}.log"
            worker = self.by_pool[pool] = SharedWorker(pool, redis_url, log_path)
        return worker

    def discard(self, worker: SharedWorker) -> None:
        """Stop a worker that could not be taken back (a task of its test still running):
        the next test gets a new one."""
        if self.by_pool.get(worker.pool) is worker:
            del self.by_pool[worker.pool]
        worker.proc.kill()
        worker.stop()

    def stop(self) -> None:
        for worker in self.by_pool.values():
            worker.stop()


class CeleryEnv:
    """Celery workers on one queue of this test, and schedkit nodes on its store."""

    def __init__(
        self, store_url: str, redis_url: str, tmp_path: Path, shared: SharedWorkers
    ) -> None:
        self.store_url = store_url
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.shared = shared
        self.queue = f"schedkit-test-{uuid.uuid4().hex[:10]}"
        self.app = sender_app(redis_url)
        self.workers: list[subprocess.Popen[bytes]] = []
        #: Shared workers serving this test, with where their logs of it start.
        self.lent: list[tuple[SharedWorker, int]] = []
        self.nodes: list[Scheduler] = []

    def bridge(self) -> CeleryBridge:
        return install(self.app, registry=TaskRegistry(), tasks=TASKS, queue=self.queue)

    async def scheduler(self, *, send: bool = True, **overrides: Any) -> Scheduler:
        """A schedkit node firing and recording runs (sending them to Celery if ``send``)."""
        registry = TaskRegistry()
        for t in TASKS:
            registry.register_task(t)
        s = Scheduler(
            fast_config(self.store_url, **overrides),
            registry=registry,
            extensions=[self.bridge()] if send else [],
        )
        await s.start()
        self.nodes.append(s)
        return s

    async def serve(self, pool: str = "solo") -> None:
        """A worker of ``pool`` starts consuming this test's queue, with a schedkit node
        on this test's store: the session's shared one (for tests that neither stop the
        worker nor need a prefork pool's processes)."""
        worker = await asyncio.to_thread(self.shared.get, pool, self.redis_url)
        start = worker.log_path.stat().st_size
        self.lent.append((worker, start))
        await asyncio.to_thread(worker.lend, self.queue, self.store_url)

    def worker(self, pool: str = "solo") -> subprocess.Popen[bytes]:
        """Start a ``celery worker`` of this test's own on its queue."""
        n = len(self.workers)
        proc = start_worker(
            self.redis_url,
            pool,
            self.queue,
            f"w{n}-{self.queue}@%h",
            self.tmp_path / f"worker{n}.log",
            self.store_url,
        )
        self.workers.append(proc)
        return proc

    def send(self, run_id: str, task_name: str) -> Any:
        """Publish the message a sending node would (to duplicate it on purpose)."""
        return self.app.send_task("schedkit.run", args=[run_id, task_name], queue=self.queue)

    def queued(self) -> int:
        """Messages waiting in this test's queue (Redis keeps a queue as a list)."""
        with redis.Redis.from_url(self.redis_url) as client:
            return int(client.llen(self.queue))

    def purge(self) -> int:
        """Drop the messages waiting in this test's queue (a broker losing them)."""
        with redis.Redis.from_url(self.redis_url) as client:
            return int(client.delete(self.queue))

    def worker_logs(self) -> str:
        own = [p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("worker*.log"))]
        lent = [worker.logs_since(start) for worker, start in self.lent]
        return "\n".join(own + lent)

    async def close(self) -> None:
        for s in self.nodes:
            await s.stop(grace=0)
        failed: list[BaseException] = []
        for worker, _ in self.lent:
            try:
                await asyncio.to_thread(worker.take_back, self.queue)
            except Exception as exc:
                failed.append(exc)
                await asyncio.to_thread(self.shared.discard, worker)
        await asyncio.gather(*(asyncio.to_thread(stop_worker, proc) for proc in self.workers))
        self.app.close()
        # Shown by pytest when the test failed.
        print(self.worker_logs())
        if failed:
            raise failed[0]


@pytest.fixture
def redis_url() -> str:
    return service_url(REDIS_VAR)


@pytest.fixture(scope="session")
def shared_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedWorkers]:
    workers = SharedWorkers(tmp_path_factory.mktemp("celery-workers"))
    try:
        yield workers
    finally:
        workers.stop()


@pytest.fixture
async def celery_env(
    store_url: str, redis_url: str, tmp_path: Path, shared_workers: SharedWorkers
) -> AsyncIterator[CeleryEnv]:
    env = CeleryEnv(store_url, redis_url, tmp_path, shared_workers)
    try:
        yield env
    finally:
        await env.close()
