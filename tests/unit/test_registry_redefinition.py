"""A task defined again where it was defined (a notebook cell run again,
``importlib.reload``) replaces its registration; two definition sites sharing a name
still raise DuplicateTaskError (audit: re-running a cell raised "task name 'nb_task' is
defined twice: __main__.nb_task and __main__.nb_task")."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schedkit import DuplicateTaskError, TaskRegistry
from schedkit.task import FunctionTask

CELL = """
from typing import Any
from schedkit import BaseTask, task

@task("nb_task")
def nb_task(n: int = 1) -> int:
    return n * VERSION

class NbClass(BaseTask):
    task_name = "nb_class"
    task_description = "a class task"
    task_category = "nb"

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"version": VERSION}
"""


def _run_cell(version: int) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__", "VERSION": version}
    exec(compile(CELL, f"<ipython-input-{version}>", "exec"), namespace)
    return namespace


def test_a_cell_run_again_replaces_its_tasks(caplog: pytest.LogCaptureFixture) -> None:
    reg = TaskRegistry()
    first, second = _run_cell(1), _run_cell(2)
    reg.register_task(first["nb_task"])
    reg.register_task(first["NbClass"])
    with caplog.at_level(logging.DEBUG, logger="schedkit.registry"):
        assert reg.register_task(second["nb_task"]) is second["nb_task"]
        replaced = reg.register_task(second["NbClass"])
    assert reg.require("nb_task") is second["nb_task"]
    assert type(replaced) is second["NbClass"] and reg.require("nb_class") is replaced
    assert len(reg) == 2
    logged = [r.getMessage() for r in caplog.records]
    assert any("'nb_task' redefined" in m for m in logged)
    assert any("'nb_class' redefined" in m for m in logged)


@pytest.fixture
def reloadable(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "reloaded_tasks.py"
    path.write_text(
        "from schedkit import task\n\n@task('reloaded')\ndef reloaded() -> int:\n    return 1\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("reloaded_tasks", None)


def test_importlib_reload_replaces_the_task(reloadable: Path) -> None:
    reg = TaskRegistry()
    module = importlib.import_module("reloaded_tasks")
    reg.register_task(module.reloaded)
    reloadable.write_text(reloadable.read_text().replace("return 1", "return 2"))
    importlib.invalidate_caches()
    module = importlib.reload(module)
    reg.register_task(module.reloaded)
    task = reg.require("reloaded")
    assert isinstance(task, FunctionTask) and task() == 2


def test_two_definitions_in_one_module_under_one_name_still_conflict() -> None:
    reg = TaskRegistry()
    source = (
        "from schedkit import task\n"
        "@task('shared')\ndef first() -> None: ...\n"
        "@task('shared')\ndef second() -> None: ...\n"
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, "<cell>", "exec"), namespace)
    reg.register_task(namespace["first"])
    with pytest.raises(DuplicateTaskError, match="defined twice"):
        reg.register_task(namespace["second"])


def test_one_module_imported_under_two_names_still_conflicts() -> None:
    reg = TaskRegistry()
    a, b = _run_cell(1), _run_cell(1)
    b_task = b["NbClass"]
    b_task.__module__ = "notebook_copy"  # the module run as __main__ and imported as itself
    reg.register_task(a["NbClass"])
    with pytest.raises(DuplicateTaskError, match="defined twice"):
        reg.register_task(b_task)
