"""The Server-Sent Events stream delivers run events to the console."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import PREFIX, Api
from tests.api.helpers import problem

ROOT = Path(__file__).resolve().parents[2]


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse ``text/event-stream`` lines into {"event", "id", "data", "retry"} dicts."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = json.loads(value) if name == "data" else value


def test_stream_delivers_a_runs_events(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}
    with (
        httpx.Client(base_url=api.url + PREFIX, headers=headers, timeout=10) as client,
        client.stream("GET", "/events?task=echo&duration=10") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
        ready = next(events)
        assert ready["event"] == "ready" and ready["retry"] == "2000"
        api.operator.post("/tasks/nightly_report/execute")  # another task: filtered out
        run_id = api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": 4}}).json()[
            "run_id"
        ]
        seen = []
        for event in events:
            seen.append(event)
            if event["event"] == "finished" and event["id"] == run_id:
                break
    assert all(e["data"]["run"]["task_name"] == "echo" for e in seen)
    kinds = [e["event"] for e in seen if e["id"] == run_id]
    assert "started" in kinds and kinds[-1] == "finished"
    finished = seen[-1]["data"]
    assert finished["kind"] == "finished" and finished["run"]["status"] == "success"
    # Events carry the run's summary; the run itself has the kwargs and the result.
    assert "result" not in finished["run"] and "kwargs" not in finished["run"]
    run = api.viewer.get(f"/runs/{run_id}").json()
    assert run["result"]["data"] == {"count": 4, "label": "x"}


def test_stream_needs_a_viewer_token_and_ends_after_its_duration(api: Api) -> None:
    problem(httpx.get(api.url + PREFIX + "/events"), 401)
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}
    response = httpx.get(api.url + PREFIX + "/events?duration=0.2", headers=headers, timeout=5)
    assert response.status_code == 200
    [ready] = list(sse_events(iter(response.text.splitlines())))
    assert ready["event"] == "ready" and "node_id" in ready["data"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used (Linux: user + system, /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_users_uvicorn_stops_at_once_with_a_stream_open(tmp_path: Path) -> None:
    """Embedded (``mount_scheduler`` in the host's app, the host's own ``uvicorn``, no
    graceful-shutdown timeout): uvicorn tells an open response nothing when it begins
    to stop and runs the lifespan shutdown only once the responses have ended, so the
    stream used to hold the stop for its whole ``duration``."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "SCHEDKIT_TEST_STORE_URL": f"sqlite:///{tmp_path / 'embedded.db'}",
    }
    command = [sys.executable, "-m", "uvicorn", "tests.api.embedded_app:app"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--no-access-log"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A duration that outlasts the test's limits: only the stop may end the stream.
    events = f"http://127.0.0.1:{port}{PREFIX}/events?duration=15"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "uvicorn did not start"
            try:
                httpx.get(f"http://127.0.0.1:{port}{PREFIX}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(timeout=30) as client, client.stream("GET", events) as response:
            lines = response.iter_lines()
            assert next(lines) == "event: ready"
            # Hole: a stream without a token to check again (the host's user) spun its
            # loop, a core per open console, once api.stream_recheck had passed.
            cpu = _cpu_seconds(server.pid)
            time.sleep(1.5)
            idle_cpu = _cpu_seconds(server.pid) - cpu
            began = time.monotonic()
            server.send_signal(signal.SIGTERM)
            rest = list(lines)  # the answer ends normally (no broken chunked read)
            stream_took = time.monotonic() - began
        _, err = server.communicate(timeout=20)
        took = time.monotonic() - began
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    # uvicorn raises the SIGTERM again once it has stopped, to end as signalled.
    assert server.returncode == -signal.SIGTERM, err
    assert idle_cpu < 0.5, idle_cpu
    assert stream_took < 2 and took < 3, (stream_took, took, rest, err)
    assert "Traceback" not in err and "ERROR" not in err, err
