"""Tracing as an operator meets it: spans sent over OTLP/HTTP to a real receiver, the
task code's own spans among them, the service named as the OTEL_* variables say, and a
collector that never answers holding no stop.

An audit (a real receiver, nodes on PostgreSQL, docs/monitoring.md followed): the spans
task code opened went to OpenTelemetry's no-op provider (schedkit's was private),
OTEL_SERVICE_NAME and OTEL_TRACES_EXPORTER=none were ignored, a retried attempt's span
had no error, and a hung collector held a stop for 17.5-30 s.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from schedkit import RunStatus, TaskContext, task
from schedkit.monitor import Monitor
from schedkit.tracing import STOP_WAIT, Tracing, TracingSettings

from .conftest import MakeMonitored, Receiver, alert_settings


def exported(receiver: Receiver, path: str = "/v1/traces") -> list[ExportTraceServiceRequest]:
    requests = []
    for request in receiver.on(path):
        export = ExportTraceServiceRequest()
        export.ParseFromString(request.body)
        requests.append(export)
    return requests


def spans_of(exports: list[ExportTraceServiceRequest]) -> list[Span]:
    return [
        span
        for export in exports
        for rs in export.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def service_names(exports: list[ExportTraceServiceRequest]) -> set[str]:
    return {
        kv.value.string_value
        for export in exports
        for rs in export.resource_spans
        for kv in rs.resource.attributes
        if kv.key == "service.name"
    }


def attrs(span: Span) -> dict[str, Any]:
    return {
        kv.key: kv.value.string_value or kv.value.int_value or kv.value.bool_value
        for kv in span.attributes
    }


def run_spans(spans: list[Span], run_id: str) -> list[Span]:
    found = [s for s in spans if s.name.startswith("schedkit.run ")]
    return sorted(
        (s for s in found if attrs(s)["schedkit.run_id"] == run_id),
        key=lambda s: attrs(s)["schedkit.attempt"],
    )


#: A tracer the task's module got at import, before any provider was set (a proxy).
early_tracer: trace.Tracer | None = None


@task("opens_spans", retry={"max_retries": 0})
async def opens_spans() -> dict[str, object]:
    assert early_tracer is not None
    with (
        trace.get_tracer("partner.client").start_as_current_span("fetch prices"),
        early_tracer.start_as_current_span("parse prices"),
    ):
        await asyncio.sleep(0)
    return {"success": True}


@task("opens_spans_sync", retry={"max_retries": 0})
def opens_spans_sync() -> dict[str, object]:
    with trace.get_tracer("partner.client").start_as_current_span("fetch prices in a thread"):
        pass
    return {"success": True}


async def test_spans_the_task_opens_are_exported_as_children_of_its_run_span(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    global early_tracer
    early_tracer = trace.get_tracer("partner.parser")
    tracing = Tracing(TracingSettings(otlp_endpoint=f"{receiver.base}/v1/traces"))
    s, _ = await make_monitored(
        opens_spans, opens_spans_sync, monitor=Monitor(alert_settings([]), tracing=tracing)
    )
    run = await s.run_now("opens_spans", wait=True, timeout=5)
    sync_run = await s.run_now("opens_spans_sync", wait=True, timeout=5)
    assert run.status is sync_run.status is RunStatus.SUCCESS
    await s.stop()  # flushes the exporter
    exports = exported(receiver)
    spans = spans_of(exports)
    assert service_names(exports) == {"schedkit"}
    (run_span,) = run_spans(spans, run.id)
    (fetch,) = [sp for sp in spans if sp.name == "fetch prices"]
    (parse,) = [sp for sp in spans if sp.name == "parse prices"]
    assert fetch.trace_id == run_span.trace_id and fetch.parent_span_id == run_span.span_id
    assert parse.trace_id == run_span.trace_id and parse.parent_span_id == fetch.span_id
    (sync_span,) = run_spans(spans, sync_run.id)
    (threaded,) = [sp for sp in spans if sp.name == "fetch prices in a thread"]
    assert threaded.parent_span_id == sync_span.span_id


async def test_a_provider_the_application_set_carries_schedkits_spans_too(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    host = TracerProvider()
    host.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{receiver.base}/host/v1/traces"))
    )
    trace.set_tracer_provider(host)
    tracing = Tracing(TracingSettings(otlp_endpoint=f"{receiver.base}/v1/traces"))
    global early_tracer
    early_tracer = trace.get_tracer("partner.parser")
    s, _ = await make_monitored(opens_spans, monitor=Monitor(alert_settings([]), tracing=tracing))
    run = await s.run_now("opens_spans", wait=True, timeout=5)
    await s.stop()
    host.shutdown()
    assert receiver.on("/v1/traces") == []  # schedkit made no exporter of its own
    spans = spans_of(exported(receiver, "/host/v1/traces"))
    (run_span,) = run_spans(spans, run.id)
    (fetch,) = [sp for sp in spans if sp.name == "fetch prices"]
    assert fetch.parent_span_id == run_span.span_id


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        (None, {}, "schedkit"),
        (None, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,team=ops"}, "from-attrs"),
        (
            None,
            {"OTEL_SERVICE_NAME": "from-env", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"},
            "from-env",
        ),
        ("powertrade", {"OTEL_SERVICE_NAME": "from-env"}, "powertrade"),
    ],
)
def test_the_service_name_comes_from_config_then_the_otel_variables(
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    configured: str | None,
    environ: dict[str, str],
    expected: str,
) -> None:
    for var, value in environ.items():
        monkeypatch.setenv(var, value)
    named = {"service_name": configured} if configured else {}
    tracing = Tracing(TracingSettings(otlp_endpoint=f"{receiver.base}/v1/traces", **named))
    tracing.tracer.start_span("one").end()
    assert tracing.force_flush()
    exports = exported(receiver)
    assert service_names(exports) == {expected}
    if "team=ops" in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        resource = exports[0].resource_spans[0].resource
        assert {kv.key: kv.value.string_value for kv in resource.attributes}["team"] == "ops"


async def test_otel_traces_exporter_none_exports_nothing(
    make_monitored: MakeMonitored, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    settings = TracingSettings(otlp_endpoint=f"{receiver.base}/v1/traces")
    assert not settings.enabled
    global early_tracer
    early_tracer = trace.get_tracer("partner.parser")
    s, monitor = await make_monitored(
        opens_spans, monitor=Monitor(alert_settings([]), tracing=settings)
    )
    assert not monitor.tracing.enabled
    assert (await s.run_now("opens_spans", wait=True, timeout=5)).status is RunStatus.SUCCESS
    await s.stop()
    assert receiver.on("/v1/traces") == []
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


async def test_a_retried_attempt_s_span_holds_its_error_and_a_cancelled_one_its_reason(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    second = asyncio.Event()

    @task("fails_then_waits", retry={"max_retries": 1, "retry_delay": 0.01, "jitter": 0})
    async def fails_then_waits(ctx: TaskContext | None = None) -> None:
        assert ctx is not None
        if ctx.attempt == 1:
            raise ConnectionError("partner refused: token=abc123456")
        second.set()
        await asyncio.sleep(30)

    tracing = Tracing(TracingSettings(otlp_endpoint=f"{receiver.base}/v1/traces"))
    monitor = Monitor(alert_settings([]), tracing=tracing)
    s, _ = await make_monitored(fails_then_waits, monitor=monitor)
    run = await s.run_now("fails_then_waits")
    await asyncio.wait_for(second.wait(), 5)
    await s.cancel_run(run.id, actor="alice")
    assert (await s.wait_for_run(run.id, timeout=5)).status is RunStatus.CANCELLED
    await s.stop()
    retried, cancelled = run_spans(spans_of(exported(receiver)), run.id)
    assert attrs(retried)["schedkit.status"] == "retrying"
    assert retried.status.code == Status.STATUS_CODE_ERROR
    assert attrs(retried)["schedkit.error_type"] == "ConnectionError"
    message = attrs(retried)["schedkit.error_message"]
    assert message.startswith("partner refused") and "abc123456" not in message
    assert attrs(cancelled)["schedkit.status"] == "cancelled"
    assert cancelled.status.code == Status.STATUS_CODE_UNSET
    assert attrs(cancelled)["schedkit.cancel_reason"] == "cancelled by alice"


# -- a collector that accepts connections and never answers --------------------------------


def test_a_shutdown_with_spans_queued_waits_at_most_its_bound(blackhole: int) -> None:
    # A short export timeout: the spans left behind are given up soon after the test.
    endpoint = f"http://127.0.0.1:{blackhole}/v1/traces"
    tracing = Tracing(TracingSettings(otlp_endpoint=endpoint, timeout=1.0))
    for n in range(2000):
        tracing.tracer.start_span(f"span {n}").end()
    started = time.monotonic()
    tracing.shutdown()
    assert time.monotonic() - started < STOP_WAIT + 0.5


NODE = textwrap.dedent(
    """
    import asyncio, sys, time
    from schedkit import SchedkitConfig, Scheduler, TaskRegistry, task
    from schedkit.monitor import Monitor
    from schedkit.tracing import TracingSettings

    @task("quick")
    async def quick() -> None:
        pass

    async def main() -> None:
        registry = TaskRegistry()
        registry.register_task(quick)
        config = SchedkitConfig(
            store_url=sys.argv[1], entry_points=False, executor={"poll_interval": 0.05}
        )
        settings = TracingSettings(otlp_endpoint=sys.argv[2])
        s = Scheduler(config, registry=registry, extensions=[Monitor(tracing=settings)])
        await s.start()
        for _ in range(20):
            await s.run_now("quick", wait=True, timeout=5)
        await asyncio.sleep(0.5)  # the exporter's request hangs by now
        print("stopping", flush=True)
        await s.stop()

    asyncio.run(main())
    """
)


def test_a_node_with_tracing_stops_and_exits_within_the_bound(
    blackhole: int, tmp_path: Path
) -> None:
    """The process as ``schedkit serve`` is one: its stop, then its exit."""
    script = tmp_path / "node.py"
    script.write_text(NODE)
    env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    args = [f"sqlite:///{tmp_path / 's.db'}", f"http://127.0.0.1:{blackhole}/v1/traces"]
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "stopping\n", proc.stderr.read() if proc.stderr else ""
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, stderr
    # An idle node: no grace used; tracing's part of the stop bound, and the rest of
    # the stop and the interpreter's exit.
    assert took < STOP_WAIT + 2.0, (took, stderr)
    assert "the collector did not take the last spans" in stderr
