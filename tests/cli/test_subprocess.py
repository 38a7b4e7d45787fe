"""The CLI as a user runs it (``python -m schedkit``, ``python -m schedkit.cli``; the
``schedkit`` script runs in test_demo), for exit codes (0 success, 1 failure, 2 usage,
130 interrupted) and one-line errors."""

from __future__ import annotations

import asyncio
import json
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from schedkit.models import Run, RunFilter, RunStatus
from schedkit.store import create_store
from schedkit.tokens import create_token
from tests.cli.conftest import SAMPLE_PACKAGE, Cli, one_error_line, subprocess_env, write_config


def runs_of(db: Path, task_name: str) -> list[Run]:
    async def read() -> list[Run]:
        async with create_store(f"sqlite:///{db}") as store:
            return await store.list_runs(RunFilter(task_name=task_name))

    return asyncio.run(read())


def _as_from_a_shell() -> None:
    """In the child before exec: SIGINT at its default, as a shell starts a command. A
    child inherits an ignored SIGINT, and then Python installs no KeyboardInterrupt
    handler; in full runs (not alone) the Ctrl-C test's command ran on past its SIGINT,
    so the test process's own disposition is not to be trusted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def reap(*procs: subprocess.Popen[str]) -> None:
    """Kill what a failed test left running (a passed one has ended them all)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def start(cli: Cli, *args: str, module: str = "schedkit") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cli.cwd,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_shell,
    )


def read_until(proc: subprocess.Popen[str], marker: str) -> str:
    """The stderr lines of ``proc`` up to the one holding ``marker`` (it must come)."""
    assert proc.stderr is not None
    seen = ""
    while marker not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    return seen


def test_exit_codes(cli: Cli) -> None:
    # Started together: each pays the interpreter's start-up once, in parallel.
    url = "postgresql://carol:pa55word@127.0.0.1:1/db"
    procs = {
        "success": start(cli, "run", "hello", "-p", "name=Sub", "--wait", "--json"),
        "failure": start(cli, "run", "boom", "--wait"),
        "usage": start(cli, "run", module="schedkit.cli"),
        "store": start(cli, "--store", url, "tasks", "list"),
    }
    done = {name: (p, *p.communicate(timeout=120)) for name, p in procs.items()}

    proc, out, err = done["success"]
    assert proc.returncode == 0, err
    assert json.loads(out)["result"]["message"] == "hello Sub x1"

    proc, out, err = done["failure"]
    assert proc.returncode == 1, err
    assert "ValueError: boom on purpose" in out
    assert "Traceback" not in out + err

    proc, out, err = done["usage"]
    assert proc.returncode == 2, err
    assert "Missing argument 'TASK'" in err

    proc, out, err = done["store"]
    assert proc.returncode == 1, err
    assert "carol:***@127.0.0.1:1/db" in one_error_line(err)
    assert "pa55word" not in out + err


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")],
    ids=["sigint", "sigterm"],
)
def test_a_signal_cancels_a_local_run_and_exits(
    cli: Cli, signum: signal.Signals, code: int, said: str
) -> None:
    """SIGTERM (``timeout``, systemd, a cancelled CI job), a first-hour audit: it killed
    ``run --wait`` outright and left the run it executed ``running`` (for good, with no
    service on the store). It now ends the run as Ctrl-C does, and exits 143."""
    proc = start(cli, "run", "slow", "-p", "seconds=60", "--wait")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if cli.db.exists() and any(
                r.status is RunStatus.RUNNING for r in runs_of(cli.db, "slow")
            ):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        else:
            pytest.fail("the run did not start")
        disposition = signal.getsignal(signum)  # said if the test fails
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        reap(proc)
    assert proc.returncode == code, (err, f"{signum!r} in the test process: {disposition}")
    if signum == signal.SIGINT:
        assert "interrupted" in err
    assert "Traceback" not in err
    (run,) = runs_of(cli.db, "slow")
    assert run.status is RunStatus.CANCELLED
    assert f"interrupted in the CLI ({said})" == run.reason


