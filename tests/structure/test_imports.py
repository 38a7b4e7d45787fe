"""The package's import structure: no cycles, and every public module imports alone.

A module that only imports after another one was imported first is a crash for users
(issue #11: ``from schedkit.integrations.fastapi import scheduler_lifespan`` failed in a
fresh interpreter because of the cycle integrations.fastapi -> api -> api.app ->
integrations.fastapi, while the test suite, which imported other modules first, passed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.structure.imports import cycles, import_graph, module_files
from tests.untraced import untraced_env


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles (each list imports itself through the others):\n" + (
        "\n".join(" -> ".join(c) for c in found)
    )


def _public_modules() -> list[str]:
    return [name for name in module_files() if not any(p.startswith("_") for p in name.split("."))]


HELPER = Path(__file__).with_name("import_alone.py")


@pytest.mark.timeout(300)
def test_every_public_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = _public_modules()
    assert "schedkit.integrations.fastapi" in modules
    # -I: isolated mode (no user site, no PYTHON* variables, no cwd on sys.path), so only
    # the installed package is seen, as in a user's fresh interpreter.
    proc = subprocess.run(
        [sys.executable, "-I", str(HELPER), *modules],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        env=untraced_env(),
    )
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr


def test_the_documented_embedding_import_works_in_a_fresh_interpreter() -> None:
    code = "from schedkit.integrations.fastapi import scheduler_lifespan"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def test_the_holidays_package_loads_only_when_a_calendar_asks_it() -> None:
    """Importing ``holidays``' CN model imports every country it models (≈ 80 ms, a
    quarter of ``import schedkit``): the CLI, a worker or an app that embeds schedkit
    must not pay it at start, only a calendar that asks for a Chinese day."""
    code = (
        "import sys, datetime\n"
        "import schedkit, schedkit.cli.app, schedkit.calendars\n"
        "print('holidays' in sys.modules)\n"
        "from schedkit.calendars import sources\n"
        "day = sources.holidays_day(datetime.date(2026, 10, 1))\n"
        "print('holidays' in sys.modules, day.holiday, day.confirmed)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout.split("\n")) == (0, ["False", "True True True", ""]), (
        proc.stderr
    )
