"""Health, readiness and tasks: list, detail, run now, schedule, pause, resume, history."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import Depends, Query, Request, Response, status

from schedkit import readmodels
from schedkit.api.auth import ActorDep, Principal, optional_principal
from schedkit.api.deps import (
    IdempotencyKey,
    LangDep,
    SchedulerDep,
    get_scheduler,
    node_monitor,
)
from schedkit.api.problems import ApiProblem
from schedkit.api.ratelimit import PreviewTurnDep, RunRateDep
from schedkit.api.routes.common import accepted, run_page
from schedkit.api.routes.table import (
    SCHEDULE_ID_PATTERN,
    Limit,
    Name,
    Offset,
    ScheduleBody,
    TaskName,
    route,
)
from schedkit.api.schemas import (
    AlertsReadiness,
    ExecuteRequest,
    Health,
    PauseRequest,
    Readiness,
    ReadyStatus,
    RunAccepted,
    RunPage,
    ScheduleResponse,
    ScheduleWarning,
    TaskSchedules,
)
from schedkit.errors import (
    ConflictError,
    NotRunningError,
    ScheduleNotFoundError,
    ValidationError,
)
from schedkit.service.past_dates import noted
from schedkit.service.readiness import NotReady, not_ready
from schedkit.tokens import Role


class _Wait(NamedTuple):
    wait: bool
    #: None when neither waiting nor given.
    timeout: float | None


def _wait(
    request: Request,
    wait: Annotated[bool, Query(description="Wait for the run to finish.")] = False,
    timeout: Annotated[
        float, Query(gt=0, le=3600, description="Seconds to wait at most (with wait).")
    ] = 30.0,
) -> _Wait:
    """``?wait=`` and ``?timeout=`` for the service, which refuses a timeout given without
    wait: the default filled in would hide that one was given."""
    return _Wait(wait, timeout if wait or "timeout" in request.query_params else None)


WaitDep = Annotated[_Wait, Depends(_wait)]


@route("GET", "/health", role=None, summary="Liveness", response_model=Health)
async def health(request: Request) -> Health:
    """Answers 200 as long as the process serves requests, also while a loop of the node
    fails: restarting does not grant a privilege. ``failing`` names those loops, since
    when and whether the store refuses the node (``/ready`` answers 503 meanwhile);
    with credentials (any role) each also says its error and what to do."""
    try:
        failing = get_scheduler(request).failing
    except NotRunningError:
        return Health()
    if not failing:
        # The caller is looked up only then: a host's authenticator (its user store)
        # stays out of the liveness probe's way while all is well.
        return Health()
    known = await optional_principal(request) is not None
    return Health(failing=readmodels.failing_views(failing, errors=known))


@route(
    "GET",
    "/ready",
    role=None,
    errors=(422, 503),
    summary="Readiness",
    response_model=Readiness | ReadyStatus,
)
async def ready(
    request: Request,
    lang: LangDep,
    caller: Annotated[Principal | None, Depends(optional_principal)],
) -> Readiness | ReadyStatus:
    """Ready (200) when the scheduler is started, the store answers and the node's loops
    work: on a node that fires, its scheduler loop and lease; on a node that executes,
    its claim loop (503 ``not-ready`` with the reason while their passes fail: a
    database role missing a privilege, a table gone); 503
    too (type ``draining``) while the node drains, if it executes runs: it takes no new
    ones until the drain is undone (``POST /nodes/{node_id}/undrain``). Without
    credentials, that is all it says (``status``, ``store``; a 503 gives a generic
    reason): it is open for load balancers, and names no host, calendar or channel.
    With credentials (any role) it adds ``node_id``; ``scheduler``: whether this node
    fires schedules (holds the lease) or stands by; ``calendar_warnings``: coming
    calendar years no source confirms; ``alerts``: whether alert delivery works (details
    at ``/alerts/status``)."""
    try:
        scheduler = get_scheduler(request)
    except NotRunningError:
        if caller is not None:
            raise
        raise _not_ready("not ready: the scheduler is not running") from None
    why = await not_ready(scheduler)
    if why is not None and why.error is not None and caller is not None:
        raise why.error
    if why is not None and why.kind == "draining":
        raise _draining(scheduler.node_id, why, caller is not None)
    if why is not None:
        raise _not_ready(why.public if caller is None else why.detail)
    if caller is None:
        return ReadyStatus()
    role = "disabled"
    if scheduler.config.scheduler.enabled:
        role = "leader" if scheduler.is_leader else "standby"
    monitor = node_monitor(scheduler)
    alerts = None
    if monitor is not None:
        status = monitor.status()
        alerts = AlertsReadiness(enabled=status["alerts_enabled"], healthy=status["healthy"])
    return Readiness(
        node_id=scheduler.node_id,
        scheduler=role,
        calendar_warnings=await readmodels.calendar_warnings(scheduler, lang),
        alerts=alerts,
    )


def _not_ready(reason: str) -> ApiProblem:
    return ApiProblem(
        503, reason, slug="not-ready", title="Not ready", headers={"Retry-After": "5"}
    )


def _draining(node_id: str, why: NotReady, known: bool) -> ApiProblem:
    """A draining node executes nothing more: out of its load balancer's rotation, and
    an orchestrator sees it, until it stops or its drain is undone. A node that executes
    nothing (``serve --no-executor``) loses nothing by a drain and stays ready."""
    if not known:
        return ApiProblem(503, why.public, slug="draining", title="Draining")
    return ApiProblem(
        503, why.detail, slug="draining", title="Draining", extra={"node_id": node_id}
    )


@route(
    "GET",
    "/tasks",
    role=Role.VIEWER,
    summary="List tasks",
    response_model=list[readmodels.TaskSummary],
)
async def list_tasks(
    scheduler: SchedulerDep,
    lang: LangDep,
    category: Name = None,
    tags: Annotated[
        str | None, Query(max_length=1000, description="Comma-separated; any tag matches.")
    ] = None,
) -> list[readmodels.TaskSummary]:
    """Each task with its first 10 schedules and ``schedule_count``."""
    wanted = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    return await readmodels.task_summaries(scheduler, scheduler.list_tasks(category, wanted), lang)


@route(
    "GET",
    "/tasks/{task_name}",
    role=Role.VIEWER,
    errors=(404,),
    summary="Task detail",
    response_model=readmodels.TaskDetail,
)
async def get_task(
    task_name: TaskName,
    scheduler: SchedulerDep,
    lang: LangDep,
    schedules_limit: Annotated[
        int, Query(ge=1, le=500, description="Schedules listed (a page; see schedule_count).")
    ] = 50,
    schedules_offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> readmodels.TaskDetail:
    """The task with a page of its schedules (``schedule_count`` says how many in all)."""
    return await readmodels.task_detail(
        scheduler, task_name, lang, limit=schedules_limit, offset=schedules_offset
    )


@route(
    "POST",
    "/tasks/{task_name}/execute",
    role=Role.OPERATOR,
    errors=(404, 409, 429),
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
    _rate: RunRateDep,
    waiting: WaitDep,
    body: ExecuteRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Creates a manual run (kwargs validated first) and answers 202 with its id; with
    ``?wait=true`` answers 200 with the finished run (its result) or 202 on timeout.
    ``timeout`` bounds that wait (it is no time limit of the run): without ``wait``
    it is refused (422). With an ``Idempotency-Key`` already used for this task,
    nothing is created: the answer is about the run that key created."""
    run = await scheduler.run_now(
        task_name,
        body.kwargs if body else None,
        wait=waiting.wait,
        timeout=waiting.timeout,
        actor=actor,
        idempotency_key=idempotency_key,
    )
    if run.status.finished:
        response.status_code = status.HTTP_200_OK
    return accepted(run, scheduler)


