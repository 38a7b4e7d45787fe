"""Request-scoped dependencies every route shares: the scheduler and the reader's language."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request

from schedkit.errors import NotRunningError
from schedkit.readmodels import Lang, negotiate_lang
from schedkit.service import Scheduler

__all__ = ["LangDep", "SchedulerDep", "get_scheduler", "request_lang"]


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
