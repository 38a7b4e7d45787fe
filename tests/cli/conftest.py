"""CLI fixtures: a temp working directory with a ``schedkit.toml`` on a temp SQLite store
and the tiny task package ``tests.cli.sample_tasks``; helpers to run the CLI in-process
(typer's ``CliRunner``) and as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
import typer.testing
from typer.testing import CliRunner, Result

from schedkit import SchedkitConfig, SyncScheduler, TaskRegistry
from schedkit.cli import app
from schedkit.cli.state import with_roles

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PACKAGE = "tests.cli.sample_tasks"

CONFIG = """\
timezone = "Asia/Shanghai"
store_url = "sqlite:///{db}"
task_packages = [{packages}]
entry_points = false

[executor]
poll_interval = 0.05
max_workers = 4

[scheduler]
heartbeat_interval = 0.2
lease_ttl = 2.0
refresh_interval = 0.2
lost_after = 2.0
shutdown_grace = 2.0
"""


def write_config(path: Path, db: Path, packages: tuple[str, ...] = (SAMPLE_PACKAGE,)) -> Path:
    listed = ", ".join(f'"{p}"' for p in packages)
    path.write_text(CONFIG.format(db=db, packages=listed), encoding="utf-8")
    return path


@dataclass
class Cli:
    """Runs ``schedkit`` in a temp working directory holding ``schedkit.toml``."""

    cwd: Path
    db: Path
    config: Path

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    def subprocess(
        self, *args: str, module: str = "schedkit", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=self.cwd,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: no SCHEDKIT_* from the developer's shell,
    the repository importable (for ``tests.cli.sample_tasks``), unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


_COMMANDS: dict[int, object] = {}


def _cached_command(typer_app: typer.Typer) -> object:
    key = id(typer_app)
    if key not in _COMMANDS:
        _COMMANDS[key] = typer.main.get_command(typer_app)
    return _COMMANDS[key]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in list(os.environ):
        if name.startswith("SCHEDKIT_") or name in ("FORCE_COLOR", "TTY_INTERACTIVE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    # The CLI puts the working directory on sys.path (like `python -m`); undo it after.
    monkeypatch.setattr(sys, "path", list(sys.path))
    # typer rebuilds the click command tree on every invoke (a fifth of a second of
    # signature introspection); build it once, the tree is the same every time.
    monkeypatch.setattr(typer.testing, "_get_command", _cached_command, raising=False)
    db = tmp_path / "schedkit.db"
    config = write_config(tmp_path / "schedkit.toml", db)
    return Cli(cwd=tmp_path, db=db, config=config)


@pytest.fixture
def stored(cli: Cli) -> Cli:
    """``cli`` whose store exists already (read commands never create one)."""
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    return cli


def _node(cli: Cli, *, executes: bool) -> Iterator[SyncScheduler]:
    config = SchedkitConfig.load(cli.config)
    if not executes:
        config = with_roles(config, scheduler=False, executor=False)
    node = SyncScheduler(config, registry=TaskRegistry())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def service(cli: Cli) -> Iterator[SyncScheduler]:
    """A schedkit node (scheduler + executor) on the CLI's store, in a background loop."""
    yield from _node(cli, executes=True)


@pytest.fixture
def manager(cli: Cli) -> Iterator[SyncScheduler]:
    """A façade on the CLI's store that executes nothing: its runs stay pending."""
    yield from _node(cli, executes=False)


def one_error_line(text: str) -> str:
    """The single ``error:`` line of ``text`` (fails unless there is exactly one)."""
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    assert "Traceback" not in text, text
    return lines[0]


Invoke = Callable[..., Result]
