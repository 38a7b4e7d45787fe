"""Real Celery workers (``celery -A tests.celery_executor.celery_app worker`` subprocesses) on
the real Redis, sharing each test's store with a schedkit node in the test process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
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


class CeleryEnv:
    """Celery workers on one queue of this test, and schedkit nodes on its store."""

    def __init__(self, store_url: str, redis_url: str, tmp_path: Path) -> None:
        self.store_url = store_url
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.queue = f"schedkit-test-{uuid.uuid4().hex[:10]}"
        self.app = Celery("schedkit_test_sender", broker=redis_url, backend=redis_url)
        self.app.conf.update(broker_connection_retry_on_startup=True, result_expires=300)
        self.workers: list[subprocess.Popen[bytes]] = []
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

    def worker(self, pool: str = "solo") -> subprocess.Popen[bytes]:
        """Start ``celery worker`` on this test's queue, as a user runs it."""
        n = len(self.workers)
        log = (self.tmp_path / f"worker{n}.log").open("wb")
        cmd = [
            sys.executable, "-m", "celery", "-A", "tests.celery_executor.celery_app", "worker",
            f"--pool={pool}", "--concurrency=2", "-Q", self.queue, "-n", f"w{n}-{self.queue}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip
        env = {
            **os.environ,
            "SCHEDKIT_TEST_REDIS_URL": self.redis_url,
            "SCHEDKIT_TEST_CELERY_STORE": self.store_url,
        }
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
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
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("worker*.log"))
        )

    async def close(self) -> None:
        for s in self.nodes:
            await s.stop(grace=0)
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.app.close()
        # Shown by pytest when the test failed.
        print(self.worker_logs())


@pytest.fixture
def redis_url() -> str:
    return service_url(REDIS_VAR)


@pytest.fixture
async def celery_env(store_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[CeleryEnv]:
    env = CeleryEnv(store_url, redis_url, tmp_path)
    try:
        yield env
    finally:
        await env.close()
