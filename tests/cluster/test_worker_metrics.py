"""A worker's metrics listener (``schedkit worker --metrics-port``, ``api.metrics_port``).

An audit of the "API + workers" topology: run metrics are counted by the node that
executed the run, and a worker had no port but ``--api`` (the whole API and console), so
Prometheus never saw the runs of workers. Real worker processes on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from schedkit.store import create_store
from schedkit.tokens import create_token

from .conftest import Worker, management

pytestmark = pytest.mark.parametrize(
    "store_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.external_service)],
    indirect=True,
)

PREFIX = "api/v1/scheduler"
_METRICS_AT = re.compile(r"metrics at (\S+);")


def metrics_url(worker: Worker) -> str:
    found = _METRICS_AT.search("".join(worker.lines))
    assert found, worker.lines
    return found.group(1)


async def test_a_worker_serves_the_metrics_of_the_runs_it_executed(
    store_url: str, cluster_config_path: Path, workers: list[Worker]
) -> None:
    async with create_store(store_url) as store:
        viewer = (await create_token(store, name="prometheus", role="viewer")).secret
    worker = Worker(cluster_config_path, "--metrics-port", "0", "--label", "gpu")
    workers.append(worker)
    node_id = await asyncio.to_thread(worker.ready)
    url = metrics_url(worker)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), url
    root = url.removesuffix("metrics")
    scraper = {"Authorization": f"Bearer {viewer}"}
    async with httpx.AsyncClient(timeout=30) as client:
        # The API's rules: a viewer token for /metrics, open probes, and nothing else.
        assert (await client.get(url)).status_code == 401
        assert (await client.get(root + PREFIX + "/health")).status_code == 200
        ready = await client.get(root + PREFIX + "/ready", headers=scraper)
        assert ready.status_code == 200 and ready.json()["node_id"] == node_id
        assert (await client.get(root + PREFIX + "/tasks", headers=scraper)).status_code == 404
        assert (await client.get(root + "docs")).status_code == 404

        async with management(cluster_config_path) as s:
            run = await s.run_now("gpu_job")
            assert (await s.wait_for_run(run.id, timeout=30)).node_id == node_id
        counted = 'schedkit_runs_total{status="success",task="gpu_job"} 1.0'
        deadline = time.monotonic() + 10
        while True:
            scraped = await client.get(url, headers=scraper)
            assert scraped.status_code == 200, scraped.text
            if counted in scraped.text or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert counted in scraped.text, scraped.text
        assert 'schedkit_run_attempts_started_total{task="gpu_job"} 1.0' in scraped.text
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err


async def test_the_port_comes_from_the_configuration_too(
    store_url: str, cluster_config_path: Path, workers: list[Worker]
) -> None:
    worker = Worker(
        cluster_config_path,
        SCHEDKIT_API__METRICS_PORT="0",
        SCHEDKIT_API__METRICS_PUBLIC="true",
    )
    workers.append(worker)
    await asyncio.to_thread(worker.ready)
    async with httpx.AsyncClient(timeout=30) as client:
        scraped = await client.get(metrics_url(worker))
    assert scraped.status_code == 200
    assert "schedkit_node_running_runs 0.0" in scraped.text
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err
