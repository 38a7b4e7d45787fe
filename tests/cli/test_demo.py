"""``make demo``'s entry command (``schedkit demo``) as a subprocess: it fills a fresh
database with the example's sample data, serves the API with a printed admin token, runs
a task triggered through the API, and stops cleanly on SIGINT (exit 0, nothing left
``running``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from schedkit.models import RunFilter, RunStatus, Schedule
from schedkit.store import create_store

SCRIPT = Path(sys.executable).parent / "schedkit"
API = "/api/v1/scheduler"
TOKEN = re.compile(r"admin token\s+(skt_[A-Za-z0-9_-]+)")
URL = re.compile(r"console\s+(http://\S+/)")
USE_LINE = re.compile(r"^\s+export (SCHEDKIT_CONFIG=.*)$", re.MULTILINE)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Output:
    """Drains a pipe in a thread (a full pipe would block the demo) and keeps the text."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> None:
        self._thread.join(timeout=10)


def wait_for(
    pattern: re.Pattern[str], out: Output, proc: subprocess.Popen[str], err: Output
) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = pattern.search(out.text)
        if found:
            return found.group(1)
        if proc.poll() is not None:
            pytest.fail(f"demo exited {proc.returncode}:\n{out.text}\n{err.text}")
        time.sleep(0.1)
    pytest.fail(f"demo printed no {pattern.pattern!r}:\n{out.text}\n{err.text}")


def demo_env() -> dict[str, str]:
    # Nothing from the developer's SCHEDKIT_* settings, and no PYTHONPATH: the demo must
    # find examples/ by itself although it runs in another directory.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SCHEDKIT_") and k != "PYTHONPATH"
    }
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", SCHEDKIT_SCHEDULER__SHUTDOWN_GRACE="5")
    return env


def test_demo_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    var = tmp_path / "demo"  # not ./var: the files must land here, not in the cwd
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "schedkit"]
    proc = subprocess.Popen(
        [*command, "demo", "--port", str(port), "--var-dir", str(var)],
        cwd=tmp_path,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Output(proc.stdout), Output(proc.stderr)
    try:
        token = wait_for(TOKEN, out, proc, err)
        url = wait_for(URL, out, proc, err)
        assert url == f"http://127.0.0.1:{port}/"
        assert "sample data generated" in out.text
        with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
            assert client.get(f"{API}/health").status_code == 200
            assert client.get(f"{API}/tasks").status_code == 401  # tokens are required
            auth = {"Authorization": f"Bearer {token}"}
            executed = client.post(
                f"{API}/tasks/customer_status_auto_update/execute",
                params={"wait": "true"},
                headers=auth,
                json={},
            )
            assert executed.status_code == 200, executed.text
            body = executed.json()
            assert body["status"] == "success", body
            tasks = client.get(f"{API}/tasks", headers=auth).json()
            names = {t["name"] for t in tasks}
            assert {"customer_status_auto_update", "report_daily", "data_backup"} <= names
            use_the_cli_on_the_demo(wait_for(USE_LINE, out, proc, err), tmp_path, var, client)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, err.text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.join()
        err.join()
        proc.stdout.close()
        proc.stderr.close()
    assert "Traceback" not in err.text, err.text

    async def inspect() -> tuple[int, int, list[Schedule]]:
        async with create_store(f"sqlite:///{var / 'demo.db'}") as store:
            running = await store.count_runs(RunFilter(statuses=frozenset({RunStatus.RUNNING})))
            success = await store.count_runs(RunFilter(statuses=frozenset({RunStatus.SUCCESS})))
            return running, success, await store.list_schedules()

    running, success, schedules = asyncio.run(inspect())
    assert running == 0
    assert success >= 1
    ids = {s.id for s in schedules}
    assert "demo:customer_status_auto_update" in ids
    assert "customer_status_auto_update" in ids  # the task's own schedule stays


def cli_env(use_line: str) -> dict[str, str]:
    """The environment after ``export <use_line>`` (``NAME=value`` pairs)."""
    env = demo_env()
    env.pop("SCHEDKIT_SCHEDULER__SHUTDOWN_GRACE")
    for pair in use_line.split():
        name, _, value = pair.partition("=")
        env[name] = value
    return env


def use_the_cli_on_the_demo(use_line: str, cwd: Path, var: Path, api: httpx.Client) -> None:
    """The line the demo prints points the CLI at the demo's store, tasks and files: the
    tasks are there, a report run from the shell lands in the demo's folder (so the
    console offers it), and a token made there signs in to the demo."""
    env = cli_env(use_line)
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "schedkit"]

    def cli(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*command, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    procs = {
        "tasks": cli("--json", "tasks", "list"),
        "report": cli("--json", "run", "report_daily", "--local"),
        "token": cli("--json", "token", "create", "walker", "--role", "viewer"),
    }
    done = {name: (p.returncode, out, err) for name, p in procs.items() for out, err in [
        p.communicate(timeout=120)]}  # fmt: skip
    for name, (code, _, err) in done.items():
        assert code == 0, (name, err)
    database = f"sqlite:///{var.resolve() / 'demo.db'}"
    listed = json.loads(done["tasks"][1])
    assert listed["store"] == database
    assert len(listed["tasks"]) == 11  # ten tasks and the workflow's launcher
    report = json.loads(done["report"][1])
    assert report["store"] == database and report["status"] == "success", report
    files = report["result"]["data"]["files"]
    assert all((var / "reports" / name).is_file() for name in files), files
    assert not (cwd / "var" / "reports").exists()  # not the working directory's var/
    token = json.loads(done["token"][1])
    assert token["store"] == database
    viewer = {"Authorization": f"Bearer {token['secret']}"}
    assert api.get(f"{API}/tasks", headers=viewer).status_code == 200
    download = api.get(f"{API}/runs/{report['id']}/files/{files[0]}", headers=viewer)
    assert download.status_code == 200, download.text
