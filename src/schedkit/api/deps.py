"""Request-scoped dependencies routes share: the scheduler, the reader's language, the
idempotency key of a request that creates a run."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, Header, Query, Request

from schedkit.errors import NotRunningError
from schedkit.limits import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY_CHARS
from schedkit.readmodels import Lang, negotiate_lang
from schedkit.service import Scheduler

if TYPE_CHECKING:
    from schedkit.monitor import Monitor

__all__ = [
    "NO_MONITOR",
    "IdempotencyKey",
    "LangDep",
    "SchedulerDep",
    "get_scheduler",
    "node_monitor",
    "request_lang",
]


def get_scheduler(request: Request) -> Scheduler:
    """The scheduler on ``app.state.scheduler`` (set by the lifespan helpers); one still
    waiting for its store says so (``scheduler.store_wait``)."""
    scheduler = getattr(request.app.state, "scheduler", None)
    if not isinstance(scheduler, Scheduler) or not scheduler.started:
        if isinstance(scheduler, Scheduler) and scheduler.store_wait is not None:
            raise scheduler.store_wait.not_started()
        raise NotRunningError("the scheduler is not running (app.state.scheduler is not started)")
    return scheduler


#: Why a node answers no monitoring (``/metrics``, ``/alerts/status``: 503).
NO_MONITOR = "this node's scheduler has no Monitor extension (Scheduler(extensions=[Monitor()]))"


def node_monitor(scheduler: Scheduler) -> Monitor | None:
    """The scheduler's Monitor extension; None without one.

    Not imported here: schedkit.monitor needs the alerts extra (prometheus-client), which
    the API does not. A Monitor exists only once its module is imported, so a module not
    imported yet means no Monitor.
    """
    module = sys.modules.get("schedkit.monitor")
    return None if module is None else module.find_monitor(scheduler)


def request_lang(
    lang: Annotated[
        Literal["en", "zh"] | None,
        Query(description="Language of texts such as schedule descriptions."),
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Lang:
    """``?lang=`` if given, else the ``Accept-Language`` header (zh/en), else English."""
    return negotiate_lang(lang, accept_language)


SchedulerDep = Annotated[Scheduler, Depends(get_scheduler)]
LangDep = Annotated[Lang, Depends(request_lang)]
#: The ``Idempotency-Key`` header of a request that creates a run (docs/api.md).
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=MAX_IDEMPOTENCY_KEY_CHARS,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Makes a repeated request safe: the run created by the first request "
        "with this key (for this task) is answered again, not a new one, while the run is "
        "kept in the history. The same key with other kwargs: 409.",
    ),
]
