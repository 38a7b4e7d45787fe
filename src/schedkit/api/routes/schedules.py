"""Schedules: list, read, delete, and validate-and-preview without saving."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path, Query, Response, status
from pydantic import JsonValue, PlainValidator

from schedkit import readmodels
from schedkit.api.auth import ActorDep
from schedkit.api.deps import LangDep, SchedulerDep
from schedkit.api.ratelimit import PreviewTurnDep, RunRateDep
from schedkit.api.routes.table import (
    Limit,
    Name,
    Offset,
    ScheduleBody,
    TaskFilterCheck,
    route,
)
from schedkit.api.schemas import (
    MAX_SCHEDULE_BATCH,
    BackfillRequest,
    ScheduleBatchCreated,
    ScheduleBatchItem,
    SchedulePage,
    ScheduleWarning,
)
from schedkit.errors import BackfillNotFoundError, ScheduleNotFoundError
from schedkit.service.bulk import entry_from_item
from schedkit.service.past_dates import noted
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
    _task_known: TaskFilterCheck,
    task: Name = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SchedulePage:
    """In id order, with the total count of the same filter. A ``task`` that is neither
    registered nor in the store is refused (422, with close names)."""
    schedules = await scheduler.list_schedules(task, limit=limit, offset=offset)
    return SchedulePage(
        items=await readmodels.schedule_views(scheduler, schedules, lang),
        total=await scheduler.count_schedules(task),
        limit=limit,
        offset=offset,
    )


#: A batch item, documented as ScheduleBatchItem but read by the service (any JSON passes
#: here): a schema error would refuse the request naming only the items it sees, and
#: the other items' faults would show only once those are fixed.
BatchItem = Annotated[
    JsonValue, PlainValidator(lambda item: item, json_schema_input_type=ScheduleBatchItem)
]


@route(
    "POST",
    "/schedules",
    role=Role.ADMIN,
    errors=(404, 409),
    summary="Create many schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleBatchCreated,
)
async def create_schedules(
    items: Annotated[
        list[BatchItem],
        Body(min_length=1, max_length=MAX_SCHEDULE_BATCH, description="The schedules."),
    ],
    scheduler: SchedulerDep,
    actor: ActorDep,
) -> ScheduleBatchCreated:
    """Creates every schedule of the list, or none: each item is validated first and a
    422 lists every bad one (``errors[].field`` starts with the item's index); an id
    already stored is a 422 of its item. At most 1,000 items (and
    ``api.max_body_size`` bytes) per request; ``schedkit schedule import`` takes files
    of any size."""
    entries = [entry_from_item(n, item) for n, item in enumerate(items)]
    with noted() as notes:
        created = await scheduler.add_schedules(entries, actor=actor, what="item")
    return ScheduleBatchCreated(
        created=len(created),
        ids=[s.id for s in created],
        warnings=[ScheduleWarning.of(n) for n in notes],
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
    (view,) = await readmodels.schedule_views(scheduler, [schedule], lang)
    return view


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
    errors=(429,),
    summary="Validate and preview a schedule",
    response_model=readmodels.SchedulePreview,
)
async def preview_schedule(
    config: ScheduleBody,
    scheduler: SchedulerDep,
    lang: LangDep,
    turn: PreviewTurnDep,
    count: Annotated[int, Query(ge=1, le=100, description="How many fire times.")] = 5,
    schedule_id: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The saved schedule this one would replace (an edit): with its "
            "trigger unchanged, the fires continue its stored series, as saving keeps it.",
        ),
    ] = None,
) -> readmodels.SchedulePreview:
    """Nothing is saved. 422 names the field at fault. ``complete`` is false when the
    search for fire times hit its time budget (a schedule that fires rarely or never).
    Without ``schedule_id`` (or for an unknown one) the fires are a new series from now.
    A caller's previews are searched one at a time, within ``api.preview_seconds`` of
    search per minute (429 with ``Retry-After`` past it)."""
    async with turn() as meter:
        return await readmodels.stored_preview(
            scheduler, config, count, lang, schedule_id=schedule_id, spent=meter.add
        )


@route(
    "POST",
    "/schedules/{schedule_id:schedkit_schedule_id}/backfill",
    role=Role.OPERATOR,
    errors=(404, 409, 429),
    summary="Backfill a past range",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=readmodels.BackfillView,
)
async def backfill_schedule(
    schedule_id: Annotated[str, Path(max_length=200)],
    body: BackfillRequest,
    scheduler: SchedulerDep,
    actor: ActorDep,
    _rate: RunRateDep,
) -> readmodels.BackfillView:
    """Creates a run (trigger source ``backfill``) for every fire of the schedule in the
    range that has none yet, at most ``concurrency`` running at once. Asking again
    creates nothing twice (``created`` 0). 422 when the range is empty or holds more
    fires than ``limits.max_backfill_fires``; 409 while an earlier backfill of another
    range of the schedule has unfinished runs (cancel it, or wait for it to finish).
    Each request counts as one run creation against ``api.run_rate`` (429)."""
    backfill = await scheduler.backfill(
        schedule_id, body.start, body.end, concurrency=body.concurrency, actor=actor
    )
    return readmodels.backfill_view(backfill, scheduler.tz)


@route(
    "GET",
    "/schedules/{schedule_id:schedkit_schedule_id}/backfill",
    role=Role.VIEWER,
    errors=(404,),
    summary="Progress of the latest backfill",
    response_model=readmodels.BackfillView,
)
async def backfill_status(
    schedule_id: Annotated[str, Path(max_length=200)], scheduler: SchedulerDep
) -> readmodels.BackfillView:
    """404 when the schedule was never backfilled."""
    backfill = await scheduler.backfill_status(schedule_id)
    if backfill is None:
        raise BackfillNotFoundError(schedule_id)
    return readmodels.backfill_view(backfill, scheduler.tz)


@route(
    "POST",
    "/schedules/{schedule_id:schedkit_schedule_id}/backfill/cancel",
    role=Role.OPERATOR,
    errors=(409,),
    summary="Cancel the latest backfill",
    response_model=readmodels.BackfillView,
)
async def cancel_backfill(
    schedule_id: Annotated[str, Path(max_length=200)], scheduler: SchedulerDep, actor: ActorDep
) -> readmodels.BackfillView:
    """Cancels its pending runs and asks its running ones to stop. 409 when there is none."""
    backfill = await scheduler.cancel_backfill(schedule_id, actor=actor)
    return readmodels.backfill_view(backfill, scheduler.tz)
