"""The management API's routes: thin translations between HTTP and the service façade.

Routes are declared on a :class:`RouteTable` with the minimum role each needs;
:func:`create_router` turns the table into an ``APIRouter`` guarded by a given
authenticator (API tokens standalone, the host's user dependency when embedded).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.convertors import StringConvertor, register_url_convertor

from schedkit import tokens, views
from schedkit.api.auth import ActorDep, Authenticator, require_role
from schedkit.api.deps import LangDep, SchedulerDep
from schedkit.api.problems import problem_responses
from schedkit.api.routing import ProblemRoute
from schedkit.api.schemas import (
    SCHEDULE_BODY_EXAMPLES,
    AuditPage,
    CancelRequest,
    ExecuteRequest,
    Health,
    LogPage,
    PauseRequest,
    Readiness,
    RunAccepted,
    RunPage,
    ScheduleResponse,
    TaskSchedules,
    TokenCreated,
    TokenCreateRequest,
    UtcDatetime,
)
from schedkit.errors import ConflictError, ScheduleNotFoundError, ValidationError
from schedkit.models import Run, RunStatus, TriggerSource
from schedkit.service import Scheduler
from schedkit.tokens import Role

__all__ = ["DEFAULT_PREFIX", "ROUTES", "RouteTable", "create_router"]

DEFAULT_PREFIX = "/api/v1/scheduler"

# -- the route table ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteSpec:
    method: str
    path: str
    endpoint: Callable[..., Any]
    role: Role | None
    errors: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


class RouteTable:
    """Routes with the role each requires (``None``: open, e.g. health checks)."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        role: Role | None,
        errors: Sequence[int] = (),
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.specs.append(
                RouteSpec(
                    method=method,
                    path=path,
                    endpoint=endpoint,
                    role=role,
                    errors=tuple(errors),
                    options=options,
                )
            )
            return endpoint

        return register


ROUTES = RouteTable()
route = ROUTES.route

# Query parameters shared by several routes.
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
Name = Annotated[str | None, Query(max_length=200)]
TaskName = Annotated[str, Path(max_length=200, description="The task's unique name.")]
RunId = Annotated[str, Path(max_length=100)]
ScheduleBody = Annotated[
    dict[str, Any] | str,
    Body(
        description=(
            "A schedule: the design document's flat dict (`trigger` cron/interval/date plus "
            "its fields and policies), the nested spec (`trigger` object plus "
            "`misfire_grace_time`, `max_instances`, `coalesce`, `overlap`, `timeout`, "
            "`kwargs`), or a crontab string."
        ),
        openapi_examples=SCHEDULE_BODY_EXAMPLES,
    ),
]
SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"


class _ScheduleIdConvertor(StringConvertor):
    """A schedule id in a path: any segment but ``preview``, so that ``/schedules/preview``
    belongs to the preview route alone (GET on it is a 405, not "unknown schedule")."""

    regex = r"(?!preview/?$)[^/]+"


register_url_convertor("schedkit_schedule_id", _ScheduleIdConvertor())

# -- health ------------------------------------------------------------------------------


@route("GET", "/health", role=None, summary="Liveness", response_model=Health)
async def health() -> Health:
    """Answers as long as the process serves requests."""
    return Health()


@route("GET", "/ready", role=None, errors=(503,), summary="Readiness", response_model=Readiness)
async def ready(scheduler: SchedulerDep) -> Readiness:
    """Ready when the scheduler is started and the store answers; ``scheduler`` tells
    whether this node fires schedules (holds the lease) or stands by."""
    await scheduler.store.ping()
    if not scheduler.config.scheduler.enabled:
        return Readiness(node_id=scheduler.node_id, scheduler="disabled")
    return Readiness(
        node_id=scheduler.node_id, scheduler="leader" if scheduler.is_leader else "standby"
    )


# -- tasks -------------------------------------------------------------------------------


@route(
    "GET", "/tasks", role=Role.VIEWER, summary="List tasks", response_model=list[views.TaskSummary]
)
async def list_tasks(
    scheduler: SchedulerDep,
    lang: LangDep,
    category: Name = None,
    tags: Annotated[
        str | None, Query(max_length=1000, description="Comma-separated; any tag matches.")
    ] = None,
) -> list[views.TaskSummary]:
    wanted = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    return await views.task_summaries(scheduler, scheduler.list_tasks(category, wanted), lang)


