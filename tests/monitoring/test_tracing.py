"""OpenTelemetry: one span per attempt with child spans for store calls, exported over
OTLP/HTTP to a real local receiver; a no-op without an endpoint; JSON log lines."""

from __future__ import annotations

import inspect
import io
import json
import logging

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from schedkit import RunStatus, Scheduler, TaskContext, TaskRegistry, task
from schedkit.monitor import Monitor
from schedkit.store import Store, create_store
from schedkit.tracing import (
    STORE_METHODS,
    JsonLogFormatter,
    TracedStore,
    Tracing,
    TracingSettings,
)

from .conftest import MakeMonitored, Receiver, alert_settings, fast_config


@task("traced", retry={"max_retries": 1, "retry_delay": 0.01, "jitter": 0})
async def traced(fail: bool = False, ctx: TaskContext | None = None) -> dict[str, object]:
    assert ctx is not None
    ctx.logger.info("working on attempt %d", ctx.attempt)
    if fail:
        raise ValueError("bad input token=abc123456")
    return {"success": True}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def provider_for(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_run_spans_with_store_children(
    make_monitored: MakeMonitored, exporter: InMemorySpanExporter
) -> None:
    tracing = Tracing(tracer_provider=provider_for(exporter))
    s, _ = await make_monitored(traced, monitor=Monitor(alert_settings([]), tracing=tracing))
    ok = await s.run_now("traced", wait=True, timeout=5)
    bad = await s.run_now("traced", {"fail": True}, wait=True, timeout=5)
    assert ok.status is RunStatus.SUCCESS and bad.status is RunStatus.FAILED
    spans = exporter.get_finished_spans()
    runs = by_name(spans, "schedkit.run traced")
    assert len(runs) == 3  # ok, and bad's two attempts
    first = next(s for s in runs if s.attributes and s.attributes["schedkit.run_id"] == ok.id)
    assert first.attributes is not None
    assert first.attributes["schedkit.task"] == "traced"
    assert first.attributes["schedkit.attempt"] == 1
    assert first.attributes["schedkit.status"] == "success"
    assert first.status.status_code is StatusCode.OK
    failed = sorted(
        (s for s in runs if s.attributes and s.attributes["schedkit.run_id"] == bad.id),
        key=lambda s: str(s.attributes["schedkit.attempt"]) if s.attributes else "",
    )
    assert [s.attributes["schedkit.status"] for s in failed if s.attributes] == [
        "retrying",
        "failed",
    ]
    last = failed[-1]
    assert last.status.status_code is StatusCode.ERROR
    assert last.attributes is not None and last.attributes["schedkit.error_type"] == "ValueError"
    assert "abc123456" not in str(last.attributes["schedkit.error_message"])
    # store calls made while a run's span is current are its children ...
    children = [
        c
        for c in spans
        if c.name.startswith("schedkit.store.")
        and c.parent is not None
        and c.parent.span_id == first.context.span_id
    ]
    assert {c.name for c in children} >= {"schedkit.store.finish_runs"}
    assert all(c.attributes and c.attributes["db.system"] == "sqlite" for c in children)
    # ... and polling outside runs makes no spans at all
    assert all(c.parent is not None for c in spans if c.name.startswith("schedkit.store."))


async def test_otlp_export_to_a_real_receiver(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    settings = TracingSettings(
        otlp_endpoint=f"{receiver.base}/v1/traces", service_name="powertrade"
    )
    tracing = Tracing(settings)
    assert tracing.enabled
    s, _mon = await make_monitored(traced, monitor=Monitor(alert_settings([]), tracing=tracing))
    run = await s.run_now("traced", wait=True, timeout=5)
    await s.stop()  # flushes the exporter
    (request,) = receiver.on("/v1/traces")
    assert request.headers["content-type"] == "application/x-protobuf"
    export = ExportTraceServiceRequest()
    export.ParseFromString(request.body)
    spans = [span for rs in export.resource_spans for ss in rs.scope_spans for span in ss.spans]
    service = {
        kv.value.string_value
        for rs in export.resource_spans
        for kv in rs.resource.attributes
        if kv.key == "service.name"
    }
    assert service == {"powertrade"}
    (run_span,) = [sp for sp in spans if sp.name == "schedkit.run traced"]
    attributes = {kv.key: kv.value for kv in run_span.attributes}
    assert attributes["schedkit.run_id"].string_value == run.id
    assert attributes["schedkit.status"].string_value == "success"
    assert any(
        sp.name == "schedkit.store.finish_runs" and sp.parent_span_id == run_span.span_id
        for sp in spans
    )


def test_no_endpoint_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    tracing = Tracing(TracingSettings())
    assert not tracing.enabled and type(tracing.tracer).__name__ == "NoOpTracer"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    assert TracingSettings().enabled


def test_traced_store_times_every_method_of_the_store_contract() -> None:
    contract = {
        name
        for klass in Store.__mro__
        for name, member in vars(klass).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }
    assert contract == set(STORE_METHODS)
    assert {"add_audit", "purge_audit", "list_tokens", "set_state"} <= contract
    assert all(getattr(TracedStore, name) is not getattr(Store, name) for name in contract)


async def test_traced_store_as_the_schedulers_store(store_path: str) -> None:
    """The wiring proposed for service.py: Scheduler(store=TracedStore(create_store(url)))."""
    registry = TaskRegistry()
    registry.register_task(traced)
    config = fast_config(store_path)
    timings: list[str] = []
    store = TracedStore(create_store(config.store_url))
    store.observers.append(lambda op, seconds, error: timings.append(op))
    monitor = Monitor()
    async with Scheduler(config, registry=registry, store=store, extensions=[monitor]) as s:
        assert (await s.run_now("traced", wait=True, timeout=5)).status is RunStatus.SUCCESS
        assert s.store.display_url == store.inner.display_url
    assert {"open", "insert_runs", "finish_runs", "close"} <= set(timings)
    text = monitor.metrics.render().decode()
    assert 'schedkit_store_operation_seconds_count{operation="finish_runs"}' in text


async def test_json_log_lines_carry_run_and_trace_ids(
    make_monitored: MakeMonitored, exporter: InMemorySpanExporter
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter(extra_fields={"service": "powertrade"}))
    task_logger = logging.getLogger("schedkit.task")
    task_logger.addHandler(handler)
    try:
        tracing = Tracing(tracer_provider=provider_for(exporter))
        s, _ = await make_monitored(traced, monitor=Monitor(alert_settings([]), tracing=tracing))
        run = await s.run_now("traced", wait=True, timeout=5)
    finally:
        task_logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (line,) = [x for x in lines if x["message"] == "working on attempt 1"]
    assert line["run_id"] == run.id and line["task_name"] == "traced" and line["attempt"] == 1
    assert line["service"] == "powertrade" and line["level"] == "INFO"
    assert line["node_id"] == s.node_id  # the node that ran it
    (span,) = by_name(exporter.get_finished_spans(), "schedkit.run traced")
    assert line["trace_id"] == f"{span.context.trace_id:032x}"
    assert line["span_id"] == f"{span.context.span_id:016x}"


async def test_the_run_failed_line_carries_the_run_ids_too(make_monitored: MakeMonitored) -> None:
    """An audit: the task logger's "run failed" record, written as the attempt ends,
    had the trace ids but no run_id, task_name or attempt."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    task_logger = logging.getLogger("schedkit.task")
    task_logger.addHandler(handler)
    try:
        s, _ = await make_monitored(traced)
        run = await s.run_now("traced", {"fail": True}, wait=True, timeout=5)
    finally:
        task_logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [x for x in lines if "failed (attempt" in x["message"]]
    assert failed[0]["message"].startswith(
        f"run {run.id} of traced failed (attempt 1 of 2, will be retried): ValueError"
    )
    assert (failed[0]["level"], failed[1]["level"]) == ("WARNING", "ERROR")
    assert "(attempt 2 of 2): ValueError" in failed[1]["message"]
    assert [(x["run_id"], x["task_name"], x["attempt"]) for x in failed] == [
        (run.id, "traced", 1),
        (run.id, "traced", 2),
    ]
