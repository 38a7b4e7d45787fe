"""The configuration's sections: one model per TOML table (``[executor]``, ``[scheduler]``
...), each refusing keys it does not know; :class:`~schedkit.config.SchedkitConfig` holds
them."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, field_validator
from pydantic_settings import NoDecode

from schedkit.models import MAX_NODE_LABELS, labels_of


def _words(value: Any) -> Any:
    """A list read from the environment: comma-separated (``gpu,reports``, as the docs
    write it) or a JSON list. pydantic-settings would parse it as JSON only, so
    the fields using this are marked ``NoDecode`` and the text arrives here."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f'{value!r} is not a JSON list; write a,b or ["a", "b"]') from None
    return [part.strip() for part in value.split(",") if part.strip()]


#: A list of names, from TOML or the environment (comma-separated or JSON).
Words = Annotated[list[str], NoDecode, BeforeValidator(_words)]


def _thresholds(value: Any) -> Any:
    """``gc_threshold`` as lists are written in the environment (``700,10,10`` or JSON);
    a count other than three is named as such, not as a missing item ``.2``."""
    items = _words(value)
    if isinstance(items, list | tuple) and len(items) != 3:
        raise ValueError(f"give three thresholds, one per generation (700,10,10), not {value!r}")
    return items


GcThreshold = Annotated[
    tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt], NoDecode, BeforeValidator(_thresholds)
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecutorConfig(_Section):
    """How runs execute on this node."""

    #: Thread pool for synchronous tasks (the document: thread pool, 20 workers).
    max_workers: int = Field(20, ge=1)
    #: Runs executing at once on this node (async and sync together); a run whose task
    #: has returned no longer counts while its end is written.
    max_concurrent_runs: int = Field(50, ge=1)
    #: How often an idle executor looks for pending runs made by other nodes.
    poll_interval: float = Field(1.0, gt=0)
    #: Only claim runs of these tasks (default: every task registered on this node).
    tasks: Annotated[list[str] | None, NoDecode, BeforeValidator(_words)] = None
    #: A run handed to another executor (``executor = "celery"``) still pending this
    #: many seconds after its message was sent is sent again (a lost message).
    resend_after: float = Field(300.0, gt=0)
    #: Labels this node offers: it executes runs of tasks requiring any subset of them
    #: (a task's ``labels``), and only those (see docs/cluster.md).
    labels: Words = Field(default_factory=list, max_length=MAX_NODE_LABELS)
    #: False for a node that only schedules and serves the API.
    enabled: bool = True

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        return list(labels_of(value))


class JobDefaults(_Section):
    """Policies for schedules that do not state them (the document's job_defaults)."""

    coalesce: bool = True
    max_instances: int = Field(3, ge=1)
    misfire_grace_time: float | None = Field(300, ge=0)


class SchedulerConfig(_Section):
    """The firing loop and the leases that keep it to one node."""

    enabled: bool = True
    #: Seconds a leader's lease lasts without renewal; a standby takes over after it.
    #: With the defaults a killed leader's schedules fire again within 10 s
    #: (docs/lifecycle.md has the bounds and how they were checked).
    lease_ttl: float = Field(6.0, gt=0)
    #: Seconds ahead the loop reads due schedules into its in-memory timer heap.
    lookahead: float = Field(2.0, gt=0)
    #: Longest sleep between two reads of the store (picks up other nodes' changes).
    refresh_interval: float = Field(1.0, gt=0)
    #: Fires handled per schedule per tick (a long downtime is worked off in slices).
    max_fires_per_tick: int = Field(1000, ge=1)
    #: Seconds ahead a tick takes fires that are nearly due: they are written with the
    #: due ones (one transaction for all) and each starts at its own time, waiting on an
    #: executor slot (no more are taken than the free slots less a fifth of them). At
    #: 1,000 fires/s the default makes ticks of about 20-40 fires instead of about one per
    #: fire; 0 writes each fire only once it is due. An edit of a schedule reaches the
    #: fires from ``fire_ahead`` after it on.
    fire_ahead: float = Field(0.05, ge=0, le=1.0)
    #: Seconds between heartbeats of running runs and of the node's own row (also the
    #: leader's pass over silent runs).
    heartbeat_interval: float = Field(3.0, gt=0)
    #: A running run without heartbeat for this long, whose node has not beaten for
    #: this long either, is marked lost (and retried): within 30 s with the defaults.
    lost_after: float = Field(20.0, gt=0)
    #: Whose time a node goes by. ``"store"``: its own clock, unless it differs from the
    #: store server's by more than a second (measured at every heartbeat), then the
    #: store's: nodes judge each other by the times they write (a node whose clock lags
    #: looks silent, its runs lost). ``"local"``: always its own. SQLite has no server:
    #: its nodes share one machine's clock.
    clock: Literal["store", "local"] = "store"
    #: Longest time a watchdog thread heartbeats the runs of a node whose event loop is
    #: held (an async task making blocking calls); past it the node counts as hung.
    blocked_loop_grace: float = Field(1800.0, gt=0)
    #: A node silent this long is removed from the node list by the leader. Must be
    #: longer than ``heartbeat_interval`` (refused otherwise); under ``lost_after`` is a
    #: warning (schedkit._config_checks).
    node_expiry: float = Field(300.0, gt=0)
    #: Seconds running runs get to finish on stop before they are cancelled.
    shutdown_grace: float = Field(30.0, ge=0)
    #: A store that cannot be reached when an app's lifespan starts the node:
    #: ``"fail"`` raises (the app does not start); ``"retry"`` lets the app start and
    #: keeps starting the node in the background (:mod:`schedkit.service.store_wait`).
    store_wait: Literal["fail", "retry"] = "fail"
    #: On the first start in the process, move everything allocated so far to the
    #: garbage collector's permanent generation (``gc.freeze()``): its full collections,
    #: which stop the event loop, then skip the start-up heap.
    gc_freeze: bool = True
    #: When a node starts, raise the process's garbage collector thresholds to at least
    #: these (``gc.set_threshold``; higher ones the host set are kept): at the
    #: default (700, 10, 10) a busy node runs a full collection every second or two.
    #: ``(0, 0, 0)`` leaves them alone, as does a host that turned collection off.
    gc_threshold: GcThreshold = (10_000, 10, 10)


