"""A node whose event loop a task holds is not a dead node: its runs are not judged lost
and run again elsewhere while the first body is still going (a real worker process and
a reaping node on each store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schedkit import RunStatus, SchedkitConfig, Scheduler, TaskRegistry

from .conftest import Worker
from .test_workers import settle


def reaping_node(config: Path) -> Scheduler:
    """A node that holds the scheduler lease (and so judges silent runs) and executes
    nothing."""
    cfg = SchedkitConfig.load(config)
    cfg = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"enabled": False})})
    return Scheduler(cfg, registry=TaskRegistry())


async def test_a_task_holding_its_event_loop_is_not_judged_lost(
    cluster_config_path: Path, workers: list[Worker], tmp_path: Path
) -> None:
    """Hole (an audit, two nodes on one store): an async task sleeping synchronously
    for longer than ``lost_after`` made its node look dead. The other node's reaper
    judged the run lost and retried it, its body ran a second time, and the first
    node's outcome ("success") was dropped. Here lost_after is 3 s and the body holds
    the loop 6 s."""
    worker = Worker(cluster_config_path)
    workers.append(worker)
    await asyncio.to_thread(worker.ready)
    marks = tmp_path / "bodies"
    async with reaping_node(cluster_config_path) as s:
        run = await s.run_now("blocking", {"seconds": 6, "marks": str(marks)})
        [done] = await settle(s, [run.id])
    assert (done.status, done.attempt, done.attempt_errors) == (RunStatus.SUCCESS, 1, [])
    assert marks.read_text(encoding="utf-8").count("start") == 1
    worker.terminate()
    code, held = await asyncio.to_thread(worker.wait)
    assert code == 0, held
    # The held node said what held it, and when it ran again.
    assert "has not run for" in held and f"blocking (run {run.id})" in held, held
    assert "make it a def" in held and "runs again after" in held, held
