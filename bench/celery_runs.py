"""Runs through Celery: how many runs a second schedkit hands to real ``celery worker``
processes and records back, and how long a run waits from creation to its start.

    python -m bench.celery_runs                          # SQLite; 1 and 2 workers
    python -m bench.celery_runs --postgres-url URL --workers 1,2,4 --runs 1000
    python -m bench.celery_runs --smoke                  # toy size (tests/bench runs it)

Each case: a fresh store, one schedkit node (the sender, holding the scheduler lease)
and N ``celery -A bench.celery_runs worker --pool=threads`` processes on a queue of
their own (Redis: ``--redis-url`` or ``$SCHEDKIT_TEST_REDIS_URL``). A warm-up round
starts every worker process's schedkit node. Then 50 manual runs of a no-op
``executor = "celery"`` task, one at a time (start wait: from a run's creation to its
start on a worker, the whole hand-off), and a backlog of ``--runs`` runs created with
the sender off and sent at once (runs/s: from the sender's start until the last has
finished in the store). Separate from
``python -m bench`` (whose workloads compare schedkit with APScheduler): this one has
nothing to compare with.

This module is also the workers' Celery app (``-A bench.celery_runs``): the store and
the broker come from the environment the driver sets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery

from bench.measure import pg_create_database, pg_drop_database
from schedkit import SchedkitConfig, Scheduler, TaskRegistry, task
from schedkit.integrations.celery import EXECUTOR, install
from schedkit.models import RunStatus

ROOT = Path(__file__).resolve().parent.parent
TASK = "bench_celery_noop"
STORE_VAR = "SCHEDKIT_BENCH_CELERY_STORE"
#: Runs created one after the other, each once the previous has finished (start wait).
LATENCY_RUNS = 50
REDIS_VAR = "SCHEDKIT_TEST_REDIS_URL"


@task(TASK, executor="celery", retry={"max_retries": 0})
async def bench_celery_noop() -> None:
    return None


def config(store_url: str) -> SchedkitConfig:
    # Defaults, except what a short benchmark needs: no plugin discovery, and a sender
    # that holds the lease at once.
    return SchedkitConfig(store_url=store_url, entry_points=False, task_packages=[])


def _registry() -> TaskRegistry:
    registry = TaskRegistry()
    registry.register_task(bench_celery_noop)
    return registry


# -- the workers' app ----------------------------------------------------------------------

app = Celery("schedkit_bench", broker=os.environ.get(REDIS_VAR, "memory://"))
app.conf.update(broker_connection_retry_on_startup=True)
bridge = install(
    app, config(os.environ.get(STORE_VAR, "sqlite:///bench-celery.db")), registry=_registry()
)


# -- the driver ----------------------------------------------------------------------------


def _start_workers(
    n: int, concurrency: int, queue: str, store_url: str, redis: str, logs: Path
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, STORE_VAR: store_url, REDIS_VAR: redis}
    procs = []
    for i in range(n):
        with (logs / f"worker{i}.log").open("wb") as log:
            cmd = [
                sys.executable, "-m", "celery", "-A", "bench.celery_runs", "worker",
                "--pool=threads", f"--concurrency={concurrency}", "-Q", queue,
                "-n", f"bench{i}-{queue}@%h", "--without-mingle", "--without-gossip",
                "--without-heartbeat", "-l", "WARNING",
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    return procs


def _stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _create(s: Scheduler, runs: int) -> list[str]:
    return [(await s.run_now(TASK)).id for _ in range(runs)]


async def _all_done(s: Scheduler, runs: int, started: float, timeout: float) -> float:
    """Seconds from ``started`` until ``runs`` runs have succeeded."""
    deadline = started + timeout
    while await s.count_runs(TASK, status=RunStatus.SUCCESS) < runs:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"runs not finished within {timeout:g} s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def case(
    store_url: str, workers: int, concurrency: int, runs: int, redis: str
) -> dict[str, Any]:
    """Runs one at a time (how long a run waits from its creation to its start on a
    worker), then a backlog of ``runs`` runs created with the sender off and sent at once
    (how many runs a second the workers take through)."""
    queue = f"schedkit-bench-{uuid.uuid4().hex[:8]}"
    sender_app = Celery("schedkit_bench_sender", broker=redis)
    sender = install(sender_app, registry=TaskRegistry(), queue=queue)
    timeout = max(120.0, runs / 5)
    with tempfile.TemporaryDirectory() as logs:
        procs = _start_workers(workers, concurrency, queue, store_url, redis, Path(logs))
        try:
            async with Scheduler(config(store_url), registry=_registry()) as s:
                stop_sending = s.add_executor(EXECUTOR, sender.send)
                # Warm-up: every worker process starts its schedkit node on a message.
                warm = workers * concurrency * 2
                await _create(s, warm)
                await _all_done(s, warm, time.perf_counter(), 120)
                waits = []
                for _ in range(LATENCY_RUNS if runs >= LATENCY_RUNS else 3):
                    run = await s.run_now(TASK, wait=True, timeout=30)
                    assert run.started_at is not None
                    waits.append((run.started_at - run.scheduled_for).total_seconds() * 1000)
                await s.purge(older_than=timedelta(0))
                stop_sending()
                await _create(s, runs)
                started = time.perf_counter()
                s.add_executor(EXECUTOR, sender.send)
                seconds = await _all_done(s, runs, started, timeout)
        finally:
            await asyncio.to_thread(_stop_workers, procs)
            sender_app.close()
    waits.sort()
    return {
        "workers": workers,
        "concurrency": concurrency,
        "runs": runs,
        "backlog_seconds": round(seconds, 3),
        "runs_per_s": round(runs / seconds, 1),
        "start_wait_ms_p50": round(statistics.median(waits), 1),
        "start_wait_ms_p95": round(waits[int(len(waits) * 0.95) - 1], 1),
    }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.celery_runs")
    parser.add_argument("--workers", default="1,2", help="worker process counts, e.g. 1,2,4")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL instead of SQLite")
    parser.add_argument("--redis-url", default=os.environ.get(REDIS_VAR))
    parser.add_argument("--smoke", action="store_true", help="toy size; figures mean nothing")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    if not args.redis_url:
        parser.error(f"a Redis broker is needed: --redis-url or ${REDIS_VAR}")
    counts = [1] if args.smoke else [int(n) for n in args.workers.split(",")]
    runs = 10 if args.smoke else args.runs
    concurrency = 2 if args.smoke else args.concurrency
    store = "postgresql" if args.postgres_url else "sqlite"
    results = []
    for n in counts:
        name = f"schedkit_bench_celery_{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres_url:
                url = await pg_create_database(args.postgres_url, name)
            else:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            try:
                results.append(await case(url, n, concurrency, runs, args.redis_url))
            finally:
                if args.postgres_url:
                    await pg_drop_database(args.postgres_url, name)
    report = {"store": store, "cpus": os.cpu_count(), "smoke": args.smoke, "cases": results}
    print(f"Runs through Celery, {store} store, {os.cpu_count()} CPU(s) (workers share them)\n")
    print("| worker processes | threads each | runs | backlog runs/s | start wait p50 | p95 |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workers']} | {r['concurrency']} | {r['runs']} | {r['runs_per_s']} "
            f"| {r['start_wait_ms_p50']} ms | {r['start_wait_ms_p95']} ms |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
