"""Bulk schedules and the API at many schedules (issue #17), outside the main harness.

    python -m bench.bulk import --n 100000                       # SQLite
    python -m bench.bulk import --n 100000 --postgres-url URL    # and PostgreSQL
    python -m bench.bulk import --n 100000 --mongo-url URL       # and MongoDB (FerretDB)
    python -m bench.bulk api --n 10000 --requests 200            # API probe, SQLite
    python -m bench.bulk api --n 10000 --runs 1000000            # ... with a run history

``import``: ``Scheduler.add_schedules`` of ``n`` schedules of one task (60 distinct cron
triggers, kwargs per schedule), timed in phases: validation (off the loop), the id
check, the one-batch write. Target: 100,000 in <= 5 s (>= 20,000/s).

``api``: ``n`` schedules of one task (bulk-imported) and ``runs`` finished runs over the
last 30 days (the history workload's generator: 20 tasks, 93 % success), then every
request the console's pages make (overview, tasks, task detail, schedules, runs, run
detail, audit, calendars, workflows, nodes) against a real uvicorn server of
``schedkit.api.create_app`` in this process, each ``requests`` times: p50 / p95 / max per
request, and the event loop's lag (a 10 ms ticker on the server's loop) while they run.
Target: p95 <= 50 ms per request, loop lag <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import measure
from bench.history import history_runs
from bench.systems import TASK_NAME, make_scheduler
from schedkit.models import RunFilter
from schedkit.service.bulk import ScheduleEntry
from schedkit.store import create_store

#: (console page, request) pairs; ``{run}`` is the newest run's id. The console's own
#: queries (src/schedkit/console/static/views/).
PAGES = (
    ("overview", "/stats?hours=24&upcoming=10&lang=en"),
    ("overview", "/ready"),
    ("overview", "/nodes"),
    ("tasks", "/tasks"),
    ("tasks", "/runs?status=pending&status=running&limit=100"),
    ("task detail", f"/tasks/{TASK_NAME}"),
    ("task detail", f"/tasks/{TASK_NAME}/history?limit=50&offset=0"),
    ("schedules", f"/schedules?task={TASK_NAME}&limit=50&offset=5000"),
    ("runs", "/runs?limit=50&offset=0"),
    ("runs", "/runs?status=failed&limit=50&offset=1000"),
    ("run detail", "/runs/{run}"),
    ("run detail", "/runs/{run}/logs"),
    ("audit", "/audit?limit=50&offset=0"),
    ("calendars", "/calendars"),
    ("calendars", "/calendar-warnings?lang=en"),
    ("workflows", "/workflows"),
    ("workflows", "/workflow-runs?limit=50"),
    ("nodes", "/nodes"),
)


def entries(n: int, prefix: str = "bulk") -> list[ScheduleEntry]:
    return [
        ScheduleEntry(
            task_name=TASK_NAME,
            config={"trigger": "cron", "minute": i % 60, "kwargs": {}},
            schedule_id=f"{prefix}-{i:07d}",
            line=i + 1,
        )
        for i in range(n)
    ]


async def import_once(store_url: str, n: int) -> dict[str, Any]:
    scheduler = make_scheduler(store_url, scheduler={"enabled": False})
    async with scheduler:
        batch = entries(n)
        cpu0, t0 = measure.cpu_seconds(), time.perf_counter()
        created = await scheduler.add_schedules(batch)
        elapsed = time.perf_counter() - t0
        cpu = measure.cpu_seconds() - cpu0
        assert len(created) == n and await scheduler.count_schedules() == n
    return {
        "n": n,
        "seconds": round(elapsed, 3),
        "per_second": round(n / elapsed),
        "cpu_seconds": round(cpu, 3),
        "target_met": n / elapsed >= 20_000,
    }


def run_import(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bulk.db'}"
        rows.append({"system": "schedkit-sqlite", **asyncio.run(import_once(url, args.n))})
    if args.postgres_url:
        name = f"schedkit_bulk_{os.getpid()}"
        url = asyncio.run(measure.pg_create_database(args.postgres_url, name))
        try:
            rows.append({"system": "schedkit-postgres", **asyncio.run(import_once(url, args.n))})
        finally:
            asyncio.run(measure.pg_drop_database(args.postgres_url, name))
    if args.mongo_url:
        # FerretDB here: a real MongoDB server differs (say so beside its figures).
        name = f"schedkit_bulk_{os.getpid()}"
        url = urlunsplit(urlsplit(args.mongo_url)._replace(path=f"/{name}"))
        try:
            rows.append({"system": "schedkit-mongo", **asyncio.run(import_once(url, args.n))})
        finally:
            asyncio.run(_drop_mongo(args.mongo_url, name))
    return rows


async def _drop_mongo(url: str, name: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


class _Server:
    """uvicorn serving ``app`` in a thread on a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/v1/scheduler"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


