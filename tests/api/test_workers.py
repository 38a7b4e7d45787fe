"""Several uvicorn workers serving one app share one store: the scheduler lease decides
which worker fires, so each fire of a schedule yields exactly one run and one execution."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from schedkit.models import RunFilter
from schedkit.store import create_store
from schedkit.tokens import create_token

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _token(url: str) -> str:
    async with create_store(url) as store:
        return (await create_token(store, name="watcher", role="viewer")).secret


async def _tick_runs(url: str) -> list[tuple[str, str, str]]:
    async with create_store(url) as store:
        runs = await store.list_runs(RunFilter(schedule_id="tick"), limit=10_000)
    return [(r.scheduled_for.isoformat(), r.status.value, r.id) for r in runs]


def test_two_workers_fire_each_schedule_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    marker = tmp_path / "executions.jsonl"
    secret = asyncio.run(_token(url))
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "SCHEDKIT_TEST_STORE_URL": url,
        "SCHEDKIT_TEST_MARKER": str(marker),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.api.workers_app:app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "3",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/api/v1/scheduler"
    headers = {"Authorization": f"Bearer {secret}"}
    nodes: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 30
        while len(nodes) < 2:  # both workers have started their node
            assert server.poll() is None, "uvicorn exited"
            assert time.monotonic() < deadline, f"workers did not both start: {nodes}"
            with contextlib.suppress(httpx.TransportError):
                nodes = httpx.get(base + "/nodes", headers=headers, timeout=2).json()
            time.sleep(0.2)
        time.sleep(4)  # about four fires of the every-second schedule
        nodes = httpx.get(base + "/nodes", headers=headers, timeout=2).json()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    assert len({n["pid"] for n in nodes}) == 2
    assert sum(1 for n in nodes if n["leader"]) == 1
    runs = asyncio.run(_tick_runs(url))
    fires = Counter(scheduled_for for scheduled_for, _, _ in runs)
    assert len(fires) >= 3, runs
    assert set(fires.values()) == {1}  # one run per scheduled fire
    executions = [json.loads(line) for line in marker.read_text().splitlines()]
    executed = Counter(e["for"] for e in executions)
    assert set(executed.values()) == {1}, executed  # each fire executed once, by one worker
    succeeded = {scheduled_for for scheduled_for, status, _ in runs if status == "success"}
    assert succeeded <= set(executed) <= set(fires)
    assert len(succeeded) >= 3
