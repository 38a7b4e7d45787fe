"""Cluster tests: real ``schedkit worker`` processes sharing one store."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from tests.cli.conftest import subprocess_env
from tests.untraced import untraced_env

TASKS = "tests.cluster.cluster_tasks"

CONFIG = """\
timezone = "Asia/Shanghai"
store_url = "{url}"
task_packages = ["{tasks}"]
entry_points = false

[executor]
poll_interval = 0.1

[scheduler]
heartbeat_interval = 0.2
lease_ttl = 2.0
refresh_interval = 0.2
lost_after = 3.0
shutdown_grace = 1.0
"""

_STARTED = re.compile(r"schedkit worker (\S+) started")


class Worker:
    """A ``schedkit worker`` process; ``node_id`` once it has started."""

    def __init__(self, config: Path, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "schedkit", "--config", str(config), "worker", *args],
            env=untraced_env(subprocess_env(**env)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.node_id = ""
        self.lines: list[str] = []

    def ready(self, timeout: float = 60) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            found = _STARTED.search(line)
            if found:
                self.node_id = found.group(1)
                return self.node_id
        raise AssertionError("worker did not start:\n" + "".join(self.lines))

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.lines) + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def cluster_config_path(store_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "schedkit.toml"
    path.write_text(CONFIG.format(url=store_url, tasks=TASKS), encoding="utf-8")
    return path


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Start workers with ``workers.append(Worker(cluster_config, ...))``; killed at the end."""
    started: list[Worker] = []
    yield started
    for w in started:
        w.kill()


def management(config: Path, **overrides: object) -> Scheduler:
    """A façade that neither fires nor executes (what the API and CLI use)."""
    cfg = SchedkitConfig.load(config)
    cfg = cfg.model_copy(
        update={
            "scheduler": cfg.scheduler.model_copy(update={"enabled": False}),
            "executor": cfg.executor.model_copy(update={"enabled": False}),
            **overrides,
        }
    )
    return Scheduler(cfg, registry=TaskRegistry())
