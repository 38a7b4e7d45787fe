"""The package's import structure: no cycles, and every public module imports alone.

A module that only imports after another one was imported first is a crash for users
(issue #11: ``from schedkit.integrations.fastapi import scheduler_lifespan`` failed in a
fresh interpreter because of the cycle integrations.fastapi -> api -> api.app ->
integrations.fastapi, while the test suite, which imported other modules first, passed).
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.structure.imports import cycles, import_graph, module_files


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles (each list imports itself through the others):\n" + (
        "\n".join(" -> ".join(c) for c in found)
    )


def _public_modules() -> list[str]:
    return [name for name in module_files() if not any(p.startswith("_") for p in name.split("."))]


def _import_alone(module: str) -> tuple[str, str | None]:
    # -I: isolated mode (no user site, no PYTHON* variables, no cwd on sys.path), so only
    # the installed package is seen, as in a user's fresh interpreter.
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return module, None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_every_public_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = _public_modules()
    assert "schedkit.integrations.fastapi" in modules
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = {m: err for m, err in pool.map(_import_alone, modules) if err is not None}
    assert failures == {}


def test_the_documented_embedding_import_works_in_a_fresh_interpreter() -> None:
    _, error = _import_alone("schedkit.integrations.fastapi")
    code = "from schedkit.integrations.fastapi import scheduler_lifespan"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )
    assert (error, proc.returncode, proc.stderr) == (None, 0, "")