@route(
    "GET",
    "/tasks/{task_name}",
    role=Role.VIEWER,
    errors=(404,),
    summary="Task detail",
    response_model=views.TaskDetail,
)
async def get_task(task_name: TaskName, scheduler: SchedulerDep, lang: LangDep) -> views.TaskDetail:
    return await views.task_detail(scheduler, task_name, lang)


@route(
    "POST",
    "/tasks/{task_name}/execute",
    role=Role.OPERATOR,
    errors=(404,),
    summary="Run a task now",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    responses={200: {"model": RunAccepted, "description": "Waited for, and finished."}},
)
async def execute_task(
    task_name: TaskName,
    scheduler: SchedulerDep,
    actor: ActorDep,
    response: Response,
    body: ExecuteRequest | None = None,
    wait: Annotated[bool, Query(description="Wait for the run to finish.")] = False,
    timeout: Annotated[
        float, Query(gt=0, le=3600, description="Seconds to wait at most (with wait).")
    ] = 30.0,
) -> RunAccepted:
    """Creates a manual run (kwargs validated first) and answers 202 with its id; with
    ``?wait=true`` answers 200 with the finished run (its result) or 202 on timeout."""
    run = await scheduler.run_now(
        task_name, body.kwargs if body else None, wait=wait, timeout=timeout, actor=actor
    )
    if run.status.finished:
        response.status_code = status.HTTP_200_OK
    return _accepted(run, scheduler)


@route(
    "POST",
    "/tasks/{task_name}/schedule",
    role=Role.ADMIN,
    errors=(404, 409),
    summary="Set a task's schedule",
    response_model=ScheduleResponse,
)
async def schedule_task(
    task_name: TaskName,
    config: ScheduleBody,
    scheduler: SchedulerDep,
    actor: ActorDep,
    lang: LangDep,
    schedule_id: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=SCHEDULE_ID_PATTERN,
            description="Schedule to create or replace (default: the task's own).",
        ),
    ] = None,
) -> ScheduleResponse:
    """Validates, saves (replacing the schedule with the same id) and answers with the
    next 5 fire times. The document's dict shape and the richer spec are both accepted."""
    if schedule_id == "preview":
        raise ValidationError(
            "'preview' is reserved (POST /schedules/preview)", field="schedule_id"
        )
    if schedule_id is not None:
        existing = await scheduler.get_schedule(schedule_id)
        if existing is not None and existing.task_name != task_name:
            raise ConflictError(f"schedule {schedule_id!r} belongs to task {existing.task_name!r}")
    # Validates first (422 naming the field), without holding the event loop.
    preview = await asyncio.to_thread(views.schedule_preview, scheduler, config, 5, lang)
    schedule = await scheduler.add_task(task_name, config, schedule_id=schedule_id, actor=actor)
    return ScheduleResponse(
        schedule=views.schedule_view(schedule, scheduler.tz, lang),
        next_fire_times=preview.fire_times,
        next_fire_times_local=[f.astimezone(scheduler.tz) for f in preview.fire_times],
    )


