"""What a task sees while it runs: its :class:`TaskContext` (run, parameters, progress,
cancellation, workflow upstream results), reachable from anywhere in the run through
:func:`current_context`."""

from __future__ import annotations

import contextvars
import logging
import numbers
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from schedkit.models import TriggerSource
from schedkit.redaction import mask_values

#: The parent of the loggers that ``ctx.logger`` gives (``schedkit.task.<task name>``).
TASK_LOGGER = "schedkit.task"

_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "schedkit_task_context", default=None
)


def current_context() -> TaskContext | None:
    """The context of the run executing in this task/thread, or None outside a run."""
    return _current.get()


class TaskContext:
    """What a running task can reach without changing ``execute(**kwargs)``:
    ``self.context`` inside a BaseTask, ``schedkit.current_context()`` anywhere, or a
    ``ctx`` parameter of a ``@task`` function.

    Thread-safe: a sync task in the thread pool may call :meth:`progress` and read
    :attr:`cancelled` while the event loop owns the run.
    """

    def __init__(
        self,
        *,
        run_id: str,
        task_name: str,
        schedule_id: str | None,
        scheduled_for: datetime,
        attempt: int,
        kwargs: Mapping[str, Any],
        trigger_source: TriggerSource = TriggerSource.MANUAL,
        config: Mapping[str, Any] | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        workflow: Mapping[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.task_name = task_name
        self.schedule_id = schedule_id
        self.scheduled_for = scheduled_for
        self.attempt = attempt
        self.kwargs = dict(kwargs)
        self.trigger_source = trigger_source
        self.config: dict[str, Any] = dict(config or {})
        #: For a workflow step: ``run_id``, ``workflow``, ``step``, ``params`` (the
        #: workflow run's) and ``upstream``; None for a run outside a workflow.
        self.workflow: dict[str, Any] | None = dict(workflow) if workflow else None
        self._on_progress = on_progress
        #: The values of the run's secret parameters (schedkit.redaction.secret_values),
        #: masked in the text the run records: log lines, progress notes, its error.
        self.secret_values: frozenset[str] = frozenset()
        # A plain flag, not a threading.Event: nothing waits on it, the task's thread
        # only reads it, and one attribute write is atomic (the reason is set first).
        self._cancelled = False
        self.cancel_reason: str | None = None

    @property
    def logger(self) -> logging.Logger:
        """The task's logger, ``schedkit.task.<task name>``."""
        return logging.getLogger(f"{TASK_LOGGER}.{self.task_name}")

    @property
    def upstream(self) -> dict[str, Any]:
        """For a workflow step, each upstream step's outcome by step name:
        ``{"status": "success", "result": {"success": ..., "data": ...}}``; else empty."""
        return dict((self.workflow or {}).get("upstream") or {})

    def upstream_data(self, step: str) -> Any:
        """The ``data`` an upstream step returned (None if it returned none)."""
        result = (self.upstream.get(step) or {}).get("result") or {}
        return result.get("data")

    def progress(self, done: float, total: float | None = None, note: str | None = None) -> None:
        """Report progress (e.g. ``ctx.progress(120, 200, "customers")``). Numbers of
        other types (numpy's, ``Decimal``, ``Fraction``) are stored as an int or float."""
        if self._on_progress is not None:
            if isinstance(note, str):
                note = mask_values(note, self.secret_values)
            self._on_progress({"done": _plain(done), "total": _plain(total), "note": note})

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled or timed out; long sync loops should check it."""
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        if self._cancelled:
            raise RunCancelledError(self.cancel_reason or "cancelled")

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        self._cancelled = True

    def activate(self) -> contextvars.Token[TaskContext | None]:
        return _current.set(self)

    @staticmethod
    def deactivate(token: contextvars.Token[TaskContext | None]) -> None:
        _current.reset(token)


def _plain(value: Any) -> Any:
    """``value`` as Python's int or float if it is a number of another type (JSON has no
    form for numpy's ``int64``); anything else as given, for the run's feed to judge."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real | Decimal):
        return float(value)
    return value


class RunCancelledError(Exception):
    """Raised inside a task by :meth:`TaskContext.raise_if_cancelled`: its run was
    cancelled (or timed out). Let it propagate. Not a :class:`~schedkit.errors.SchedkitError`,
    an ``except SchedkitError`` around schedkit calls in the task lets it through; an
    ``except Exception`` catches it: re-raise it there (``except RunCancelledError:
    raise`` first). Swallowed, it stops nothing: the task's code goes on working while
    its run is recorded ``cancelled`` (or ``timeout``)."""
