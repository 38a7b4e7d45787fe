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
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, Span, SpanKind, Status, StatusCode, Tracer
from pydantic import BaseModel, ConfigDict, Field

from schedkit.alerts.redact import redact
from schedkit.models import (
    JSON,
    ApiToken,
    AuditEvent,
    Lease,
    LogLine,
    Node,
    Run,
    RunFilter,
    RunStatus,
    Schedule,
    StateEntry,
    TaskStats,
)
from schedkit.store.base import Store
from schedkit.store.values import (
    FireRecord,
    LeaseFence,
    LostRun,
    RunFinish,
    RunRequeue,
    ScheduleAdvance,
)

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


#: Contract methods with a default implementation (so not abstract) that are traced too.
_BATCH_METHODS = frozenset({"finish_run"})


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

    # lifecycle
    async def open(self) -> None:
        await self._call("open", self.inner.open())

    async def close(self) -> None:
        await self._call("close", self.inner.close())

    async def ping(self) -> None:
        await self._call("ping", self.inner.ping())

    async def schema_version(self) -> int:
        return await self._call("schema_version", self.inner.schema_version())

    # schedules
    async def put_schedule(self, schedule: Schedule, *, expected_version: int) -> None:
        await self._call(
            "put_schedule", self.inner.put_schedule(schedule, expected_version=expected_version)
        )

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        return await self._call("get_schedule", self.inner.get_schedule(schedule_id))

    async def list_schedules(self, task_name: str | None = None) -> list[Schedule]:
        return await self._call("list_schedules", self.inner.list_schedules(task_name))

    async def delete_schedule(
        self, schedule_id: str, *, expected_version: int | None = None
    ) -> bool:
        return await self._call(
            "delete_schedule",
            self.inner.delete_schedule(schedule_id, expected_version=expected_version),
        )

    async def due_schedules(self, until: datetime, limit: int) -> list[Schedule]:
        return await self._call("due_schedules", self.inner.due_schedules(until, limit))

    async def due_schedule_keys(
        self, until: datetime, limit: int
    ) -> list[tuple[str, int, datetime]]:
        return await self._call("due_schedule_keys", self.inner.due_schedule_keys(until, limit))

    async def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        return await self._call("get_schedules", self.inner.get_schedules(schedule_ids))

    async def next_fire_time(self) -> datetime | None:
        return await self._call("next_fire_time", self.inner.next_fire_time())

    async def advance_schedules(self, advances: Sequence[ScheduleAdvance]) -> int:
        return await self._call("advance_schedules", self.inner.advance_schedules(advances))

    # runs
    async def insert_runs(self, runs: Sequence[Run]) -> list[str]:
        return await self._call("insert_runs", self.inner.insert_runs(runs))

    async def record_fires(
        self,
        runs: Sequence[Run],
        advances: Sequence[ScheduleAdvance],
        *,
        fence: LeaseFence | None,
        now: datetime,
    ) -> FireRecord:
        return await self._call(
            "record_fires", self.inner.record_fires(runs, advances, fence=fence, now=now)
        )

    async def get_run(self, run_id: str) -> Run | None:
        return await self._call("get_run", self.inner.get_run(run_id))

    async def list_runs(
        self, flt: RunFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Run]:
        return await self._call("list_runs", self.inner.list_runs(flt, limit=limit, offset=offset))

    async def count_runs(self, flt: RunFilter | None = None) -> int:
        return await self._call("count_runs", self.inner.count_runs(flt))

    async def active_runs(self, schedule_id: str) -> list[Run]:
        return await self._call("active_runs", self.inner.active_runs(schedule_id))

    async def active_runs_of(self, schedule_ids: Sequence[str]) -> dict[str, list[Run]]:
        return await self._call("active_runs_of", self.inner.active_runs_of(schedule_ids))

    async def claim_runs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        task_names: Sequence[str] | None = None,
    ) -> list[Run]:
        return await self._call(
            "claim_runs", self.inner.claim_runs(node_id, now, limit, task_names)
        )

    async def heartbeat_runs(self, node_id: str, run_ids: Sequence[str], now: datetime) -> set[str]:
        return await self._call("heartbeat_runs", self.inner.heartbeat_runs(node_id, run_ids, now))

    async def update_progress(self, run_id: str, progress: JSON) -> None:
        await self._call("update_progress", self.inner.update_progress(run_id, progress))

    async def finish_run(self, item: RunFinish) -> bool:
        return await self._call("finish_run", self.inner.finish_run(item))

    async def finish_runs(self, items: Sequence[RunFinish]) -> list[bool]:
        return await self._call("finish_runs", self.inner.finish_runs(items))

    async def requeue_run(self, item: RunRequeue) -> bool:
        return await self._call("requeue_run", self.inner.requeue_run(item))

    async def request_cancel(self, run_id: str, now: datetime, reason: str) -> Run | None:
        return await self._call("request_cancel", self.inner.request_cancel(run_id, now, reason))

    async def stale_runs(self, stale_before: datetime, limit: int) -> list[Run]:
        return await self._call("stale_runs", self.inner.stale_runs(stale_before, limit))

    async def lose_runs(self, items: Sequence[LostRun]) -> list[bool]:
        return await self._call("lose_runs", self.inner.lose_runs(items))

    async def purge_runs(self, finished_before: datetime) -> int:
        return await self._call("purge_runs", self.inner.purge_runs(finished_before))

    async def run_stats(self, since: datetime, task_name: str | None = None) -> list[TaskStats]:
        return await self._call("run_stats", self.inner.run_stats(since, task_name))

    # logs
    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        await self._call("append_logs", self.inner.append_logs(lines))

    async def get_logs(
        self, run_id: str, *, after_seq: int = -1, limit: int = 1000
    ) -> list[LogLine]:
        return await self._call(
            "get_logs", self.inner.get_logs(run_id, after_seq=after_seq, limit=limit)
        )

    # leases
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, now: datetime
    ) -> Lease | None:
        return await self._call("acquire_lease", self.inner.acquire_lease(name, holder, ttl, now))

    async def renew_lease(
        self, name: str, holder: str, term: int, ttl: float, now: datetime
    ) -> Lease | None:
        return await self._call("renew_lease", self.inner.renew_lease(name, holder, term, ttl, now))

    async def release_lease(self, name: str, holder: str) -> bool:
        return await self._call("release_lease", self.inner.release_lease(name, holder))

    async def get_lease(self, name: str) -> Lease | None:
        return await self._call("get_lease", self.inner.get_lease(name))

    # nodes
    async def upsert_node(self, node: Node) -> None:
        await self._call("upsert_node", self.inner.upsert_node(node))

    async def list_nodes(self) -> list[Node]:
        return await self._call("list_nodes", self.inner.list_nodes())

    async def delete_node(self, node_id: str) -> bool:
        return await self._call("delete_node", self.inner.delete_node(node_id))

    # audit
    async def add_audit(self, event: AuditEvent) -> None:
        await self._call("add_audit", self.inner.add_audit(event))

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        return await self._call(
            "list_audit",
            self.inner.list_audit(
                actor=actor, action=action, target=target, limit=limit, offset=offset
            ),
        )

    async def count_audit(
        self, *, actor: str | None = None, action: str | None = None, target: str | None = None
    ) -> int:
        return await self._call(
            "count_audit", self.inner.count_audit(actor=actor, action=action, target=target)
        )

    # tokens
    async def put_token(self, token: ApiToken) -> None:
        await self._call("put_token", self.inner.put_token(token))

    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        return await self._call("get_token_by_hash", self.inner.get_token_by_hash(token_hash))

    async def list_tokens(self) -> list[ApiToken]:
        return await self._call("list_tokens", self.inner.list_tokens())

    async def revoke_token(self, token_id: str) -> bool:
        return await self._call("revoke_token", self.inner.revoke_token(token_id))

    async def touch_token(self, token_id: str, now: datetime) -> None:
        await self._call("touch_token", self.inner.touch_token(token_id, now))

    # state
    async def list_state(self, prefix: str) -> list[StateEntry]:
        return await self._call("list_state", self.inner.list_state(prefix))

    async def get_state(self, key: str) -> StateEntry | None:
        return await self._call("get_state", self.inner.get_state(key))

    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        return await self._call("set_state", self.inner.set_state(key, value, expected_version))

    async def delete_state(self, key: str) -> None:
        await self._call("delete_state", self.inner.delete_state(key))


def _delegating(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: TracedStore, *args: Any, **kwargs: Any) -> Any:
        return await self._call(name, getattr(self.inner, name)(*args, **kwargs))

    method.__name__ = name
    return method


# The store contract may grow before this proxy is updated: delegate (and time) any
# abstract method it does not define yet, so a new method never breaks construction.
# tests/monitoring/test_tracing.py fails when this fallback is in use.
MISSING_METHODS = sorted(Store.__abstractmethods__ - set(vars(TracedStore)))
for _name in MISSING_METHODS:
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

    proxy = TracedStore(cast(Store, _Unbound(store)), tracer)
    proxy.observers.append(observer)
    names = sorted((Store.__abstractmethods__ | _BATCH_METHODS) - {"open", "close"})
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
    """One JSON object per record: time, level, logger, message, and ``run_id``,
    ``task_name``, ``attempt``, ``trace_id``, ``span_id`` when known.

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
        return json.dumps(data, ensure_ascii=False, default=str)
