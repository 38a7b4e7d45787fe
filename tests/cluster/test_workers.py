"""Worker nodes as real processes on a shared store: label routing, drain on SIGTERM and
on request, the node list."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from schedkit import RunStatus, Scheduler
from schedkit.errors import NodeNotFoundError
from schedkit.models import Run
from tests.cli.conftest import subprocess_env

from .conftest import Worker, management

pytestmark = pytest.mark.parametrize(
    "store_url",
    [
        pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
        pytest.param("mongo", id="mongo", marks=pytest.mark.external_service),
    ],
    indirect=True,
)


async def settle(s: Scheduler, ids: list[str], timeout: float = 60) -> list[Run]:
    """The runs once every one is finished (deadline: AssertionError with their state)."""
    deadline = time.monotonic() + timeout
    while True:
        # One query: a get_run per run, every 0.1 s, loaded FerretDB during the drain.
        runs = await s.store.get_runs(ids)
        finished = len(runs) == len(ids) and all(r.status.finished for r in runs)
        if finished or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.1)


async def poll(check, timeout: float = 30, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_runs_go_only_to_nodes_offering_their_labels(
    cluster_config_path: Path, workers: list[Worker]
) -> None:
    gpu = Worker(cluster_config_path, "--label", "gpu")
    reports = Worker(cluster_config_path, "-l", "reports,extra", "--capacity", "3")
    workers.extend([gpu, reports])
    await asyncio.to_thread(gpu.ready)
    await asyncio.to_thread(reports.ready)
    async with management(cluster_config_path) as s:
        created = {
            name: [(await s.run_now(name)).id for _ in range(6)]
            for name in ("gpu_job", "report_job", "plain")
        }
        stuck = await s.run_now("intranet_job")
        done = await settle(s, [i for ids in created.values() for i in ids])
        by_id = {r.id: r for r in done}
        assert {r.status for r in done} == {RunStatus.SUCCESS}, done
        assert {by_id[i].node_id for i in created["gpu_job"]} == {gpu.node_id}
        assert {by_id[i].node_id for i in created["report_job"]} == {reports.node_id}
        assert {by_id[i].node_id for i in created["plain"]} <= {gpu.node_id, reports.node_id}
        assert by_id[created["gpu_job"][0]].labels == ("gpu",)

        # The intranet run waits, and says why.
        waiting = await s.get_run(stuck.id)
        assert waiting.status is RunStatus.PENDING
        reasons = await s.waiting_reasons([waiting])
        assert "intranet" in reasons[stuck.id]
        assert await s.waiting_reasons(done) == {}

        listed = {n.id: n for n in await s.list_nodes()}
        assert listed[reports.node_id].info["labels"] == ["extra", "reports"]
        assert listed[reports.node_id].info["capacity"] == 3
    for w in (gpu, reports):
        w.terminate()
        code, err = await asyncio.to_thread(w.wait)
        assert code == 0, err


async def test_sigterm_drains_finishes_running_runs_and_hands_back_the_rest(
    cluster_config_path: Path, workers: list[Worker]
) -> None:
    first = Worker(cluster_config_path, "--capacity", "4", "--grace", "1.5")
    workers.append(first)
    await asyncio.to_thread(first.ready)
    async with management(cluster_config_path) as s:
        short = [(await s.run_now("sleeper", {"seconds": 0.5})).id for _ in range(2)]
        long = [(await s.run_now("sleeper", {"seconds": 60})).id for _ in range(2)]
        extra = [(await s.run_now("sleeper", {"seconds": 0.1})).id for _ in range(2)]

        async def four_running() -> bool:
            runs = [await s.get_run(i) for i in short + long]
            return all(r.status is RunStatus.RUNNING for r in runs)

        await poll(four_running, what="four runs running")
        first.terminate()
        began = time.monotonic()
        code, err = await asyncio.to_thread(first.wait)
        took = time.monotonic() - began
        assert code == 0, err
        assert "drained and stopped" in err
        # Grace 1.5 s, then the long runs are stopped and handed back at once.
        assert took < 15, took
        for run in [await s.get_run(i) for i in short]:
            assert run.status is RunStatus.SUCCESS, run
        for run in [await s.get_run(i) for i in long]:
            assert run.status is RunStatus.PENDING and run.attempt == 2, run
            assert run.node_id is None
            assert "drained" in str(run.attempt_errors[-1]), run.attempt_errors
        # The two runs created over capacity were never claimed by the draining node.
        for run in [await s.get_run(i) for i in extra]:
            assert run.status is RunStatus.PENDING and run.attempt == 1, run

        # Another node takes everything handed back: nothing is lost or stuck.
        second = Worker(cluster_config_path)
        workers.append(second)
        await asyncio.to_thread(second.ready)
        done = await settle(s, long + extra)
        assert {r.status for r in done} == {RunStatus.SUCCESS}, done
        assert {r.node_id for r in done} == {second.node_id}
    second.terminate()
    code, err = await asyncio.to_thread(second.wait)
    assert code == 0, err


async def test_a_drain_asked_through_the_store_stops_the_worker(
    cluster_config_path: Path, workers: list[Worker]
) -> None:
    worker = Worker(cluster_config_path)
    workers.append(worker)
    node_id = await asyncio.to_thread(worker.ready)
    async with management(cluster_config_path) as s:
        running = await s.run_now("sleeper", {"seconds": 1.0})

        async def started() -> bool:
            return (await s.get_run(running.id)).status is RunStatus.RUNNING

        await poll(started, what="the run to start")
        node = await s.request_drain(node_id, actor="ops")
        assert node.id == node_id
        code, err = await asyncio.to_thread(worker.wait)
        assert code == 0, err
        assert (await s.get_run(running.id)).status is RunStatus.SUCCESS
        audit = await s.list_audit(action="node.drain")
        assert [(e.actor, e.target) for e in audit] == [("ops", node_id)]
        # A node that stopped has unregistered: nothing left to drain.
        assert node_id not in {n.id for n in await s.list_nodes()}
        with pytest.raises(NodeNotFoundError):
            await s.request_drain(node_id)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedkit", "--config", str(config), *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_nodes_and_drain_commands(cluster_config_path: Path, workers: list[Worker]) -> None:
    worker = Worker(cluster_config_path, "--label", "gpu", "--capacity", "7")
    workers.append(worker)
    node_id = await asyncio.to_thread(worker.ready)

    listed = await asyncio.to_thread(cli, cluster_config_path, "nodes", "--json")
    assert listed.returncode == 0, listed.stderr
    [node] = json.loads(listed.stdout)["nodes"]
    assert node["id"] == node_id and node["labels"] == ["gpu"] and node["capacity"] == 7
    assert node["roles"] == ["executor"] and node["alive"] and not node["draining"]
    table = await asyncio.to_thread(cli, cluster_config_path, "--lang", "zh", "nodes")
    assert "排空" not in table.stdout and "在线" in table.stdout and "gpu" in table.stdout

    unknown = await asyncio.to_thread(cli, cluster_config_path, "drain", "nope")
    assert unknown.returncode == 2 and "no live node 'nope'" in unknown.stderr
    asked = await asyncio.to_thread(cli, cluster_config_path, "drain", node_id)
    assert asked.returncode == 0, asked.stderr
    assert f"node {node_id} asked to drain" in asked.stdout
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err
    assert "drained and stopped" in err


async def test_drain_under_load_loses_no_run_and_leaves_none_stuck(
    cluster_config_path: Path, workers: list[Worker]
) -> None:
    draining = Worker(cluster_config_path, "--capacity", "10", "--grace", "0.2")
    staying = Worker(cluster_config_path, "--capacity", "10")
    workers.extend([draining, staying])
    await asyncio.to_thread(draining.ready)
    await asyncio.to_thread(staying.ready)
    async with management(cluster_config_path) as s:
        ids = [(await s.run_now("sleeper", {"seconds": 0.3})).id for _ in range(90)]

        async def a_third_done() -> bool:
            return await s.count_runs("sleeper", status=RunStatus.SUCCESS) >= 30

        await poll(a_third_done, timeout=60, what="a third of the runs")
        draining.terminate()
        code, err = await asyncio.to_thread(draining.wait)
        assert code == 0, err
        done = await settle(s, ids, timeout=120)
        assert {r.status for r in done} == {RunStatus.SUCCESS}, [
            (r.id, r.status) for r in done if r.status is not RunStatus.SUCCESS
        ]
        handed_back = [r for r in done if r.attempt > 1]
        assert all(r.node_id == staying.node_id for r in handed_back)
        assert all(
            e["error"]["type"] == "HandedBack" and e["node_id"] == draining.node_id
            for r in handed_back
            for e in r.attempt_errors
        )
        assert await s.count_runs(status=[RunStatus.RUNNING, RunStatus.PENDING]) == 0
    staying.terminate()
    code, err = await asyncio.to_thread(staying.wait)
    assert code == 0, err


async def test_worker_with_api_serves_and_exits_when_drained(
    cluster_config_path: Path, workers: list[Worker]
) -> None:
    worker = Worker(cluster_config_path, "--api", "--port", "0", "--label", "gpu")
    workers.append(worker)
    assert worker.proc.stdout is not None
    line = await asyncio.to_thread(worker.proc.stdout.readline)
    found = re.search(r"schedkit worker (\S+) serving on (\S+)", line)
    assert found, line
    node_id, url = found.groups()
    async with httpx.AsyncClient() as client:
        health = await client.get(url + "api/v1/scheduler/health")
    assert health.status_code == 200
    async with management(cluster_config_path) as s:
        run = await s.run_now("gpu_job")
        assert (await s.wait_for_run(run.id, timeout=30)).node_id == node_id
        await s.request_drain(node_id)
        code, err = await asyncio.to_thread(worker.wait)
        assert code == 0, err
