"""SyncScheduler mirrors the async façade with the same signatures."""

from __future__ import annotations

import inspect
import pydoc
from pathlib import Path

import pytest

from schedkit import Scheduler, SyncScheduler, task
from schedkit.registry import TaskRegistry


def _public_coroutines(cls: type) -> set[str]:
    return {
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }


def test_every_public_coroutine_method_has_a_blocking_twin() -> None:
    missing = {
        name
        for name in _public_coroutines(Scheduler) - {"start", "stop"}
        if not hasattr(SyncScheduler, name)
    }
    assert missing == set()


def test_blocking_twins_keep_the_async_signature() -> None:
    for name in _public_coroutines(Scheduler) - {"start", "stop"}:
        twin = getattr(SyncScheduler, name)
        assert inspect.signature(twin) == inspect.signature(getattr(Scheduler, name))
    assert "run_now(self, task_name: 'str'" in pydoc.plain(pydoc.render_doc(SyncScheduler))


def test_the_constructor_takes_the_schedulers_arguments() -> None:
    assert inspect.signature(SyncScheduler) == inspect.signature(Scheduler)
    with pytest.raises(TypeError, match="taskz"):
        SyncScheduler({"store_url": "sqlite://"}, taskz=[])  # type: ignore[call-arg]


def test_a_sync_program_runs_a_task_and_reads_its_history(tmp_path: Path) -> None:
    registry = TaskRegistry()

    @task("add", category="t")
    def add(a: int, b: int) -> dict[str, object]:
        return {"success": True, "data": a + b}

    registry.register_task(add)
    config = {"store_url": f"sqlite:///{tmp_path / 's.db'}", "entry_points": False}
    with SyncScheduler(config, registry=registry) as s:
        run = s.run_now("add", {"a": 2, "b": 3}, wait=True, timeout=10)
        assert (run.status.value, (run.result or {}).get("data")) == ("success", 5)
        assert [r.id for r in s.list_runs("add")] == [run.id]
        assert s.node_id.count(":") == 2
