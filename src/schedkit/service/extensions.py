"""The extensions a node starts: those given, those the configuration names by import
path (``extensions = ["proj.celery:bridge"]``), and a monitor when none was given; and
the façade's hooks they use (:class:`ExtensionHooks`)."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from schedkit.config import SchedkitConfig
from schedkit.engine.executor import Executor
from schedkit.engine.handoff import Sender
from schedkit.errors import ConfigError
from schedkit.extension import Extension, RunWrapper, StoreObserver
from schedkit.models import Run
from schedkit.store import Store

logger = logging.getLogger(__name__)


def node_extensions(
    config: SchedkitConfig, given: Iterable[Extension], is_node: bool
) -> list[Extension]:
    """``given``, then the configured ones, then (on a node) a default monitor."""
    extensions = list(given)
    extensions.extend(load_extension(ref) for ref in config.extensions)
    if is_node:
        extensions.extend(_default_extensions(extensions, config))
    return extensions


def load_extension(ref: str) -> Extension:
    """The object at the import path ``module:attribute`` (config ``extensions``);
    ConfigError when it cannot be imported or is not an extension."""
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"extension {ref!r}: expected 'module:attribute'")
    try:
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"extension {ref!r} cannot be loaded: {exc}") from exc
    if not callable(getattr(found, "start", None)) or not callable(getattr(found, "stop", None)):
        raise ConfigError(f"extension {ref!r} has no start(host) and stop() methods")
    return cast(Extension, found)


def _default_extensions(given: Sequence[Extension], config: SchedkitConfig) -> list[Extension]:
    """A monitor (metrics, alerts, traces) for every node that has none, when its extra
    is installed. Without it, configured alerts are an error: a node that starts would
    send none, and said so only at INFO."""
    try:
        from schedkit.monitor import Monitor
    except ImportError as exc:  # the "alerts" extra (prometheus-client, apprise) is absent
        if config.alerts.enabled and config.alerts.channels:
            raise alerts_extra_missing(exc) from None
        logger.info("no monitor (metrics, alerts, traces): %s", exc)
        return []
    return [] if any(isinstance(e, Monitor) for e in given) else [Monitor()]


def alerts_extra_missing(exc: ImportError) -> ConfigError:
    """The error of alerts configured (enabled, with channels) on an install without
    their extra: a node refuses to start, ``schedkit check`` reports it."""
    return ConfigError(
        f"alerts are on but the alerts extra is not installed ({exc}): "
        "pip install 'schedkit[alerts]', or set alerts.enabled = false"
    )


class ExtensionHooks:
    """The :class:`~schedkit.Scheduler`'s methods for extensions: around the runs
    executed here, other executors, watching the store."""

    store: Store
    _executor: Executor

    def _require_started(self) -> None:
        raise NotImplementedError  # the Scheduler's

    def add_run_wrapper(self, wrapper: RunWrapper) -> Callable[[], None]:
        """Enter ``wrapper(run)`` around every attempt executed here; returns a remover."""
        wrappers = self._executor.run_wrappers
        wrappers.append(wrapper)
        return lambda: _discard(wrappers, wrapper)

    def add_executor(self, name: str, send: Sender) -> Callable[[], None]:
        """Hand runs of tasks with ``executor = name`` to ``send`` (given each claimable
        run, e.g. to send a Celery message); returns a remover. See docs/celery.md."""
        return self._executor.handoff.add(name, send)

    async def execute_handed_off(self, run_id: str, task_name: str) -> Run | None:
        """A worker's end of a hand-off: claim the run and execute it here, as any run;
        the run as the attempt left it, or None if not claimable (a duplicate message)."""
        self._require_started()
        return await self._executor.execute_one(run_id, task_name)

    def observe_store(self, observer: StoreObserver, tracer: Any = None) -> Callable[[], None]:
        """Time (and with ``tracer``, trace) every store call; returns an undo function."""
        from schedkit.tracing import observe_store

        return observe_store(self.store, observer, tracer)


def _discard(items: list[Any], item: Any) -> None:
    with contextlib.suppress(ValueError):
        items.remove(item)
