"""Private database servers for tests that stop and restart them: a PostgreSQL cluster
or a FerretDB process of their own on a free port, so that stopping one disturbs no
other test (tests/faults, tests/chaos)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, up: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'}")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster run by the postgres OS user."""

    def __init__(self) -> None:
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bindirs:
            pytest.skip("PostgreSQL server binaries not installed")
        self.bin = Path(bindirs[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="schedkit-pg-", dir="/var/tmp"))
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = _free_port()
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "schedkit",
            "--no-sync",
        )
        self.url = f"postgresql://schedkit@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *cmd: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )

    def crash(self) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
        )

    def cleanup(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateFerretDB:
    """A FerretDB process of its own (SQLite handler), killed with SIGKILL to crash."""

    def __init__(self) -> None:
        found = shutil.which("ferretdb") or next(
            (
                p
                for p in glob.glob(os.path.expanduser("~/go/bin/ferretdb"))
                if os.access(p, os.X_OK)
            ),
            None,
        )
        if found is None:
            pytest.skip("ferretdb binary not found (scripts/services.sh builds it)")
        self.bin = found
        self.dir = Path(tempfile.mkdtemp(prefix="schedkit-ferret-"))
        (self.dir / "data").mkdir()
        self.port = _free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/outage"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.bin,
                "--handler=sqlite",
                f"--sqlite-url=file:{self.dir}/data/",
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={self.dir}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, up=True)

    def crash(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        _wait_port(self.port, up=False)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
