"""The README's two commands from the Makefile's side: `make demo` takes PORT and HOST,
and `make install` shows pip's progress instead of a silent minute (`make -n` prints the
commands without running them)."""

from __future__ import annotations

import subprocess

from tests.docs.snippets import REPO


def dry_run(*args: str) -> str:
    proc = subprocess.run(
        ["make", "-n", "-B", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_demo_takes_port_and_host() -> None:
    assert ".venv/bin/schedkit demo --host 127.0.0.1 --port 8000" in dry_run("demo")
    chosen = dry_run("demo", "PORT=8123", "HOST=0.0.0.0")
    assert ".venv/bin/schedkit demo --host 0.0.0.0 --port 8123" in chosen


def test_make_install_shows_progress() -> None:
    commands = dry_run("install")
    install = next(line for line in commands.splitlines() if "-e '.[test]'" in line)
    assert "--quiet" not in install and "--progress-bar on" in install
    assert "a minute or two" in commands  # says what is coming before it starts


def test_demo_and_test_start_from_compiled_sources() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set (CI here), an editable install's sources were
    compiled again by every process: 0.3-0.5 s per `schedkit` command."""
    for target in ("demo", "test"):
        assert "-m compileall -q src examples" in dry_run(target), target


def test_the_chinese_quick_start_says_how_tasks_are_found() -> None:
    """It once claimed tasks under a tasks/ package are found by themselves: they are
    found through the configured task_packages."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## 快速开始（中文）") :]
    assert "task_packages" in quick_start
    assert "放在 `tasks/` 包下由调度器自动发现" not in quick_start
