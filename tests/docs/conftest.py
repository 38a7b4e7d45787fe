"""A fresh clone with the demo running in it, for the doc tests and the walk-through.

``fresh_clone`` copies the repository's tracked files (what ``git clone`` gives: no
``var/``, no database, no build output) into a temporary directory; its ``.venv`` is a
link to this checkout's (``make install`` would build the same one). ``demo`` runs
``.venv/bin/schedkit demo`` there, the command ``make demo`` runs, on a free port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.docs.snippets import REPO

VENV = Path(sys.executable).parent.parent


#: Not passed on to the reader's shell: the developer's settings, and coverage's, which
#: would measure (and slow down) every command the docs run; tests/cli measures them.
_NOT_INHERITED = ("SCHEDKIT_", "POWERTRADE_", "PYTHON", "COVERAGE_")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment as a reader's fresh shell has it (see :data:`_NOT_INHERITED`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_NOT_INHERITED) and k != "VIRTUAL_ENV"
    }
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", **extra)
    return env


def copy_tracked_files(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if not source.is_file():  # deleted in the work tree, not yet committed
            continue
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    (target / ".venv").symlink_to(VENV, target_is_directory=True)
    return target


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone per test module (the doc tests' snippets write into theirs)."""
    return copy_tracked_files(tmp_path_factory.mktemp("clone") / "schedkit")


@dataclass
class Demo:
    """``schedkit demo`` running in a directory; what it printed."""

    cwd: Path
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text, re.MULTILINE)
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"the demo exited {self.proc.returncode}:\n{self.text}")
            time.sleep(0.1)
        raise AssertionError(f"the demo printed no {pattern!r}:\n{self.text}")

    @property
    def url(self) -> str:
        return self.wait_for(r"console\s+(http://\S+/)")

    @property
    def token(self) -> str:
        return self.wait_for(r"admin token\s+(skt_\S+)")

    @property
    def use_line(self) -> str:
        return self.wait_for(r"^\s+export (SCHEDKIT_CONFIG=.*)$")

    def cli_env(self) -> dict[str, str]:
        """The environment after the printed ``export`` line, with .venv/bin on PATH."""
        env = clean_env(PATH=f"{self.cwd / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
        for pair in self.use_line.split():
            name, _, value = pair.partition("=")
            env[name] = value
        return env

    def stop(self) -> int:
        """Ctrl-C, as in a terminal: to the whole process group (``make`` and its child)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_demo(cwd: Path, *command: str, env: dict[str, str] | None = None) -> Demo:
    proc = subprocess.Popen(
        list(command) or [str(cwd / ".venv" / "bin" / "schedkit"), "demo", "--port", "0"],
        cwd=cwd,
        env=env or clean_env(SCHEDKIT_SCHEDULER__SHUTDOWN_GRACE="5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return Demo(cwd=cwd, proc=proc)


@pytest.fixture(scope="module")
def demo(fresh_clone: Path) -> Iterator[Demo]:
    running = start_demo(fresh_clone)
    try:
        running.wait_for(r"(Press Ctrl-C to stop\.)")
        yield running
    finally:
        running.stop()