class AlertsConfig(_Section):
    """Alert channels and rules (see docs/monitoring.md)."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    #: apprise URLs (``dingtalk://${SECRET}@${TOKEN}/``; ``${ENV}`` expanded at send time)
    #: or tables ``{url, name, format, kinds}``; see docs/monitoring.md.
    channels: list[str | dict[str, Any]] = Field(default_factory=list)


class TracingConfig(_Section):
    """OpenTelemetry export; tracing is a no-op while ``otlp_endpoint`` is unset (the
    standard ``OTEL_EXPORTER_OTLP_*`` variables work too)."""

    otlp_endpoint: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    #: Unset: OTEL_SERVICE_NAME, else ``service.name`` in OTEL_RESOURCE_ATTRIBUTES, else
    #: "schedkit".
    service_name: str | None = None
    timeout: float = Field(10.0, gt=0)


class LimitsConfig(_Section):
    """Bounds on what callers may store (checked by the façade for every adapter)."""

    #: Largest JSON size of a run's or a schedule's kwargs, in bytes (422 above it).
    max_kwargs_bytes: int = Field(64 * 1024, ge=2)
    #: Shortest time between two fires of any schedule, in seconds (0: no minimum).
    min_interval: float = Field(1.0, ge=0)
    #: Most schedules the store may hold; adding one more is refused with a clear error.
    max_schedules: int = Field(100_000, ge=1)
    #: Most fires one backfill request may cover; a larger range is refused (split it).
    max_backfill_fires: int = Field(1000, ge=1)


class ClusterConfig(_Section):
    """How the nodes sharing a store tell each other of run events and new runs."""

    #: The notify channel: ``auto`` (Redis when ``redis_url`` is set, else PostgreSQL's
    #: LISTEN/NOTIFY when the store is PostgreSQL, else none: the store polls),
    #: ``postgres``, ``redis`` or ``none``.
    notify: Literal["auto", "postgres", "redis", "none"] = "auto"
    #: Redis for the channel (``redis://host:6379/0``).
    redis_url: str | None = None
    #: Without a channel, how often a node with a live view subscribed reads the store
    #: for runs executing on other nodes (seconds).
    poll_interval: float = Field(2.0, gt=0)


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: Public base URL of the console, used for links in alerts.
    base_url: str | None = None
    #: Largest request body, in bytes; larger ones are answered 413 before they are read.
    max_body_size: int = Field(1024 * 1024, ge=1024)
    #: Runs one caller (token, or user when embedded) may create per minute, on average.
    run_rate: float = Field(60.0, gt=0)
    #: Runs one caller may create at once before ``run_rate`` applies.
    run_burst: int = Field(20, ge=1)
    #: CPU seconds of fire-time search one caller's schedule previews may use per minute
    #: (and at once); a schedule that never fires costs a second, a common one microseconds.
    preview_seconds: float = Field(10.0, gt=0)
    #: Serve ``GET /metrics`` without a token (for a scraper on a private network).
    metrics_public: bool = False
    #: ``schedkit worker`` (no ``--api``): serve ``/metrics`` and the probes on this port.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    #: Serve the interactive API documentation (``/docs``).
    docs: bool = True
    #: Seconds between checks that the token of an open event stream is still valid.
    stream_recheck: float = Field(5.0, gt=0, le=300)
    #: Seconds a read trusts a token the store verified without asking it again (0: none).
    token_cache: float = Field(5.0, ge=0, le=60)
    #: Seconds after the store verified it that a token still reads while the store is down.
    token_outage_grace: float = Field(900.0, ge=0, le=86400)
    #: ``schedkit serve``: seconds a connection gets to send a request's headers.
    header_timeout: float = Field(10.0, gt=0, le=300)
    #: ``schedkit serve``: most connections waiting for their request's headers at once
    #: (and half the open-file limit); one more is closed as it comes.
    max_waiting_connections: int = Field(4096, ge=1)


#: The store of the design document's MongoDB jobstore when no URL is given anywhere.
