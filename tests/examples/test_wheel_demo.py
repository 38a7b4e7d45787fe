"""The demo outside a source checkout: the wheel built from this tree ships the
power-trading example (package ``schedkit_examples``) and the ``demo`` extra, and, installed
into a fresh virtual environment, ``schedkit demo`` serves it from any directory.

Kept lean: the wheel is built once (pip's cache holds the build backend); the fresh venv
has no pip of its own and gets the wheel alone (``--no-deps --no-index``), its
dependencies coming from this test environment's site-packages through a ``.pth`` line
(which adds the directory but not the editable install's own ``.pth`` files, so
``schedkit`` resolves to the wheel's copy)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
API = "/api/v1/scheduler"

pytestmark = pytest.mark.slow


def build_wheel(out: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("schedkit-*.whl")
    return wheel


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv with the wheel installed and this environment's packages as its deps."""
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    here = sysconfig.get_paths()["purelib"]
    (Path(target) / "_test_dependencies.pth").write_text(here + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", "--ignore-installed", "--find-links", str(wheel.parent),
         str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.mark.timeout(600)
def test_the_wheel_ships_the_example_and_the_demo_runs_anywhere(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = archive.read(metadata).decode()
    assert "schedkit_examples/powertrade/schedkit.toml" in names
    assert "schedkit_examples/powertrade/tasks/report/daily_report.py" in names
    assert "schedkit/console/static/index.html" in names
    assert "Provides-Extra: demo" in meta

    root = fresh_venv(tmp_path / "venv", wheel)
    elsewhere = tmp_path / "elsewhere"  # not a checkout: no examples/ next to it
    elsewhere.mkdir()
    skip = ("SCHEDKIT_", "PYTHON", "COVERAGE_")  # a user's shell: nothing of this run's
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", SCHEDKIT_SCHEDULER__SHUTDOWN_GRACE="5")
    probe = "import schedkit, schedkit_examples as e; print(schedkit.__file__, e.__file__)"
    where = subprocess.run(
        [str(root / "bin" / "python"), "-c", probe],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(REPO) not in where and str(root) in where, where

    proc = subprocess.Popen(
        [str(root / "bin" / "schedkit"), "demo", "--port", "0", "--var-dir", "var"],
        cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        found = None
        while found is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"admin token\s+(skt_\S+)", "".join(lines))
        assert found is not None, "".join(lines)
        url = re.search(r"console\s+(http://\S+/)", "".join(lines))
        assert url is not None
        with httpx.Client(base_url=url.group(1), timeout=30) as client:
            tasks = client.get(
                f"{API}/tasks", headers={"Authorization": f"Bearer {found.group(1)}"}
            )
            assert tasks.status_code == 200, tasks.text
            assert len(tasks.json()) == 11  # ten tasks and the workflow's launcher
            page = client.get("/tasks")
            assert page.status_code == 200 and "schedkit" in page.text
            assert client.get("/assets/app.js").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
        lines.append(rest or "")
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "sample data generated" in output
    assert "examples/ directory" not in output
    assert (elsewhere / "var" / "demo.db").is_file()
