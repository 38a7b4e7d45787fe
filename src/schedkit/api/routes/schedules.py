"""Schedules: list, read, delete, and validate-and-preview without saving."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response, status

from schedkit import readmodels
from schedkit.api.auth import ActorDep
from schedkit.api.deps import LangDep, SchedulerDep
from schedkit.api.routes.table import Limit, Name, Offset, ScheduleBody, route
from schedkit.api.schemas import SchedulePage
from schedkit.errors import ScheduleNotFoundError
from schedkit.tokens import Role


@route(
    "GET",
    "/schedules",
    role=Role.VIEWER,
    summary="List schedules",
    response_model=SchedulePage,
)
async def list_schedules(
    scheduler: SchedulerDep,
    lang: LangDep,
    task: Name = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SchedulePage:
    """In id order, with the total count of the same filter."""
    schedules = await scheduler.list_schedules(task, limit=limit, offset=offset)
    return SchedulePage(
        items=[readmodels.schedule_view(s, scheduler.tz, lang) for s in schedules],
        total=await scheduler.count_schedules(task),
        limit=limit,
        offset=offset,
    )


@route(
    "GET",
    "/schedules/{schedule_id:schedkit_schedule_id}",
    role=Role.VIEWER,
    errors=(404,),
    summary="One schedule",
    response_model=readmodels.ScheduleView,
)
async def get_schedule(
    schedule_id: Annotated[str, Path(max_length=200)], scheduler: SchedulerDep, lang: LangDep
) -> readmodels.ScheduleView:
    schedule = await scheduler.get_schedule(schedule_id)
    if schedule is None:
        raise ScheduleNotFoundError(schedule_id)
    return readmodels.schedule_view(schedule, scheduler.tz, lang)


@route(
    "DELETE",
    "/schedules/{schedule_id:schedkit_schedule_id}",
    role=Role.ADMIN,
    errors=(404,),
    summary="Delete a schedule",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_schedule(
    schedule_id: Annotated[str, Path(max_length=200)], scheduler: SchedulerDep, actor: ActorDep
) -> None:
    await scheduler.delete_schedule(schedule_id, actor=actor)


@route(
    "POST",
    "/schedules/preview",
    role=Role.VIEWER,
    summary="Validate and preview a schedule",
    response_model=readmodels.SchedulePreview,
)
async def preview_schedule(
    config: ScheduleBody,
    scheduler: SchedulerDep,
    lang: LangDep,
    count: Annotated[int, Query(ge=1, le=100, description="How many fire times.")] = 5,
) -> readmodels.SchedulePreview:
    """Nothing is saved. 422 names the field at fault. ``complete`` is false when the
    search for fire times hit its time budget (a schedule that fires rarely or never)."""
    return await readmodels.stored_preview(scheduler, config, count, lang)
