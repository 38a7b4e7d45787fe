"""Node processes for the multi-process tests (``node_proc.py`` here, tests/chaos's
``node.py``): starting and stopping them from a test, serving inside them, and the marks
their tasks write."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schedkit import Scheduler
from tests.untraced import untraced_env

HERE = Path(__file__).parent


def append_line(path: str, record: dict[str, Any]) -> None:
    """Append one JSON line to ``path``: a single O_APPEND write of a short line, atomic
    across the processes writing the same file."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


async def serve(
    scheduler: Scheduler, grace: float = 2.0, started: Callable[[], None] | None = None
) -> None:
    """Inside a node process: start (then call ``started``), print ``READY <node_id>``,
    and stop cleanly on SIGTERM / SIGINT (SIGKILL is how tests simulate a crash)."""
    await scheduler.start()
    if started is not None:
        started()
    sys.stdout.write(f"READY {scheduler.node_id}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await scheduler.stop(grace=grace)


class Node:
    def __init__(self, url: str, marker: Path, **overrides: Any) -> None:
        # src/ after any PYTHONPATH given (a test may point it at another checkout).
        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), "src") if p)
        env = {**untraced_env(), "SCHEDKIT_TEST_MARKER": str(marker), "PYTHONPATH": path}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "node_proc.py"), url, json.dumps(overrides)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.node_id = ""

    async def ready(self, timeout: float = 30) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        assert line.startswith("READY "), f"node did not start: {line!r}"
        self.node_id = line.split()[1]
        return self.node_id

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._close()
        return code

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def read_marks(marker: Path) -> list[dict[str, Any]]:
    if not marker.exists():
        return []
    return [json.loads(line) for line in marker.read_text().splitlines() if line]
