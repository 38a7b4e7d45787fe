"""Prometheus metrics of one schedkit node, in a registry of their own.

Each :class:`SchedkitMetrics` owns a ``CollectorRegistry`` (never the process-global
one), so tests, several schedulers in one process and a host app's own metrics never
collide. ``render()`` gives the text exposition served at ``GET /metrics``.

Counters and histograms count what *this node* observed (sum them across nodes);
gauges prefixed ``schedkit_store_`` describe the shared store and read the same on
every node (aggregate them with ``max``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

__all__ = ["CONTENT_TYPE", "SchedkitMetrics"]

#: The classic text format every Prometheus version reads (what ``render()`` returns).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Run durations: sub-second jobs up to the document's 3600 s "too long" and beyond.
DURATION_BUCKETS = (
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    14400,
)
#: Fire lateness (actual start − scheduled time).
LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Store operation latency.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _WithoutCreated:
    """A registry's metrics without the ``*_created`` sample prometheus-client adds to
    every counter and histogram child: in the text format each is a gauge series of its
    own (``schedkit_runs_created``), doubling the series for a Unix time nothing here
    reads. Dropped as the registry is rendered, not with
    ``prometheus_client.disable_created_metrics()``: that switch is process-wide and
    would change a host app's own metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            created = metric.name + "_created"
            if any(sample.name == created for sample in metric.samples):
                metric = copy.copy(metric)
                metric.samples = [s for s in metric.samples if s.name != created]
            yield metric


class SchedkitMetrics:
    """Every metric schedkit exports (names listed in docs/monitoring.md)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[object, ...], Any] = {}
        r = self.registry
        self.runs = Counter(
            "schedkit_runs",
            "Runs that reached a final status on this node (finished, "
            "skipped, missed, lost without retry).",
            ["task", "status"],
            registry=r,
        )
        self.attempts_started = Counter(
            "schedkit_run_attempts_started", "Attempts started on this node.", ["task"], registry=r
        )
        self.retries = Counter(
            "schedkit_run_retries",
            "Attempts that failed and were queued for a retry.",
            ["task"],
            registry=r,
        )
        self.run_duration = Histogram(
            "schedkit_run_duration_seconds",
            "Duration of finished runs (last attempt).",
            ["task", "status"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.fire_lateness = Histogram(
            "schedkit_fire_lateness_seconds",
            "Actual start minus scheduled time of first attempts.",
            ["task"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.node_running = Gauge(
            "schedkit_node_running_runs", "Runs executing on this node now.", registry=r
        )
        self.pending = Gauge(
            "schedkit_store_pending_runs",
            "Pending runs in the store (queue depth), all nodes.",
            registry=r,
        )
        self.running = Gauge(
            "schedkit_store_running_runs", "Running runs in the store, all nodes.", registry=r
        )
        self.is_leader = Gauge(
            "schedkit_scheduler_is_leader",
            "1 while this node holds the scheduler lease.",
            registry=r,
        )
        self.lease_holder = Gauge(
            "schedkit_scheduler_lease_holder",
            "1 for the node holding the scheduler lease (as recorded in the store).",
            ["holder"],
            registry=r,
        )
        self.lease_term = Gauge(
            "schedkit_scheduler_lease_term",
            "Term of the scheduler lease (increases on every change of holder).",
            registry=r,
        )
        self.alerts = Counter(
            "schedkit_alerts",
            "Alerts raised (after de-duplication), by kind.",
            ["task", "kind"],
            registry=r,
        )
        self.alert_deliveries = Counter(
            "schedkit_alert_deliveries",
            "Alert messages by channel and result (sent, failed, throttled, dropped).",
            ["channel", "kind", "result"],
            registry=r,
        )
        self.channel_up = Gauge(
            "schedkit_alert_channel_up",
            "1 while an alert channel delivers, 0 once it failed repeatedly.",
            ["channel"],
            registry=r,
        )
        self.store_latency = Histogram(
            "schedkit_store_operation_seconds",
            "Latency of store operations.",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "schedkit_store_operation_errors",
            "Store operations that raised.",
            ["operation", "error"],
            registry=r,
        )
        self.events_dropped = Counter(
            "schedkit_monitor_events_dropped",
            "Run events the monitor could not process in time (its queue was full).",
            registry=r,
        )
        self.buffer_dropped = Counter(
            "schedkit_buffer_dropped",
            "Items a full in-memory buffer of this node dropped (run log lines, listener "
            "calls), e.g. during a long store outage.",
            ["buffer"],
            registry=r,
        )
        self.last_check = Gauge(
            "schedkit_monitor_last_check_timestamp_seconds",
            "Unix time of the monitor's last periodic check.",
            registry=r,
        )

    def child(self, metric: Counter | Gauge | Histogram, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: run events call it several times per
        run, and prometheus_client checks and joins the label values on every call."""
        key = (metric, *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def set_lease(self, holder: str | None, term: int | None) -> None:
        self.lease_holder.clear()
        if holder is not None:
            self.lease_holder.labels(holder=holder).set(1)
        if term is not None:
            self.lease_term.set(term)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (:data:`CONTENT_TYPE`), without
        ``*_created`` series (see :class:`_WithoutCreated`)."""
        return generate_latest(_WithoutCreated(self.registry))

    def render_for(self, accept: str | None) -> tuple[bytes, str]:
        """The registry in the format the scraper's ``Accept`` header asks for (the
        Prometheus text format by default, OpenMetrics on request) and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(_WithoutCreated(self.registry)), content_type