@route(
    "POST",
    "/tasks/{task_name}/schedule",
    role=Role.ADMIN,
    errors=(404, 409, 429),
    summary="Set a task's schedule",
    response_model=ScheduleResponse,
)
async def schedule_task(
    task_name: TaskName,
    config: ScheduleBody,
    scheduler: SchedulerDep,
    actor: ActorDep,
    lang: LangDep,
    turn: PreviewTurnDep,
    schedule_id: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=SCHEDULE_ID_PATTERN,
            description="Schedule to create or replace (default: the task's own).",
        ),
    ] = None,
    expected_version: Annotated[
        int | None,
        Query(
            ge=0,
            description="The schedule's version the edit was based on (0: it must not "
            "exist yet): a schedule changed since is a 409, not overwritten.",
        ),
    ] = None,
) -> ScheduleResponse:
    """Validates, saves (replacing the schedule with the same id) and answers with the
    next 5 fire times its business calendar allows (as the schedule's
    ``next_fire_time``). The document's dict shape and the richer spec are both accepted."""
    if schedule_id == "preview":
        raise ValidationError(
            "'preview' is reserved (POST /schedules/preview)", field="schedule_id"
        )
    if schedule_id is not None:
        existing = await scheduler.get_schedule(schedule_id)
        if existing is not None and existing.task_name != task_name:
            raise ConflictError(f"schedule {schedule_id!r} belongs to task {existing.task_name!r}")
    # Validates first (422 naming the field), without holding the event loop; searching
    # is paid for in the caller's preview seconds.
    async with turn() as meter:
        await readmodels.stored_preview(scheduler, config, 5, lang, spent=meter.add)
    with noted() as notes:
        schedule = await scheduler.add_task(
            task_name,
            config,
            schedule_id=schedule_id,
            actor=actor,
            expected_version=expected_version,
        )
    (view,) = await readmodels.schedule_views(scheduler, [schedule], lang)
    # The fires listed are the saved schedule's, from its stored next fire on: charged,
    # never refused (a 429 now would answer a change that is saved).
    async with turn(refuse=False) as meter:
        preview = await readmodels.stored_preview(
            scheduler, config, 5, lang, first=schedule.next_fire_time, spent=meter.add
        )
    return ScheduleResponse(
        schedule=view,
        next_fire_times=preview.fire_times,
        next_fire_times_local=[f.astimezone(scheduler.tz) for f in preview.fire_times],
        warnings=[ScheduleWarning.of(n) for n in notes],
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
    """The task stays registered and can still be run by hand; its history is kept. The
    schedules of a task no longer registered are removed all the same."""
    if not await scheduler.remove_task(task_name, actor=actor):
        scheduler.get_task(task_name)  # nothing stored and not registered: a typo
        raise ScheduleNotFoundError(task_name)


@route(
    "POST",
    "/tasks/{task_name}/pause",
    role=Role.OPERATOR,
    errors=(404, 409),
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
    """409 when the task has no schedule."""
    schedules = await scheduler.pause_task(task_name, body.note if body else None, actor=actor)
    return TaskSchedules(
        task_name=task_name,
        schedules=await readmodels.schedule_views(scheduler, schedules, lang),
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
        schedules=await readmodels.schedule_views(scheduler, schedules, lang),
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
    return await run_page(scheduler, task_name, limit=limit, offset=offset)