@route(
    "DELETE",
    "/tasks/{task_name}/schedule",
    role=Role.ADMIN,
    errors=(404,),
    summary="Remove every schedule of a task",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def unschedule_task(task_name: TaskName, scheduler: SchedulerDep, actor: ActorDep) -> None:
    """The task stays registered and can still be run by hand; its history is kept."""
    scheduler.get_task(task_name)
    if not await scheduler.remove_task(task_name, actor=actor):
        raise ScheduleNotFoundError(task_name)


@route(
    "POST",
    "/tasks/{task_name}/pause",
    role=Role.OPERATOR,
    errors=(404,),
    summary="Pause a task's schedules",
    response_model=TaskSchedules,
)
async def pause_task(
    task_name: TaskName,
    scheduler: SchedulerDep,
    actor: ActorDep,
    lang: LangDep,
    body: PauseRequest | None = None,
) -> TaskSchedules:
    schedules = await scheduler.pause_task(task_name, body.note if body else None, actor=actor)
    return TaskSchedules(
        task_name=task_name,
        schedules=[views.schedule_view(s, scheduler.tz, lang) for s in schedules],
    )


@route(
    "POST",
    "/tasks/{task_name}/resume",
    role=Role.OPERATOR,
    errors=(404, 409),
    summary="Resume a paused task",
    response_model=TaskSchedules,
)
async def resume_task(
    task_name: TaskName, scheduler: SchedulerDep, actor: ActorDep, lang: LangDep
) -> TaskSchedules:
    """409 when the task is not paused. Fires that fell in the pause are not run."""
    schedules = await scheduler.resume_task(task_name, actor=actor)
    return TaskSchedules(
        task_name=task_name,
        schedules=[views.schedule_view(s, scheduler.tz, lang) for s in schedules],
    )


@route(
    "GET",
    "/tasks/{task_name}/history",
    role=Role.VIEWER,
    errors=(404,),
    summary="A task's runs",
    response_model=RunPage,
)
async def task_history(
    task_name: TaskName, scheduler: SchedulerDep, limit: Limit = 50, offset: Offset = 0
) -> RunPage:
    scheduler.get_task(task_name)
    return await _run_page(scheduler, task_name, limit=limit, offset=offset)


async def _run_page(
    scheduler: Scheduler, task: str | None, *, limit: int, offset: int, **query: Any
) -> RunPage:
    """One page of history, newest first, with the total count of the same filter."""
    runs = await scheduler.list_runs(task, limit=limit, offset=offset, **query)
    return RunPage(
        items=[views.run_view(r, scheduler.tz) for r in runs],
        total=await scheduler.count_runs(task, **query),
        limit=limit,
        offset=offset,
    )


# -- schedules ---------------------------------------------------------------------------


@route(
    "GET",
    "/schedules",
    role=Role.VIEWER,
    summary="List schedules",
    response_model=list[views.ScheduleView],
)
async def list_schedules(
    scheduler: SchedulerDep, lang: LangDep, task: Name = None
) -> list[views.ScheduleView]:
    return [
        views.schedule_view(s, scheduler.tz, lang) for s in await scheduler.list_schedules(task)
    ]


@route(
    "GET",
    "/schedules/{schedule_id:schedkit_schedule_id}",
    role=Role.VIEWER,
    errors=(404,),
    summary="One schedule",
    response_model=views.ScheduleView,
)
async def get_schedule(
    schedule_id: Annotated[str, Path(max_length=200)], scheduler: SchedulerDep, lang: LangDep
) -> views.ScheduleView:
    schedule = await scheduler.get_schedule(schedule_id)
    if schedule is None:
        raise ScheduleNotFoundError(schedule_id)
    return views.schedule_view(schedule, scheduler.tz, lang)


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
    response_model=views.SchedulePreview,
)
async def preview_schedule(
    config: ScheduleBody,
    scheduler: SchedulerDep,
    lang: LangDep,
    count: Annotated[int, Query(ge=1, le=100, description="How many fire times.")] = 5,
) -> views.SchedulePreview:
    """Nothing is saved. 422 names the field at fault. ``complete`` is false when the
    search for fire times hit its time budget (a schedule that fires rarely or never)."""
    return await asyncio.to_thread(views.schedule_preview, scheduler, config, count, lang)


# -- runs --------------------------------------------------------------------------------


