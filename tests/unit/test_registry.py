"""Registry: registration rules, filters, discovery and duplicate names."""

from __future__ import annotations

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
