"""Finding 1, measured: ``schedkit serve`` (a real subprocess) under four parallel
unauthenticated 100 MB POSTs keeps its memory within 50 MB of idle."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BODY = 100 * 1024 * 1024
CHUNK = 1024 * 1024
ALLOWED_GROWTH = 50 * 1024 * 1024
PATH = "/api/v1/scheduler/tasks/anything/execute"


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    env = {
        **os.environ,
        "SCHEDKIT_STORE_URL": f"sqlite:///{tmp_path / 'schedkit.db'}",
        "SCHEDKIT_ENTRY_POINTS": "false",
    }
    env.pop("SCHEDKIT_CONFIG", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "schedkit", "serve", "--port", "0", "--no-access-log"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and proc.poll() is None and time.monotonic() < deadline:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
            port = int(found.group(1)) if found else None
            time.sleep(0.1)
        assert port is not None, f"schedkit serve did not start: {log.read_text()}"
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(30)


def _post(port: int, chunked: bool, answers: list[str]) -> None:
    """One unauthenticated 100 MB POST; records the status line (or how it ended)."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}"
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    )
    chunk = b"7" * CHUNK
    piece = f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head.encode())
            for _ in range(BODY // CHUNK):
                sock.sendall(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed without reading the rest
        try:
            answers.append(sock.recv(200).decode("latin-1").split("\r\n")[0])
        except OSError as exc:
            answers.append(f"no answer: {exc}")


def test_four_unauthenticated_100mb_posts_stay_within_50mb_of_idle(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = served
    time.sleep(1.0)  # settled after start
    idle = _rss(proc.pid)
    answers: list[str] = []
    posts = [threading.Thread(target=_post, args=(port, i % 2 == 1, answers)) for i in range(4)]
    for post in posts:
        post.start()
    peak = idle
    while any(p.is_alive() for p in posts):
        peak = max(peak, _rss(proc.pid))
        time.sleep(0.02)
    for post in posts:
        post.join()
    time.sleep(0.5)
    peak = max(peak, _rss(proc.pid))
    growth = peak - idle
    print(f"idle RSS {idle / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB (+{growth / 2**20:.1f})")
    assert growth < ALLOWED_GROWTH
    assert sorted(answers) == sorted(
        ["HTTP/1.1 413 Request Entity Too Large"] * 2 + ["HTTP/1.1 401 Unauthorized"] * 2
    ), answers
