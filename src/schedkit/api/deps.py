"""Request-scoped dependencies routes share: the scheduler, the reader's language, the
idempotency key of a request that creates a run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request

from schedkit.errors import NotRunningError
from schedkit.limits import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY_CHARS
from schedkit.readmodels import Lang, negotiate_lang
from schedkit.service import Scheduler

__all__ = ["IdempotencyKey", "LangDep", "SchedulerDep", "get_scheduler", "request_lang"]


def get_scheduler(request: Request) -> Scheduler:
    """The scheduler on ``app.state.scheduler`` (set by the lifespan helpers)."""
    scheduler = getattr(request.app.state, "scheduler", None)
    if not isinstance(scheduler, Scheduler) or not scheduler.started:
        raise NotRunningError("the scheduler is not running (app.state.scheduler is not started)")
    return scheduler


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