def test_ctrl_c_stops_at_once_and_starts_no_other_pending_run(cli: Cli) -> None:
    """An audit: after Ctrl-C the local node, while it waited for its cancelled run to
    end, claimed a run of the task created earlier and ran it to completion: exit 130
    came 20 s after Ctrl-C. The earlier run stays pending (for a service) and the
    command exits within a moment of its own run's end."""
    earlier = cli.subprocess("--json", "run", "slow", "-p", "seconds=12")  # no service
    assert earlier.returncode == 0, earlier.stderr
    proc = start(cli, "run", "slow", "-p", "seconds=6", "--wait")  # checks every 1 s
    try:
        deadline = time.monotonic() + 30
        while not any(r.status is RunStatus.RUNNING for r in runs_of(cli.db, "slow")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        reap(proc)
    assert proc.returncode == 130, err
    assert took < 3, (took, err)
    runs = {r.id: r for r in runs_of(cli.db, "slow")}
    left = runs.pop(json.loads(earlier.stdout)["id"])
    assert (left.status, left.attempt, left.node_id, left.started_at) == (
        RunStatus.PENDING, 1, None, None,
    )  # fmt: skip
    (own,) = runs.values()
    assert own.status is RunStatus.CANCELLED and "Ctrl-C" in (own.reason or "")


def test_ctrl_c_on_a_workflow_waiting_for_a_service_says_it_goes_on(cli: Cli) -> None:
    """An audit: ``workflow start --wait`` with no service said nothing until Ctrl-C,
    then only ``interrupted``. It says first that it waits for a service, and at Ctrl-C
    that the workflow run stays for one."""
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.workflow_tasks"))
    proc = start(cli, "workflow", "start", "greeting", "-p", "day=1", "--wait")
    try:
        seen = read_until(proc, "waits for one to execute its steps")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        reap(proc)
    assert proc.returncode == 130, seen + err
    assert "schedkit serve" in seen
    assert "stopped waiting; workflow run" in err and "goes on" in err, err
    assert "Traceback" not in err


def test_a_worker_says_the_grace_in_force_when_it_drains(cli: Cli) -> None:
    """``--grace 60`` printed "running runs get scheduler.shutdown_grace": the name of a
    setting it had overridden, not the 60 s given."""
    plain = start(cli, "worker", "--grace", "60")
    api = start(cli, "worker", "--grace", "7", "--api", "--port", "0")
    try:
        assert api.stdout is not None
        seen = read_until(plain, "started")
        assert "serving on" in api.stdout.readline()
        for proc in (plain, api):
            proc.send_signal(signal.SIGTERM)
        _, err = plain.communicate(timeout=60)
        _, api_err = api.communicate(timeout=60)
    finally:
        reap(plain, api)
    assert plain.returncode == 0 and api.returncode == 0, seen + err + api_err
    assert "running runs get 1m00s" in seen + err
    assert "runs get 7.00s" in api_err
    assert "scheduler.shutdown_grace" not in seen + err + api_err


@pytest.mark.parametrize(
    ("task_name", "seconds", "timeout", "said"),
    [
        # Sync code in a thread, which cannot be interrupted: the thread was joined at
        # interpreter exit (an audit: "cancelled after 2.04s", then 40 s to exit).
        # ``slow`` sleeps 20 s between its cancel checks.
        ("slow", "120", "2", "abandoned when this process exits"),
        # Async code catching its cancellation (a chaos audit: ``serve`` stopped by
        # SIGTERM said "stopped", then exited 57 s later, ``asyncio.run`` waiting at exit
        # for every task left on its loop). Abandoned 5 s after the cancel, then left
        # behind within 2 s more.
        ("stubborn", "60", "1", "left running at exit"),
    ],
)
def test_task_code_that_ignores_its_cancel_does_not_hold_the_process(
    cli: Cli, task_name: str, seconds: str, timeout: str, said: str
) -> None:
    """``run --local --timeout``: the run is cancelled when the wait ends, and the
    process exits soon after, whatever the task's code does."""
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.stubborn_tasks"))
    began = time.monotonic()
    done = cli.subprocess(
        "run", task_name, "-p", f"seconds={seconds}", "--local", "--timeout", timeout
    )
    took = time.monotonic() - began
    assert done.returncode == 1, done.stderr
    assert took < 15, (took, done.stderr)
    assert said in done.stderr, done.stderr
    # After that warning, asyncio's own "Task was destroyed but it is pending!" and the
    # task's repr read as a crash to an operator (an audit).
    assert "Task was destroyed" not in done.stderr, done.stderr
    (run,) = runs_of(cli.db, task_name)
    assert run.status is RunStatus.CANCELLED


async def _viewer_secret(db: Path) -> str:
    async with create_store(f"sqlite:///{db}") as store:
        return (await create_token(store, name="console", role="viewer")).secret


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_at_once_with_an_event_stream_open(cli: Cli, signum: int) -> None:
    """Hole (an audit): with a console open, stopping ``schedkit serve`` took 5 s more
    and logged an ERROR traceback: uvicorn waited out its graceful-shutdown timeout for
    the console's event stream, then cancelled it. The stream now ends as the server
    begins to stop, and the client sees the answer end normally."""
    secret = asyncio.run(_viewer_secret(cli.db))
    proc = start(cli, "serve", "--port", "0", "--no-access-log")
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        found = re.search(r"serving on (http://\S+)", banner)
        assert found, banner
        events = found.group(1) + "api/v1/scheduler/events"
        headers = {"Authorization": f"Bearer {secret}"}
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", events, headers=headers) as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "event: ready"
            began = time.monotonic()
            proc.send_signal(signum)
            try:
                for _ in lines:
                    pass
                ended = "cleanly"
            except httpx.TransportError as exc:
                ended = repr(exc)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        reap(proc)
    assert proc.returncode == 0, err
    assert ended == "cleanly", err
    assert took < 3, (took, err)
    assert "Traceback" not in err and "ERROR" not in err, err


#: A port of the range these tests may use (fixed: the Host header names it).
REBIND_PORT = 8421


def test_serve_auth_none_refuses_a_host_header_that_is_not_loopback(cli: Cli) -> None:
    """Audit finding (DNS rebinding): ``serve --auth none`` binds to loopback, but a page
    on attacker.example whose name then resolves to 127.0.0.1 reached it from the
    browser, Host header and all, and ran tasks as admin."""
    proc = start(cli, "serve", "--auth", "none", "--host", "127.0.0.1", "--port", str(REBIND_PORT))
    base = f"http://127.0.0.1:{REBIND_PORT}"
    api = base + "/api/v1/scheduler"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/api/v1/scheduler/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        headers = {"Content-Type": "application/json"}
        for evil in (
            f"rebind.attacker.example:{REBIND_PORT}",
            "attacker.example",
            "127.0.0.1.nip.io",
        ):
            refused = httpx.post(
                api + "/tasks/hello/execute", json={}, headers={**headers, "Host": evil}
            )
            assert refused.status_code == 400, (evil, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "Host" in refused.json()["detail"]
            assert httpx.get(base + "/docs", headers={"Host": evil}).status_code == 400
        assert runs_of(cli.db, "hello") == []
        for good in (
            f"localhost:{REBIND_PORT}",
            f"127.0.0.1:{REBIND_PORT}",
            "localhost",
            f"[::1]:{REBIND_PORT}",
        ):
            made = httpx.post(
                api + "/tasks/hello/execute", json={}, headers={**headers, "Host": good}
            )
            assert made.status_code == 202, (good, made.text)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_serve_closes_connections_slow_to_send_their_headers(cli: Cli) -> None:
    """An attack: connections trickling their request headers stayed open for good;
    1,100 of them (systemd's 1,024 open files) made the server unreachable and flooded
    its log. Headers now come within api.header_timeout, and connections beyond
    api.max_waiting_connections waiting for theirs are closed as they come."""
    env = {
        **subprocess_env(),
        "SCHEDKIT_API__HEADER_TIMEOUT": "1",
        "SCHEDKIT_API__MAX_WAITING_CONNECTIONS": "4",
    }
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "schedkit", "serve", "--port", "0", "--no-access-log"],
        cwd=cli.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # systemd's soft limit is 1,024 (its hard one much higher): serve raises it.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )
    socks: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        found = re.search(r"serving on http://([\d.]+):(\d+)/", proc.stdout.readline())
        assert found
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        (soft,) = re.findall(r"Max open files\s+(\d+)", limits)
        assert int(soft) == min(hard, 65536), limits
        address = (found.group(1), int(found.group(2)))
        for _ in range(6):
            sock = socket.create_connection(address)
            sock.sendall(b"GET /api/v1/scheduler/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(sock)
        assert [_closed_within(s, 0.5) for s in socks[4:]] == [True, True]
        began = time.monotonic()
        assert all(_closed_within(s, 3) for s in socks[:4])
        assert 0.2 < time.monotonic() - began < 2.5
        health = httpx.get(f"http://{address[0]}:{address[1]}/api/v1/scheduler/health", timeout=5)
        assert health.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        for sock in socks:
            sock.close()
        reap(proc)
    assert "connection(s) closed at once: 4 were already waiting" in err, err


def test_a_service_s_text_log_says_which_run_failed(cli: Cli) -> None:
    """An SRE audit: with the default text log format a failing run left no line in the
    node's log (40 failures on the metrics, nothing in the journal): its line carried the
    run's id, and lines made inside runs go to their run's log only."""
    worker = start(cli, "worker")
    try:
        assert worker.stderr is not None
        seen = read_until(worker, "started")
        created = cli("--json", "run", "boom")
        assert created.exit_code == 0, created.output
        run_id = json.loads(created.stdout)["id"]
        deadline = time.monotonic() + 30
        while f"run {run_id} of boom failed" not in seen and time.monotonic() < deadline:
            seen += worker.stderr.readline()
        worker.send_signal(signal.SIGTERM)
        _, rest = worker.communicate(timeout=60)
    finally:
        reap(worker)
    line = next(x for x in (seen + rest).splitlines() if f"run {run_id} of boom failed" in x)
    assert " ERROR schedkit.task.boom [node " in line and "(attempt 1 of 1)" in line, line