async def _fill_runs(store_url: str, n: int) -> str:
    """``n`` finished runs over the last 30 days; the id of the newest."""
    store = create_store(store_url)
    await store.open()
    try:
        newest = ""
        end = datetime.now(UTC).replace(microsecond=0)
        for batch in history_runs({"runs": n, "tasks": 20, "days": 30}, end):
            await store.insert_runs(batch)
            newest = batch[-1].id
        if not newest:
            newest = (await store.list_runs(RunFilter(), limit=1))[0].id
        return newest
    finally:
        await store.close()


def run_api(args: argparse.Namespace) -> list[dict[str, Any]]:
    import httpx

    from schedkit.api import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'api.db'}"
        asyncio.run(import_once(url, args.n))
        newest = asyncio.run(_fill_runs(url, args.runs))
        scheduler = make_scheduler(url)
        app = create_app(scheduler, auth="none")
        lags: list[float] = []
        tickers: list[asyncio.Task[None]] = []

        async def ticker() -> None:
            while True:
                start = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(max(0.0, time.perf_counter() - start - 0.01))

        @app.middleware("http")  # started on the server's own loop by the first request
        async def start_ticker(request: Any, call_next: Any) -> Any:
            if not tickers:
                tickers.append(asyncio.get_running_loop().create_task(ticker()))
            return await call_next(request)

        rows = []
        with _Server(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            for label, template in PAGES:
                path = template.format(run=newest)
                client.get(path).raise_for_status()  # warm
                lags.clear()
                times, size = [], 0
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    answer = client.get(path)
                    times.append(time.perf_counter() - t0)
                    answer.raise_for_status()
                    size = len(answer.content)
                times.sort()
                lag = sorted(lags)
                rows.append(
                    {
                        "page": label,
                        "request": template.replace("{run}", "{id}"),
                        "bytes": size,
                        "p50_ms": round(measure.percentile(times, 50) * 1000, 1),
                        "p95_ms": round(measure.percentile(times, 95) * 1000, 1),
                        "max_ms": round(times[-1] * 1000, 1),
                        "loop_lag_p99_ms": round(measure.percentile(lag, 99) * 1000, 1)
                        if lag
                        else None,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=__doc__)
    parser.add_argument("what", choices=("import", "api"))
    parser.add_argument("--n", type=int, default=1000, help="schedules")
    parser.add_argument("--requests", type=int, default=20, help="api: requests per page")
    parser.add_argument("--runs", type=int, default=1000, help="api: finished runs stored")
    parser.add_argument("--postgres-url", default=os.environ.get("SCHEDKIT_TEST_POSTGRES_URL"))
    parser.add_argument("--mongo-url", default=os.environ.get("SCHEDKIT_TEST_MONGO_URL"))
    args = parser.parse_args(argv)
    rows = run_import(args) if args.what == "import" else run_api(args)
    headers = list(rows[0])
    print(measure.table(headers, [[row[h] for h in headers] for row in rows]))
    json.dump(rows, sys.stderr)
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
