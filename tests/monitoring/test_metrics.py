"""``GET /metrics`` parsed by prometheus-client's own parser; counters move as runs happen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from schedkit import RunStatus, Scheduler, task
from schedkit.api.metrics import router
from schedkit.metrics import SchedkitMetrics
from tests.engine.taps import until

from .conftest import MakeMonitored, Receiver, alert_settings


def app_for(scheduler: Scheduler | None) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.scheduler = scheduler
    return app


async def scrape(app: FastAPI) -> dict[str, list[Sample]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        families.setdefault(family.name, []).extend(family.samples)
    return families


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(found)


async def test_metrics_move_as_runs_happen(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    release = asyncio.Event()

    @task("blocking")
    async def blocking() -> None:
        await release.wait()

    @task("broken", retry={"max_retries": 1, "retry_delay": 0.01, "jitter": 0})
    async def broken() -> None:
        raise ValueError("nope")

    s, _mon = await make_monitored(
        blocking,
        broken,
        executor={"max_concurrent_runs": 1},
        settings=alert_settings([f"json://127.0.0.1:{receiver.port}/a"]),
    )
    app = app_for(s)
    first = [await s.run_now("blocking") for _ in range(3)]
    await asyncio.sleep(0.3)  # the queued runs' lateness below shows this wait

    async def first_running() -> dict[str, list[Sample]] | None:
        m = await scrape(app)
        running = value(m["schedkit_node_running_runs"], "schedkit_node_running_runs")
        return m if running == 1 else None

    # Then polled: on a busy machine the first run can take longer than that to start.
    m = await until(first_running, timeout=5)
    assert value(m["schedkit_store_pending_runs"], "schedkit_store_pending_runs") == 2
    assert value(m["schedkit_store_running_runs"], "schedkit_store_running_runs") == 1
    assert value(m["schedkit_node_running_runs"], "schedkit_node_running_runs") == 1
    assert value(m["schedkit_scheduler_is_leader"], "schedkit_scheduler_is_leader") == 1
    assert (
        value(
            m["schedkit_scheduler_lease_holder"],
            "schedkit_scheduler_lease_holder",
            holder=s.node_id,
        )
        == 1
    )
    assert value(m["schedkit_runs"], "schedkit_runs_total", task="blocking") == 0

    release.set()
    for run in first:
        assert (await s.wait_for_run(run.id, 5)).status is RunStatus.SUCCESS
    assert (await s.run_now("broken", wait=True, timeout=5)).status is RunStatus.FAILED
    await receiver.wait("/a")
    await asyncio.sleep(0.1)
    m = await scrape(app)
    runs = m["schedkit_runs"]
    assert value(runs, "schedkit_runs_total", task="blocking", status="success") == 3
    assert value(runs, "schedkit_runs_total", task="broken", status="failed") == 1
    assert value(m["schedkit_run_retries"], "schedkit_run_retries_total", task="broken") == 1
    assert (
        value(
            m["schedkit_run_attempts_started"], "schedkit_run_attempts_started_total", task="broken"
        )
        == 2
    )
    duration = m["schedkit_run_duration_seconds"]
    assert value(duration, "schedkit_run_duration_seconds_count", task="blocking") == 3
    lateness = m["schedkit_fire_lateness_seconds"]
    assert value(lateness, "schedkit_fire_lateness_seconds_count", task="blocking") == 3
    # queued runs waited for the first one: their lateness shows it
    assert value(lateness, "schedkit_fire_lateness_seconds_sum", task="blocking") > 0.3
    assert value(m["schedkit_store_pending_runs"], "schedkit_store_pending_runs") == 0
    assert value(m["schedkit_alerts"], "schedkit_alerts_total", task="broken", kind="failed") == 1
    assert (
        value(
            m["schedkit_alert_deliveries"],
            "schedkit_alert_deliveries_total",
            channel="json",
            kind="failed",
            result="sent",
        )
        == 1
    )
    assert value(m["schedkit_alert_channel_up"], "schedkit_alert_channel_up", channel="json") == 1
    store = m["schedkit_store_operation_seconds"]
    for op in ("insert_runs", "finish_runs", "claim_runs", "get_state"):
        assert value(store, "schedkit_store_operation_seconds_count", operation=op) >= 1, op

    # A scraper asking for OpenMetrics gets it.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        response = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_without_monitor_is_503() -> None:
    transport = httpx.ASGITransport(app=app_for(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        response = await client.get("/metrics")
    assert response.status_code == 503
    assert "Monitor" in response.json()["detail"]


def test_registries_are_independent() -> None:
    a, b = SchedkitMetrics(), SchedkitMetrics()
    a.runs.labels(task="t", status="success").inc()
    assert b"schedkit_runs_total{" not in b.render()
    assert b'schedkit_runs_total{status="success",task="t"} 1.0' in a.render()


def test_no_created_series_and_a_host_apps_metrics_keep_theirs() -> None:
    """An audit: every counter and histogram child came with a ``*_created`` series
    (``schedkit_runs_created``), doubling the series, documented nowhere."""
    from prometheus_client import CollectorRegistry, Counter, generate_latest
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as openmetrics_families,
    )

    metrics = SchedkitMetrics()
    metrics.runs.labels(task="t", status="success").inc()
    metrics.run_duration.labels(task="t", status="success").observe(1.5)
    text = metrics.render()
    openmetrics, _ = metrics.render_for("application/openmetrics-text; version=1.0.0")
    for body in (text, openmetrics):
        assert b"_created" not in body
        assert b'schedkit_runs_total{status="success",task="t"} 1.0' in body
    assert b'schedkit_run_duration_seconds_count{status="success",task="t"} 1.0' in text
    families = {f.name: f for f in openmetrics_families(openmetrics.decode())}
    assert [s.value for s in families["schedkit_runs"].samples] == [1.0]
    # Not with prometheus-client's process-wide switch: a host app's own keep theirs.
    host = CollectorRegistry()
    Counter("host_jobs", "Jobs of the host app.", registry=host).inc()
    assert b"host_jobs_created " in generate_latest(host)


def test_grafana_dashboard_uses_only_exported_metrics() -> None:
    import json
    import re
    from pathlib import Path

    from prometheus_client.metrics_core import Metric

    path = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    families: list[Metric] = list(SchedkitMetrics().registry.collect())
    exported = {f.name + suffix for f in families for suffix in suffixes[f.type]}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    used: set[str] = set()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            used |= set(re.findall(r"schedkit_[a-z_]+", target["expr"]))
    assert used <= exported, used - exported
    # every metric family is on the dashboard somewhere
    assert {f.name for f in families} <= {
        re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used
    } | {f.name for f in families if f.name + "_total" in used}