@route("GET", "/runs", role=Role.VIEWER, summary="Search runs", response_model=RunPage)
async def list_runs(
    scheduler: SchedulerDep,
    task: Name = None,
    run_status: Annotated[
        list[RunStatus] | None, Query(alias="status", description="Any of these statuses.")
    ] = None,
    since: Annotated[
        UtcDatetime | None, Query(description="Scheduled at or after (ISO 8601 with offset).")
    ] = None,
    until: Annotated[UtcDatetime | None, Query(description="Scheduled before.")] = None,
    trigger_source: TriggerSource | None = None,
    schedule_id: Name = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> RunPage:
    """Newest scheduled first, with the total count of matching runs."""
    query: dict[str, Any] = {
        "status": run_status or None,
        "since": since,
        "until": until,
        "trigger_source": trigger_source,
        "schedule_id": schedule_id,
    }
    return await _run_page(scheduler, task, limit=limit, offset=offset, **query)


@route(
    "GET",
    "/runs/{run_id}",
    role=Role.VIEWER,
    errors=(404,),
    summary="One run",
    response_model=views.RunView,
)
async def get_run(run_id: RunId, scheduler: SchedulerDep) -> views.RunView:
    return views.run_view(await scheduler.get_run(run_id), scheduler.tz)


@route(
    "GET",
    "/runs/{run_id}/logs",
    role=Role.VIEWER,
    errors=(404,),
    summary="A run's log lines",
    response_model=LogPage,
)
async def get_run_logs(
    run_id: RunId,
    scheduler: SchedulerDep,
    after_seq: Annotated[int, Query(ge=-1, le=2**31 - 1, description="Lines after this seq.")] = -1,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> LogPage:
    lines = await scheduler.get_logs(run_id, after_seq=after_seq, limit=limit)
    return LogPage(
        run_id=run_id,
        items=[views.log_line_view(line) for line in lines],
        next_after_seq=lines[-1].seq if lines else after_seq,
    )


@route(
    "GET",
    "/runs/{run_id}/files/{name:path}",
    role=Role.VIEWER,
    errors=(404,),
    summary="Download a file the run's result names",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
async def get_run_file(
    run_id: RunId,
    name: Annotated[str, Path(description="A name listed in the result's data.files.")],
    scheduler: SchedulerDep,
) -> FileResponse:
    path = await scheduler.result_file(run_id, name)
    return FileResponse(path, filename=path.name)


@route(
    "POST",
    "/runs/{run_id}/cancel",
    role=Role.OPERATOR,
    errors=(404, 409),
    summary="Cancel a run",
    response_model=views.RunView,
)
async def cancel_run(
    run_id: RunId, scheduler: SchedulerDep, actor: ActorDep, body: CancelRequest | None = None
) -> views.RunView:
    """A pending run is cancelled at once; a running one is asked to stop (on any node).
    409 when the run has already finished."""
    run = await scheduler.cancel_run(run_id, actor=actor, reason=body.reason if body else None)
    return views.run_view(run, scheduler.tz)


@route(
    "POST",
    "/runs/{run_id}/retry",
    role=Role.OPERATOR,
    errors=(404, 409),
    summary="Run a finished run again",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
)
async def retry_run(run_id: RunId, scheduler: SchedulerDep, actor: ActorDep) -> RunAccepted:
    """A new manual run with the same kwargs; 409 while the run is still active."""
    return _accepted(await scheduler.retry_run(run_id, actor=actor), scheduler)


def _accepted(run: Run, scheduler: Scheduler) -> RunAccepted:
    return RunAccepted(
        run_id=run.id,
        task_name=run.task_name,
        status=run.status,
        finished=run.status.finished,
        run=views.run_view(run, scheduler.tz),
    )


# -- monitoring --------------------------------------------------------------------------


@route("GET", "/stats", role=Role.VIEWER, summary="Run statistics", response_model=views.Overview)
async def stats(
    scheduler: SchedulerDep,
    hours: Annotated[int, Query(ge=1, le=24 * 366, description="Window length.")] = 24,
    upcoming: Annotated[int, Query(ge=0, le=100, description="Upcoming fires listed.")] = 10,
) -> views.Overview:
    """Counts by status and success rate over the window, duration percentiles per task,
    runs executing now and the next fires."""
    return await views.overview(scheduler, timedelta(hours=hours), upcoming)


@route(
    "GET",
    "/events",
    role=Role.VIEWER,
    summary="Live run events (Server-Sent Events)",
    response_class=EventSourceResponse,
)
async def events(
    request: Request,
    scheduler: SchedulerDep,
    task: Name = None,
    duration: Annotated[
        float, Query(gt=0, le=3600, description="Seconds before the server ends the stream.")
    ] = 300.0,
) -> AsyncIterator[ServerSentEvent]:
    """A ``text/event-stream`` of this node's run events: first ``event: ready``, then one
    event per run change (``event:`` is the kind, ``data:`` a RunEventView). The stream ends
    after ``duration`` seconds; EventSource clients reconnect by themselves."""
    queue = scheduler.events.subscribe()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    try:
        yield ServerSentEvent(event="ready", data={"node_id": scheduler.node_id}, retry=2000)
        while (remaining := deadline - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=min(remaining, 5.0))
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            if task is not None and event.run.task_name != task:
                continue
            yield ServerSentEvent(
                event=event.kind.value,
                id=event.run.id,
                data=views.run_event_view(event, scheduler.tz),
            )
    finally:
        scheduler.events.unsubscribe(queue)


@route(
    "GET",
    "/nodes",
    role=Role.VIEWER,
    summary="Nodes sharing the store",
    response_model=list[views.NodeView],
)
async def list_nodes(scheduler: SchedulerDep) -> list[views.NodeView]:
    return await views.node_views(scheduler)


@route("GET", "/audit", role=Role.VIEWER, summary="Audit trail", response_model=AuditPage)
async def audit(
    scheduler: SchedulerDep,
    actor: Name = None,
    action: Name = None,
    target: Name = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    """Who did what and when, newest first; schedule changes carry before/after."""
    store = scheduler.store
    events = await store.list_audit(
        actor=actor, action=action, target=target, limit=limit, offset=offset
    )
    total = await store.count_audit(actor=actor, action=action, target=target)
    return AuditPage(
        items=[views.audit_view(e) for e in events], total=total, limit=limit, offset=offset
    )


# -- API tokens --------------------------------------------------------------------------


@route(
    "GET",
    "/tokens",
    role=Role.ADMIN,
    summary="List API tokens",
    response_model=list[views.TokenView],
)
async def list_tokens(
    scheduler: SchedulerDep, include_revoked: bool = False
) -> list[views.TokenView]:
    found = await tokens.list_tokens(scheduler.store, include_revoked=include_revoked)
    return [views.token_view(t) for t in found]


@route(
    "POST",
    "/tokens",
    role=Role.ADMIN,
    errors=(409,),
    summary="Create an API token",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
)
async def create_token(
    body: TokenCreateRequest, scheduler: SchedulerDep, actor: ActorDep
) -> TokenCreated:
    """The secret is in this answer only; the store keeps its SHA-256."""
    issued = await tokens.create_token(scheduler.store, name=body.name, role=body.role, actor=actor)
    return TokenCreated(token=views.token_view(issued.token), secret=issued.secret)


@route(
    "DELETE",
    "/tokens/{token_id}",
    role=Role.ADMIN,
    errors=(404, 409),
    summary="Revoke an API token",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def revoke_token(
    token_id: Annotated[str, Path(max_length=200, description="Token id or name.")],
    scheduler: SchedulerDep,
    actor: ActorDep,
) -> None:
    await tokens.revoke_token(scheduler.store, token_id, actor=actor)


# -- the router --------------------------------------------------------------------------


def create_router(
    authenticate: Authenticator,
    *,
    prefix: str = DEFAULT_PREFIX,
    tags: Sequence[str] = ("Scheduler",),
) -> APIRouter:
    """The management API under ``prefix``, every route but health/readiness guarded by
    ``authenticate`` (see :mod:`schedkit.api.auth`) and the role the route needs."""
    router = APIRouter(prefix=prefix, tags=list(tags), route_class=ProblemRoute)
    guards = {role: [Depends(require_role(authenticate, role))] for role in Role}
    for spec in ROUTES.specs:
        statuses = set(spec.errors) | {503}
        if spec.method in ("POST", "PUT", "PATCH"):
            statuses.add(400)  # a body that cannot be decoded
        if spec.role is not None:
            statuses |= {401, 403, 422}
        options = dict(spec.options)
        responses: dict[int | str, dict[str, Any]] = problem_responses(sorted(statuses))
        responses.update(options.pop("responses", {}))
        description = (spec.endpoint.__doc__ or "").strip()
        if spec.role is not None:
            description = f"{description}\n\nRequires role **{spec.role.value}** or higher.".strip()
        router.add_api_route(
            spec.path,
            spec.endpoint,
            methods=[spec.method],
            dependencies=guards[spec.role] if spec.role is not None else None,
            responses=responses,
            description=description,
            **options,
        )
    return router
