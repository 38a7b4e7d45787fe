"""Node processes (``node_proc.py``) for the multi-process tests, and the marks their
tasks write."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


class Node:
    def __init__(self, url: str, marker: Path, **overrides: Any) -> None:
        # src/ after any PYTHONPATH given (a test may point it at another checkout).
        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), "src") if p)
        env = {**os.environ, "SCHEDKIT_TEST_MARKER": str(marker), "PYTHONPATH": path}
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
