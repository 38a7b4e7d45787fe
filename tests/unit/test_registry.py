"""Registry: registration rules, filters, discovery and duplicate names."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schedkit import BaseTask, DuplicateTaskError, TaskDefinitionError, TaskRegistry, task


class Plain:
    task_name = "plain"


class Ok(BaseTask):
    task_name = "ok"  # type: ignore[assignment]
    task_description = "ok"  # type: ignore[assignment]
    task_category = "data"  # type: ignore[assignment]
    task_tags = ["backup", "nightly"]  # type: ignore[assignment]  # noqa: RUF012

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True}


class Incomplete(BaseTask):
    @property
    def task_name(self) -> str:
        return "incomplete"


def test_non_basetask_rejected_with_clear_error() -> None:
    reg = TaskRegistry()
    with pytest.raises(TaskDefinitionError, match="Plain must inherit from BaseTask"):
        reg.register_task(Plain)  # type: ignore[arg-type]
    with pytest.raises(TaskDefinitionError, match=r"abstract.*execute"):
        reg.register_task(Incomplete)


def test_config_merged_into_execution_context() -> None:
    reg = TaskRegistry()
    instance = reg.register_task(Ok, {"region": "广东", "batch": 500})
    assert instance.execution_context == {"region": "广东", "batch": 500}
    assert reg.get_task("ok") is instance
    assert reg.get_task("missing") is None


def test_list_filters_by_category_and_any_tag() -> None:
    @task("report_daily", category="report", tags=["nightly", "excel"])
    def report_daily() -> None:
        return None

    reg = TaskRegistry()
    reg.register_task(Ok)
    reg.register_task(report_daily)
    assert [t.task_name for t in reg.list_tasks()] == ["ok", "report_daily"]
    assert [t.task_name for t in reg.list_tasks(category="data")] == ["ok"]
    assert [t.task_name for t in reg.list_tasks(tags=["excel", "none"])] == ["report_daily"]
    assert [t.task_name for t in reg.list_tasks(tags=["nightly"])] == ["ok", "report_daily"]
    assert reg.list_tasks(category="report", tags=["backup"]) == []


def test_discovery_is_recursive_and_skips_abstract_and_reexports() -> None:
    reg = TaskRegistry()
    found = reg.discover(["tests.unit.discover_pkg"])
    assert sorted(t.task_name for t in reg) == [
        "contract_expire_check",
        "customer_status_auto_update",
    ]
    assert len({id(t) for t in found}) == 2
    # Discovering again is harmless.
    reg.discover(["tests.unit.discover_pkg"])
    assert len(reg) == 2


def test_duplicate_names_name_both_locations() -> None:
    reg = TaskRegistry()
    with pytest.raises(DuplicateTaskError) as err:
        reg.discover(["tests.unit.dup_pkg"])
    message = str(err.value)
    assert "same_name" in message
    assert "dup_pkg/a.py" in message and "dup_pkg/b.py" in message


def test_unknown_package_is_a_clear_error() -> None:
    with pytest.raises(TaskDefinitionError, match="no_such_package"):
        TaskRegistry().discover(["no_such_package"])


def test_entry_points_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    import schedkit.registry as registry_module

    eps = [
        EntryPoint("pkg", "tests.unit.discover_pkg", "schedkit.tasks"),
        EntryPoint("one", "tests.unit.test_registry:Ok", "schedkit.tasks"),
    ]
    # importlib.metadata only sees installed distributions; feeding it EntryPoint objects
    # exercises our loading code exactly as an installed plugin would.
    monkeypatch.setattr(
        registry_module, "entry_points", lambda group: [e for e in eps if e.group == group]
    )
    reg = TaskRegistry()
    reg.discover_entry_points()
    assert sorted(t.task_name for t in reg) == [
        "contract_expire_check",
        "customer_status_auto_update",
        "ok",
    ]


def test_discovery_descends_into_folders_without_init() -> None:
    # customer/ and customer/nightly/ have no __init__.py; Python imports them as
    # namespace packages, so their tasks are found like any other.
    reg = TaskRegistry()
    reg.discover(["tests.unit.ns_pkg"])
    assert [t.task_name for t in reg] == ["ns_customer_status", "ns_nightly_close"]
    # A namespace package given as the package to scan is walked the same way.
    reg = TaskRegistry()
    reg.discover(["tests.unit.ns_pkg.customer"])
    assert [t.task_name for t in reg] == ["ns_customer_status", "ns_nightly_close"]


@pytest.fixture
def tmp_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty regular package ``tmp_tasks`` importable from tmp_path, forgotten after."""
    root = tmp_path / "tmp_tasks"
    root.mkdir()
    (root / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [m for m in sys.modules if m == "tmp_tasks" or m.startswith("tmp_tasks.")]:
        del sys.modules[name]


TASK_SOURCE = "from schedkit import task\n\n@task({name!r})\ndef f() -> None:\n    return None\n"


def test_discovery_skips_folders_that_are_not_packages(tmp_package: Path) -> None:
    jobs = tmp_package / "jobs"
    jobs.mkdir()
    (jobs / "nightly.py").write_text(TASK_SOURCE.format(name="nightly"))
    # Never importable by an import statement, or not code: importing them would be wrong.
    for folder in (".hidden", "not-a-name", "__pycache__"):
        (tmp_package / folder).mkdir()
        (tmp_package / folder / "boom.py").write_text("raise RuntimeError('imported')\n")
    (tmp_package / "static").mkdir()
    (tmp_package / "static" / "style.css").write_text("")
    # A symlink back up must not make discovery loop or import a module twice.
    (jobs / "again").symlink_to(jobs, target_is_directory=True)
    reg = TaskRegistry()
    reg.discover(["tmp_tasks"])
    assert [t.task_name for t in reg] == ["nightly"]
    assert "tmp_tasks.static" not in sys.modules  # no module in it: nothing imported


def test_failing_module_in_folder_without_init_is_named(tmp_package: Path) -> None:
    (tmp_package / "jobs").mkdir()
    (tmp_package / "jobs" / "broken.py").write_text("import no_such_dependency\n")
    with pytest.raises(TaskDefinitionError, match=r"'tmp_tasks\.jobs\.broken' failed to import"):
        TaskRegistry().discover(["tmp_tasks"])


@pytest.mark.parametrize(
    ("source", "failure"),
    [
        ('import os\n\nos.environ["DB_URL"]\n', "KeyError: 'DB_URL' (tmp_tasks/broken.py:3)"),
        ("def broken(:\n    pass\n", "SyntaxError: invalid syntax (tmp_tasks/broken.py:1)"),
        ("X = 1 / 0\n", "ZeroDivisionError: division by zero (tmp_tasks/broken.py:1)"),
        ("import no_such_dep\n", "No module named 'no_such_dep' (tmp_tasks/broken.py:1)"),
        # Raised inside schedkit: the line is the user's call, not schedkit's source.
        (
            "from schedkit import RetryPolicy\n\nRetryPolicy(max_retries=-1)\n",
            "ValidationError: retry_config.max_retries: must be >= 0 (tmp_tasks/broken.py:3)",
        ),
    ],
)
def test_a_module_failing_at_import_is_named_with_the_line(
    tmp_package: Path, monkeypatch: pytest.MonkeyPatch, source: str, failure: str
) -> None:
    """An audit: a task module reading a missing variable at import stopped discovery
    with a bare ``KeyError: 'DB_URL'`` (``schedkit check``: "unexpected KeyError"), no
    module named; only an ImportError was a TaskDefinitionError."""
    (tmp_package / "broken.py").write_text(source)
    monkeypatch.chdir(tmp_package.parent)
    with pytest.raises(TaskDefinitionError) as info:
        TaskRegistry().discover(["tmp_tasks"])
    assert str(info.value) == f"task module 'tmp_tasks.broken' failed to import: {failure}"


def test_a_task_declared_wrongly_at_import_keeps_its_own_message(tmp_package: Path) -> None:
    (tmp_package / "broken.py").write_text("from schedkit import task\n\n@task\ndef f(): ...\n")
    with pytest.raises(TaskDefinitionError, match=r"^@task needs parentheses: use @task\('f'\)"):
        TaskRegistry().discover(["tmp_tasks"])


@pytest.mark.parametrize("stop", ["SystemExit(3)", "KeyboardInterrupt()"])
def test_an_import_stopping_the_process_still_stops_it(tmp_package: Path, stop: str) -> None:
    (tmp_package / "broken.py").write_text(f"raise {stop}\n")
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        TaskRegistry().discover(["tmp_tasks"])


@task("up")
def up() -> None: ...


def test_depends_on_must_name_a_registered_task_with_close_matches() -> None:
    @task("down_typo", depends_on=["upp"])
    def down_typo() -> None: ...

    reg = TaskRegistry()
    reg.register_task(up)
    reg.register_task(down_typo)
    with pytest.raises(TaskDefinitionError) as info:
        reg.check_dependencies()
    assert str(info.value).startswith(
        "task 'down_typo': depends_on: unknown task 'upp'; did you mean 'up'?"
    )


def test_a_dependent_task_must_accept_the_run_its_upstream_starts() -> None:
    @task("down_needs", depends_on=["up"])
    def down_needs(n: int) -> None: ...

    @task("down_defaults", depends_on=["up"])
    def down_defaults(n: int = 1) -> None: ...

    reg = TaskRegistry()
    for t in (up, down_defaults):
        reg.register_task(t)
    reg.check_dependencies()
    reg.register_task(down_needs)
    with pytest.raises(TaskDefinitionError) as info:
        reg.check_dependencies()
    assert str(info.value) == (
        "task 'down_needs': depends_on: a successful run of 'up' starts it without kwargs, "
        "which it does not accept (kwargs.n: Field required); give its parameters defaults"
    )


UNFINISHED_SOURCE = """\
from typing import Any

from schedkit import BaseTask


class Sync(BaseTask):
    @property
    def task_name(self) -> str:
        return "sync"

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True}
"""

BASES_SOURCE = """\
import abc
from typing import Any

from schedkit import BaseTask


class Shared(BaseTask):
    "The work its subclasses share; they name themselves."

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "message": self.detail()}

    def detail(self) -> str:
        return "shared"


class Named(BaseTask):
    "Names its subclasses after their kind; they do the work."

    kind = ""

    @property
    def task_name(self) -> str:
        return f"report_{self.kind}"


class Report(Named, Shared):
    "Has a name and the work, and leaves its own abstract member to its subclasses."

    @property
    def task_category(self) -> str:
        return "report"

    @abc.abstractmethod
    def period(self) -> str: ...


class Daily(Report):
    kind = "daily"
    task_description = "daily"

    def period(self) -> str:
        return "day"
"""


def test_discovery_refuses_a_task_class_missing_members(tmp_package: Path) -> None:
    """A class with a name and the work, but no description or category: abstract, so
    discovery used to skip it silently and the task was just not there."""
    (tmp_package / "sync.py").write_text(UNFINISHED_SOURCE)
    with pytest.raises(TaskDefinitionError) as err:
        TaskRegistry().discover(["tmp_tasks"])
    assert str(err.value) == (
        "task class tmp_tasks.sync.Sync defines task_name and execute but not "
        "task_category, task_description: it cannot be registered"
    )


def test_discovery_still_skips_abstract_base_classes(tmp_package: Path) -> None:
    (tmp_package / "bases.py").write_text(BASES_SOURCE)
    reg = TaskRegistry()
    reg.discover(["tmp_tasks"])
    assert [t.task_name for t in reg] == ["report_daily"]
