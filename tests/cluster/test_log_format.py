"""``--log-format json`` (``SCHEDKIT_LOG_FORMAT``): a service's stderr as one JSON
object per line, run lines included with their run id, every line with its node's id,
for a log pipeline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from .conftest import CONFIG, Worker, management
from .test_workers import settle


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_worker_logs_json_lines_with_each_run_line_s_run_id(
    cluster_config_path: Path, workers: list[Worker]
) -> None:
    """Hole (an audit): structured logs could not be turned on for ``schedkit serve`` or
    ``worker``: the CLI always installed its text formatter."""
    worker = Worker(cluster_config_path, SCHEDKIT_LOG_FORMAT="json")
    workers.append(worker)
    await asyncio.to_thread(worker.ready)
    async with management(cluster_config_path) as s:
        run = await s.run_now("chatty")
        await settle(s, [run.id])
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    started = [r for r in records if r["logger"] == "schedkit.service"]
    assert started and started[0]["level"] == "INFO" and "started" in started[0]["message"]
    [said] = [r for r in records if r["message"] == "settled 3 accounts"]
    assert (said["run_id"], said["task_name"], said["attempt"]) == (run.id, "chatty", 1)
    # An audit: no line said which node logged it, which a cluster's collected logs need.
    # Every one does, the node's own lines (store, monitor, drain, stop) and run lines.
    assert {r.get("node_id") for r in records} == {worker.node_id}, records
    assert {r["logger"] for r in records} >= {"schedkit.service", "schedkit.service.node"}
    # Nothing else is written as text among them but the CLI's own sentences.
    texts = [line for line in err.splitlines() if line and not line.startswith("{")]
    assert all(line.startswith(("schedkit worker", "draining", "drained")) for line in texts), texts


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_text_log_line_about_a_run_names_its_node(
    store_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    """The text log's line on a failed attempt names the node that ran it."""
    config = tmp_path / "text.toml"
    config.write_text(CONFIG.format(url=store_url, tasks="tests.cli.sample_tasks"))
    worker = Worker(config)
    workers.append(worker)
    node = await asyncio.to_thread(worker.ready)
    async with management(config) as s:
        run = await s.run_now("boom")
        await settle(s, [run.id])
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err
    [failed] = [line for line in err.splitlines() if f"run {run.id} of boom failed" in line]
    assert f" ERROR schedkit.task.boom [node {node}]: run {run.id} of boom failed" in failed
