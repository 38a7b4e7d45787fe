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
variables) and ``OTEL_TRACES_EXPORTER`` is not ``none``; otherwise every tracer here is
OpenTelemetry's no-op tracer. One provider serves the process (see :func:`_provider_for`):
the spans the task code opens, through ``opentelemetry.trace``, are its run span's
children only if schedkit's provider is the global one, or schedkit uses the global one.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import json
import logging
import os
import threading
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
#: ``service.name`` when neither the settings nor OTEL_SERVICE_NAME /
#: OTEL_RESOURCE_ATTRIBUTES name the service.
DEFAULT_SERVICE_NAME = "schedkit"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
#: A run span whose outcome never arrives (run taken away) is ended after this long.
ORPHAN_SPAN_AGE = 300.0
#: Longest wait for the last spans at a stop, and again at the process's exit. The SDK's
#: own waits are unbounded in practice: against a collector that accepts connections and
#: never answers, an idle node took 17.5 s to exit and a shutdown with 2,000 spans
#: queued 30 s, past the stop bound of deployment.md.
STOP_WAIT = 1.0


class TracingSettings(BaseModel):
    """The ``[tracing]`` section (proposed for ``SchedkitConfig``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: OTLP/HTTP traces endpoint, e.g. ``http://otel-collector:4318/v1/traces``. When
    #: unset, the standard OTEL_EXPORTER_OTLP_* variables are honoured.
    otlp_endpoint: str | None = None
    #: Extra request headers (values may name ``${ENV}`` variables, e.g. an API key).
    headers: dict[str, str] = Field(default_factory=dict)
    #: ``service.name`` of the spans; unset: OTEL_SERVICE_NAME, else ``service.name`` in
    #: OTEL_RESOURCE_ATTRIBUTES, else :data:`DEFAULT_SERVICE_NAME`.
    service_name: str | None = None
    #: Seconds an export may take.
    timeout: float = Field(10.0, gt=0)

    @property
    def enabled(self) -> bool:
        if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
            return False
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
        off: bool = False,
    ) -> None:
        """``off``: no spans whatever the settings (a monitor's tracing until it starts:
        made earlier, it set the process's provider with settings not yet its own)."""
        self.settings = settings or TracingSettings()
        #: The provider this object flushes at its shutdown (schedkit's global one) or
        #: shuts down (its own), None when the provider is not schedkit's.
        self._provider: Any = None
        self._owned = False
        self.enabled = not off and (tracer_provider is not None or self.settings.enabled)
        if not self.enabled:
            self.tracer: Tracer = NoOpTracer()
        elif tracer_provider is not None:
            self.tracer = tracer_provider.get_tracer(TRACER_NAME)
        else:
            provider, kind = _provider_for(self.settings)
            if kind != "host":
                self._provider, self._owned = provider, kind == "owned"
            self.tracer = provider.get_tracer(TRACER_NAME)
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
        self,
        run_id: str,
        attempt: int,
        status: RunStatus | str,
        error: JSON | None = None,
        reason: str | None = None,
    ) -> None:
        """End the span of the run's ``attempt`` with its outcome.

        ``status`` is the attempt's status, or ``"retrying"`` for a failed or timed-out
        attempt a retry follows (``error`` its error). Span status: OK for a success,
        ERROR for a failure, timeout, loss or retry; a cancel (someone's decision, or the
        node's stop, not the task failing) leaves it unset, with ``reason`` saying why.
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
        elif status is RunStatus.CANCELLED and reason:
            span.set_attribute("schedkit.cancel_reason", redact(reason, limit=500))
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
        """Send the spans ended so far; whether that ended within ``timeout_millis``."""
        if self._provider is None:
            return True
        return _within(timeout_millis / 1000, self._provider.force_flush) is None

    def shutdown(self) -> None:
        """End the open spans and send them, waiting at most :data:`STOP_WAIT`. The
        process's provider stays (a node started again in this process uses it); it is
        shut down at exit."""
        self.sweep(0)
        provider, self._provider = self._provider, None
        if provider is None:
            return
        left = _within(STOP_WAIT, provider.shutdown if self._owned else provider.force_flush)
        if left is None:
            return
        if not self._owned:
            global _flushing
            _flushing = left
        logger.warning(
            "tracing: the collector did not take the last spans within %g s of the stop; "
            "the stop goes on without them",
            STOP_WAIT,
        )


#: schedkit's provider set as the process's global one, and the settings it was made of.
_installed: tuple[TracingSettings, Any] | None = None
_installed_lock = threading.Lock()
#: A flush at a stop that did not end in time: the exit does not wait for the collector.
_flushing: threading.Thread | None = None


def _provider_for(settings: TracingSettings) -> tuple[Any, str]:
    """The provider of schedkit's spans and whose it is: ``"global"`` (schedkit's, set as
    the process's global provider: spans of the task code and of instrumented libraries
    go through it too), ``"host"`` (the application set a global provider first:
    schedkit's spans go through it, the settings are not used) or ``"owned"`` (other
    settings than the global schedkit provider's: a provider of this node's own).

    The global provider cannot be replaced (OpenTelemetry ignores a second
    ``set_tracer_provider``), so schedkit's lives as long as the process, shared by the
    nodes started in it with the same settings."""
    global _installed
    with _installed_lock:
        current = trace.get_tracer_provider()
        if _installed is not None and current is _installed[1]:
            if _installed[0] == settings:
                return current, "global"
            logger.warning(
                "tracing: this process's spans already go to %s; a node with other "
                "[tracing] settings exports its own spans with them, and the spans its "
                "tasks open go with the process's",
                _installed[0].otlp_endpoint or "the OTEL_EXPORTER_OTLP_* endpoint",
            )
            return _otlp_provider(settings), "owned"
        if isinstance(current, trace.ProxyTracerProvider):
            provider = _otlp_provider(settings)
            trace.set_tracer_provider(provider)
            if trace.get_tracer_provider() is provider:
                if _installed is None:
                    atexit.register(_shutdown_at_exit)
                _installed = (settings, provider)
                return provider, "global"
            provider.shutdown()  # another thread set one meanwhile: it is the host's
            current = trace.get_tracer_provider()
    logger.info(
        "tracing: the application set a tracer provider: schedkit's spans go through it "
        "([tracing] otlp_endpoint, headers, service_name and timeout are not used)"
    )
    return current, "host"


def _shutdown_at_exit() -> None:
    if _installed is None or (_flushing is not None and _flushing.is_alive()):
        return
    # Python 3.12.1 refuses a thread in an exit handler: the spans ended since the last
    # stop are dropped then, rather than the exit waiting on the collector unbounded.
    with contextlib.suppress(RuntimeError):
        _within(STOP_WAIT, _installed[1].shutdown)


def _within(seconds: float, call: Callable[[], object]) -> threading.Thread | None:
    """Run ``call`` on a daemon thread for at most ``seconds``: None once it ended, else
    the thread, left to end with the process (the exporter's request to a collector that
    does not answer lasts its whole timeout, a shutdown then 30 s)."""
    thread = threading.Thread(target=call, name="schedkit-tracing-flush", daemon=True)
    thread.start()
    thread.join(seconds)
    return thread if thread.is_alive() else None


def _otlp_provider(settings: TracingSettings) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from schedkit.alerts.channels import expand_url

    headers = {k: expand_url(v, os.environ, raw=True)[0] for k, v in settings.headers.items()}
    # Shut down by schedkit, within STOP_WAIT: the SDK's own exit handler waits up to 30 s.
    provider = TracerProvider(resource=_resource(settings), shutdown_on_exit=False)
    exporter = OTLPSpanExporter(
        endpoint=settings.otlp_endpoint, headers=headers or None, timeout=settings.timeout
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _resource(settings: TracingSettings) -> Any:
    """``service.name``: the settings', else the environment's (OTEL_SERVICE_NAME before
    OTEL_RESOURCE_ATTRIBUTES, the SDK's order), else :data:`DEFAULT_SERVICE_NAME`. The
    other OTEL_RESOURCE_ATTRIBUTES are kept."""
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    if settings.service_name:
        return Resource.create({SERVICE_NAME: settings.service_name})
    if OTELResourceDetector().detect().attributes.get(SERVICE_NAME):
        return Resource.create()
    return Resource.create({SERVICE_NAME: DEFAULT_SERVICE_NAME})


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
