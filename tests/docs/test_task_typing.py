"""docs/tasks.md's python examples type-check as written, under mypy's default settings and
under ``--strict``: readers copy them into projects that run mypy. A probe beside them
pins what a type checker sees of a task: an ``@task`` function keeps its own signature
(``FunctionTask[P, R]``), and a ``BaseTask`` may name its ``execute`` parameters, sync or
async, and its hooks be ``async def``, without ``# type: ignore[override]``.

One mypy run, ``--strict`` (every check of the defaults and more: what passes it passes
them), over a directory holding the examples (the blocks of the page in one module, in
order, as ``test_snippets`` runs them) and the probe.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.snippets import REPO, blocks
from tests.untraced import untraced_env

PROBE = """\
from typing import Any

from schedkit import BaseTask, task


@task("sync_one")
def sync_one(n: int) -> int:
    return n


reveal_type(sync_one)  # REVEAL-TASK
reveal_type(sync_one(1))  # REVEAL-RESULT
sync_one("a")  # WRONG-CALL


class SyncNamed(BaseTask):
    task_name = "sync_named"
    task_description = "a sync execute naming its parameters"
    task_category = "probe"

    def execute(self, region: str = "广东", *, limit: int = 10) -> None:
        return None


class AsyncOpen(BaseTask):
    task_name = "async_open"
    task_description = "the design document's execute"
    task_category = "probe"

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "data": kwargs}

    # tasks.md: "Hooks may be async def" (mypy called each an incompatible override).
    async def validate_execution_environment(self) -> bool:
        return True

    async def before_execution(self) -> None:
        return None

    async def after_execution(self, result: dict[str, Any]) -> None:
        return None

    async def on_failure(self, error: Exception) -> None:
        return None
"""


def _line(marker: str) -> int:
    return next(n for n, text in enumerate(PROBE.splitlines(), 1) if text.endswith(marker))


EXPECTED = [
    f"probe.py:{_line('REVEAL-TASK')}: note: Revealed type is "
    '"schedkit.task.FunctionTask[[n: int], int]"',
    f'probe.py:{_line("REVEAL-RESULT")}: note: Revealed type is "int"',
    f'probe.py:{_line("WRONG-CALL")}: error: Argument 1 to "__call__" of "FunctionTask" '
    'has incompatible type "str"; expected "int"  [arg-type]',
]


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module's mypy runs: the second reuses the analysis of schedkit,
    pydantic and the standard library (cold, each run took 19 s of a loaded CI core)."""
    return tmp_path_factory.mktemp("mypy-cache")


def _strict_mypy(folder: Path, cache: Path, *files: str) -> list[str]:
    """mypy ``--strict`` over ``files`` of ``folder``: its lines, but notes that only
    continue an error (a signature shown after it), which are part of it."""
    # An empty configuration: mypy's defaults, not this repository's (or a user's) file.
    (folder / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--no-pretty",
            "--show-error-codes",
            "--strict",
            *files,
        ],
        cwd=folder,
        # This checkout's schedkit, whatever the environment has installed; mypy only reads
        # schedkit's code, so coverage does not trace the child.
        env={**untraced_env(), "MYPYPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stderr == ""
    return [line for line in proc.stdout.splitlines() if not re.match(r"^\S+:\d+: note:  ", line)]


def _examples(page: str) -> list[str]:
    """The python blocks of ``docs/<page>``, in order (one module, as test_snippets runs
    them)."""
    return [b.code for b in blocks(REPO / "docs" / page) if b.lang == "python"]


def test_task_examples_type_check(tmp_path: Path, mypy_cache: Path) -> None:
    examples = _examples("tasks.md")
    assert len(examples) >= 4
    (tmp_path / "tasks_doc.py").write_text("\n\n".join(examples), encoding="utf-8")
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    lines = _strict_mypy(tmp_path, mypy_cache, "tasks_doc.py", "probe.py")
    assert [line for line in lines if not line.startswith("probe.py:")] == [], lines
    assert [line for line in lines if line.startswith("probe.py:")] == EXPECTED, lines


def test_workflow_examples_type_check(tmp_path: Path, mypy_cache: Path) -> None:
    """docs/workflows.md's example (audit: ``Step(on="failure")`` and
    ``ctx.workflow["params"]``, an Optional, failed ``--strict``)."""
    examples = _examples("workflows.md")
    assert examples
    (tmp_path / "workflows_doc.py").write_text("\n\n".join(examples), encoding="utf-8")
    assert _strict_mypy(tmp_path, mypy_cache, "workflows_doc.py") == []
