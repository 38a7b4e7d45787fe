"""OpenTelemetry traces of runs and store calls, and structured log lines.

* :meth:`Tracing.run_span` is a factory for ``Executor.run_wrappers``: one span per
  attempt (``schedkit.run <task>``) with the task, run id, attempt and, once the
  attempt's outcome is published, its status.
* :class:`TracedStore` wraps a :class:`~schedkit.store.Store`: every call is timed for
  the ``schedkit_store_operation_seconds`` metric and, inside a run's span, traced as a
  child span. Outside runs (polling, heartbeats) no span is made, so an idle scheduler
  does not flood the trace backend.
* :class:`JsonLogFormatter` writes one JSON object per log record with ``run_id``,
  ``task_name`` and ``attempt`` (set by schedkit on every record emitted inside a run)
  and the current trace / span ids.

Tracing is enabled when an OTLP endpoint is configured (``TracingSettings.otlp_endpoint``
or the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
variables); otherwise every tracer here is OpenTelemetry's no-op tracer.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, Span, SpanKind, Status, StatusCode, Tracer
from pydantic import BaseModel, ConfigDict, Field

from schedkit._controls import json_safe
from schedkit.logcapture import NODE_ATTR
from schedkit.models import (
    JSON,
    Run,
    RunStatus,
)
from schedkit.redaction import redact
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: Called after every store call: (operation, seconds, exception or None).
StoreObserver = Callable[[str, float, BaseException | None], None]

TRACER_NAME = "schedkit"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
#: A run span whose outcome never arrives (run taken away) is ended after this long.
ORPHAN_SPAN_AGE = 300.0


class TracingSettings(BaseModel):
    """The ``[tracing]`` section (proposed for ``SchedkitConfig``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: OTLP/HTTP traces endpoint, e.g. ``http://otel-collector:4318/v1/traces``. When
    #: unset, the standard OTEL_EXPORTER_OTLP_* variables are honoured.
    otlp_endpoint: str | None = None
    #: Extra request headers (values may name ``${ENV}`` variables, e.g. an API key).
    headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "schedkit"
    #: Seconds an export may take.
    timeout: float = Field(10.0, gt=0)

    @property
    def enabled(self) -> bool:
        return bool(self.otlp_endpoint) or any(os.environ.get(v) for v in _ENDPOINT_VARS)

    @classmethod
    def from_config(cls, config: Any) -> TracingSettings:
        """``config.tracing`` when the config has that section, else defaults (env)."""
        section = getattr(config, "tracing", None)
        if section is None:
            return cls()
        if isinstance(section, TracingSettings):
            return section
        data = section.model_dump() if isinstance(section, BaseModel) else dict(section)
        return cls.model_validate(data)


class Tracing:
    """The tracer schedkit uses, and the spans of runs in flight."""

    def __init__(
        self,
        settings: TracingSettings | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.settings = settings or TracingSettings()
        self._provider: Any = None
        if tracer_provider is not None:
            self.tracer: Tracer = tracer_provider.get_tracer(TRACER_NAME)
            self.enabled = True
        elif self.settings.enabled:
            self._provider = _otlp_provider(self.settings)
            self.tracer = self._provider.get_tracer(TRACER_NAME)
            self.enabled = True
        else:
            self.tracer = NoOpTracer()
            self.enabled = False
        self._open: dict[tuple[str, int], tuple[Span, float]] = {}

    @contextlib.asynccontextmanager
    async def run_span(self, run: Run) -> AsyncIterator[Span]:
        """One span per attempt; for ``Executor.run_wrappers``.

        The span stays the current span for the rest of the executor's task, so the
        store call recording the outcome is its child; it ends when the outcome event
        arrives (:meth:`end_run_span`), since the wrapper itself does not see it.
        """
        if not self.enabled:
            yield trace.INVALID_SPAN
            return
        span = self.tracer.start_span(
            f"schedkit.run {run.task_name}",
            kind=SpanKind.CONSUMER,
            attributes=_run_attributes(run),
        )
        otel_context.attach(trace.set_span_in_context(span))
        self._open[(run.id, run.attempt)] = (span, time.monotonic())
        try:
            yield span
        except BaseException as exc:
            self._open.pop((run.id, run.attempt), None)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise

    def end_run_span(
        self, run_id: str, attempt: int, status: RunStatus | str, error: JSON | None = None
    ) -> None:
        """End the span of the run's ``attempt`` with its outcome.

        ``status`` is the attempt's status, or ``"retrying"`` when the executor only
        reported that a retry follows (its event does not carry the attempt's error).
        """
        entry = self._open.pop((run_id, attempt), None)
        if entry is None:
            return
        span = entry[0]
        value = status.value if isinstance(status, RunStatus) else status
        span.set_attribute("schedkit.status", value)
        if status is RunStatus.SUCCESS:
            span.set_status(Status(StatusCode.OK))
        elif value in ("failed", "timeout", "lost", "retrying"):
            info = error or {}
            kind = str(info.get("type") or value)
            span.set_attribute("schedkit.error_type", kind)
            message = redact(str(info.get("message") or ""), limit=500)
            if message:
                span.set_attribute("schedkit.error_message", message)
            span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}" if message else kind))
        span.end()

    def sweep(self, max_age: float = ORPHAN_SPAN_AGE) -> int:
        """End spans whose outcome never came (the run was taken from this node)."""
        now = time.monotonic()
        stale = [key for key, (_, born) in self._open.items() if now - born > max_age]
        for key in stale:
            span, _ = self._open.pop(key)
            span.set_attribute("schedkit.status", "unknown")
            span.end()
        return len(stale)

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        if self._provider is None:
            return True
        return bool(self._provider.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.sweep(0)
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


def _otlp_provider(settings: TracingSettings) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from schedkit.alerts.channels import expand_url

    headers = {k: expand_url(v, os.environ, raw=True)[0] for k, v in settings.headers.items()}
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    exporter = OTLPSpanExporter(
        endpoint=settings.otlp_endpoint, headers=headers or None, timeout=settings.timeout
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _run_attributes(run: Run) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "schedkit.task": run.task_name,
        "schedkit.run_id": run.id,
        "schedkit.attempt": run.attempt,
        "schedkit.max_attempts": run.max_attempts,
        "schedkit.trigger_source": run.trigger_source.value,
        "schedkit.scheduled_for": run.scheduled_for.isoformat(),
    }
    if run.schedule_id is not None:
        attributes["schedkit.schedule_id"] = run.schedule_id
    if run.node_id is not None:
        attributes["schedkit.node_id"] = run.node_id
    return attributes


# -- the store proxy -------------------------------------------------------------------------


class TracedStore(Store):
    """A :class:`Store` that times every call and traces it inside a run's span.

    ``tracer`` and ``observers`` can be set after construction (the monitor does, when
    it starts). Attributes the wrapped store has beyond the contract are reached through
    it unchanged.
    """

    def __init__(self, inner: Store, tracer: Tracer | None = None) -> None:
        self.inner = inner
        self.tracer: Tracer = tracer or NoOpTracer()
        self.observers: list[StoreObserver] = []
        self.display_url = inner.display_url
        scheme = inner.display_url.split(":", 1)[0].split("+", 1)[0].lower()
        self._system = {"postgres": "postgresql", "mongodb+srv": "mongodb"}.get(scheme, scheme)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _call(self, op: str, call: Awaitable[T]) -> T:
        start = time.perf_counter()
        error: BaseException | None = None
        parent = trace.get_current_span()
        try:
            if parent.get_span_context().is_valid and parent.is_recording():
                with self.tracer.start_as_current_span(
                    f"schedkit.store.{op}",
                    kind=SpanKind.CLIENT,
                    attributes={"db.system": self._system, "db.operation": op},
                ):
                    return await call
            return await call
        except BaseException as exc:
            error = exc
            raise
        finally:
            elapsed = time.perf_counter() - start
            for observer in self.observers:
                try:
                    observer(op, elapsed, error)
                except Exception:
                    logger.exception("store observer failed")


def _delegating(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: TracedStore, *args: Any, **kwargs: Any) -> Any:
        return await self._call(name, getattr(self.inner, name)(*args, **kwargs))

    method.__name__ = name
    return method


#: Every coroutine method of the store contract (defaults included): each is timed.
STORE_METHODS = sorted(
    name
    # Every class of the contract (AdminStore's methods too): vars(Store) alone left
    # them undelegated, answered by the contract's empty bodies.
    for name in dir(Store)
    if not name.startswith("_") and inspect.iscoroutinefunction(getattr(Store, name))
)
# Generated from the contract rather than written out, so the proxy can never lag it.
for _name in STORE_METHODS:
    setattr(TracedStore, _name, _delegating(_name))
TracedStore.__abstractmethods__ = frozenset()


def observe_store(
    store: Store, observer: StoreObserver, tracer: Tracer | None = None
) -> Callable[[], None]:
    """Time (and trace) ``store``'s calls through ``observer``; returns an undo function.

    A :class:`TracedStore` gets the observer (and tracer) added. Any other store is
    instrumented in place, per instance: each contract method of *this object* is
    replaced by a timed wrapper, so every holder of the object (executor, scheduler
    loop, API) is covered. This is the stand-in until the service wraps its store in a
    TracedStore at construction; ``undo`` restores the class's methods.
    """
    if isinstance(store, TracedStore):
        previous = store.tracer
        if tracer is not None:
            store.tracer = tracer
        store.observers.append(observer)

        def undo_traced() -> None:
            if observer in store.observers:
                store.observers.remove(observer)
            store.tracer = previous

        return undo_traced

    # The contract's methods are generated onto TracedStore at import (mypy cannot see it).
    proxy = TracedStore(cast(Store, _Unbound(store)), tracer)  # type: ignore[abstract]
    proxy.observers.append(observer)
    names = [name for name in STORE_METHODS if name not in ("open", "close")]
    for name in names:
        wrapper = getattr(proxy, name)
        setattr(store, name, wrapper)

    def undo() -> None:
        for name in names:
            with contextlib.suppress(AttributeError):
                delattr(store, name)

    return undo


class _Unbound:
    """The original (class-level) methods of a store instrumented in place."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.display_url = store.display_url

    def __getattr__(self, name: str) -> Any:
        method = getattr(type(self._store), name)
        return method.__get__(self._store, type(self._store))


# -- structured logs ---------------------------------------------------------------------------


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and ``node_id`` (the
    schedkit node that made it), ``run_id``, ``task_name``, ``attempt``, ``trace_id``,
    ``span_id`` when known.

    Use with any handler, e.g. ``handler.setFormatter(JsonLogFormatter())``.
    """

    RUN_FIELDS: tuple[str, ...] = ("run_id", "task_name", "attempt")

    def __init__(self, extra_fields: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.extra_fields = dict(extra_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).astimezone().isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        node = getattr(record, NODE_ATTR, None)
        if node is not None:
            data["node_id"] = node
        for name in self.RUN_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            data["trace_id"] = f"{ctx.trace_id:032x}"
            data["span_id"] = f"{ctx.span_id:016x}"
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        data.update(self.extra_fields)
        # json.dumps escapes C0 controls; DEL, C1 and bidi controls would reach the
        # terminal of whoever tails the log raw.
        return json_safe(json.dumps(data, ensure_ascii=False, default=str))
