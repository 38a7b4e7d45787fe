"""Runs per second with 1, 2 and 4 ``schedkit worker`` processes on one PostgreSQL store.

    python -m bench.workers [--runs 5000] [--workers 1,2,4] [--postgres-url URL] [--json PATH]

For each count: a fresh database; the workers are started (``schedkit worker``, default
settings but ``executor.max_concurrent_runs``) and wait idle; N pending no-op runs are
inserted at once (``store.insert_runs``, untimed); the clock runs from the insert until
every run is recorded ``success`` (polled every 50 ms). Each run is claimed, executed
and finished through the store with its full history, as in production. The report
states the machine's cores: on a 2-core machine the workers, PostgreSQL and this
harness share them, so more workers mostly show the claim path's contention, not scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import pg_create_database, pg_drop_database
from bench.systems import pending_run
from schedkit.models import RunFilter, RunStatus
from schedkit.store import create_store

TASK = "bench_worker_noop"
ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
store_url = "{url}"
task_packages = ["bench.worker_tasks"]
entry_points = false

[executor]
max_concurrent_runs = {capacity}
"""


def start_worker(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDKIT_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "schedkit", "--config", str(config), "worker"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if "started" in line:
            return
    raise RuntimeError("a worker did not start")


async def one_case(base_url: str, workers: int, runs: int, capacity: int) -> dict[str, Any]:
    name = f"schedkit_bench_workers_{workers}"
    url = await pg_create_database(base_url, name)
    procs: list[subprocess.Popen[str]] = []
    try:
        async with create_store(url) as store:
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp) / "schedkit.toml"
                config.write_text(CONFIG.format(url=url, capacity=capacity))
                procs = [start_worker(config) for _ in range(workers)]
                for proc in procs:
                    await asyncio.to_thread(wait_ready, proc)
                now = datetime.now(UTC)
                batch = [pending_run(now, task_name=TASK) for _ in range(runs)]
                began = time.perf_counter()
                for start in range(0, runs, 1000):
                    await store.insert_runs(batch[start : start + 1000])
                inserted = time.perf_counter() - began
                succeeded = RunFilter(statuses=frozenset({RunStatus.SUCCESS}))
                done = 0
                while done < runs:
                    await asyncio.sleep(0.05)
                    done = await store.count_runs(succeeded)
                elapsed = time.perf_counter() - began
                other = await store.count_runs() - done
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(proc.wait, 60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        await pg_drop_database(base_url, name)
    return {
        "workers": workers,
        "runs": runs,
        "seconds": round(elapsed, 3),
        "insert_seconds": round(inserted, 3),
        "runs_per_second": round(runs / elapsed, 1),
        "not_success": other,
        "exit_codes": codes,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "capacity_per_worker": args.capacity,
        "cases": [],
    }
    for count in args.workers:
        case = await one_case(args.postgres_url, count, args.runs, args.capacity)
        print(
            f"{count} worker(s): {case['runs']} runs in {case['seconds']} s = "
            f"{case['runs_per_second']} runs/s",
            flush=True,
        )
        report["cases"].append(case)
    return report


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument(
        "--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4]
    )
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--postgres-url", default=os.environ.get("SCHEDKIT_TEST_POSTGRES_URL"))
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "workers.json")
    args = parser.parse_args(argv)
    if not args.postgres_url:
        parser.error("--postgres-url (or SCHEDKIT_TEST_POSTGRES_URL) is required")
    return args


if __name__ == "__main__":
    options = parse()
    result = asyncio.run(main(options))
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result, indent=2))
    print(f"cores: {result['cpu_count']}; report: {options.json}")
