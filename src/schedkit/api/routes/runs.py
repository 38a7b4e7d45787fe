"""Runs: search, read, logs, result files, cancel, retry; statistics and live events."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Path, Query, Request, status
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from schedkit import readmodels
from schedkit.api.auth import ActorDep, current_principal
from schedkit.api.deps import IdempotencyKey, LangDep, SchedulerDep
from schedkit.api.ratelimit import RunRateDep
from schedkit.api.routes.common import accepted, run_page
from schedkit.api.routes.table import Limit, Name, Offset, RunId, TaskFilterCheck, route
from schedkit.api.schemas import CancelRequest, LogPage, RunAccepted, RunPage, UtcDatetime
from schedkit.api.shutdown import server_stopping
from schedkit.models import RunStatus, TriggerSource
from schedkit.stopping import wait_for
from schedkit.tokens import Role

#: Seconds between an open event stream's looks for a stop of the server or scheduler.
STOP_CHECK = 1.0


@route("GET", "/runs", role=Role.VIEWER, summary="Search runs", response_model=RunPage)
async def list_runs(
    scheduler: SchedulerDep,
    _task_known: TaskFilterCheck,
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
    """Newest scheduled first, with the total count of matching runs. A ``task`` that
    is neither registered nor in the history is refused (422, with close names)."""
    query: dict[str, Any] = {
        "status": run_status or None,
        "since": since,
        "until": until,
        "trigger_source": trigger_source,
        "schedule_id": schedule_id,
    }
    return await run_page(scheduler, task, limit=limit, offset=offset, **query)


@route(
    "GET",
    "/runs/{run_id}",
    role=Role.VIEWER,
    errors=(404,),
    summary="One run",
    response_model=readmodels.RunView,
)
async def get_run(run_id: RunId, scheduler: SchedulerDep) -> readmodels.RunView:
    """``waiting`` says why a pending run waits when no live node can take it: its task
    is registered on none of them, or none offers its labels."""
    run = await scheduler.get_run(run_id)
    waiting = await scheduler.waiting_reasons([run])
    return readmodels.run_view(run, scheduler.tz, waiting.get(run.id))


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
    # 64-bit, as the stores keep it: a fourth attempt's lines are numbered from 3 * 10**9.
    after_seq: Annotated[int, Query(ge=-1, le=2**63 - 1, description="Lines after this seq.")] = -1,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> LogPage:
    lines = await scheduler.get_logs(run_id, after_seq=after_seq, limit=limit)
    return LogPage(
        run_id=run_id,
        items=[readmodels.log_line_view(line) for line in lines],
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
    response_model=readmodels.RunView,
)
async def cancel_run(
    run_id: RunId, scheduler: SchedulerDep, actor: ActorDep, body: CancelRequest | None = None
) -> readmodels.RunView:
    """A pending run is cancelled at once; a running one is asked to stop (on any node).
    409 when the run has already finished."""
    run = await scheduler.cancel_run(run_id, actor=actor, reason=body.reason if body else None)
    return readmodels.run_view(run, scheduler.tz)


@route(
    "POST",
    "/runs/{run_id}/retry",
    role=Role.OPERATOR,
    errors=(404, 409, 429),
    summary="Run a finished run again",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
)
async def retry_run(
    run_id: RunId,
    scheduler: SchedulerDep,
    actor: ActorDep,
    _rate: RunRateDep,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """A new manual run with the same kwargs; 409 while the run is still active. With an
    ``Idempotency-Key`` already used for this task, the run it created is answered."""
    run = await scheduler.retry_run(run_id, actor=actor, idempotency_key=idempotency_key)
    return accepted(run, scheduler)


@route(
    "GET", "/stats", role=Role.VIEWER, summary="Run statistics", response_model=readmodels.Overview
)
async def stats(
    scheduler: SchedulerDep,
    lang: LangDep,
    hours: Annotated[int, Query(ge=1, le=24 * 366, description="Window length.")] = 24,
    upcoming: Annotated[int, Query(ge=0, le=100, description="Upcoming fires listed.")] = 10,
    exact: Annotated[
        bool,
        Query(
            description="Exact duration percentiles (every duration of the window read and "
            "ranked) instead of the rollups' histogram, within relative_error."
        ),
    ] = False,
) -> readmodels.Overview:
    """Counts by status and success rate over the window, duration percentiles per task,
    runs executing now, the next fires and the business-calendar warnings."""
    return await readmodels.overview(scheduler, timedelta(hours=hours), upcoming, lang, exact=exact)


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
    _task_known: TaskFilterCheck,
    task: Name = None,
    duration: Annotated[
        float, Query(gt=0, le=3600, description="Seconds before the server ends the stream.")
    ] = 300.0,
) -> AsyncIterator[ServerSentEvent]:
    """A ``text/event-stream`` of run events, of this node and of the others sharing the
    store (through the notify channel, or the store poll; docs/cluster.md): first
    ``event: ready``, then one event per run change (``event:`` is the kind, ``data:`` a
    RunEventView with the run's summary). The stream ends after ``duration`` seconds, and
    soon after its API token is revoked; EventSource clients reconnect by themselves. A
    ``task`` that is neither registered nor in the history is refused (422)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    token_id = current_principal(request).token_id
    recheck = scheduler.config.api.stream_recheck
    # Without a token (a host app's user, --auth none) there is nothing to check again;
    # a check time left in the past would make every wait below 0 and the loop spin.
    next_check = loop.time() + recheck if token_id is not None else math.inf
    with scheduler.subscribe() as queue:
        yield ServerSentEvent(event="ready", data={"node_id": scheduler.node_id}, retry=2000)
        while (remaining := deadline - loop.time()) > 0:
            # Nothing tells an open answer that the server or the scheduler is stopping,
            # and the server waits for it: see schedkit.api.shutdown.
            if not scheduler.started or server_stopping():
                return
            if token_id is not None and loop.time() >= next_check:
                if not await scheduler.token_is_live(token_id):
                    return
                next_check = loop.time() + recheck
            wait = min(remaining, max(0.0, next_check - loop.time()), STOP_CHECK)
            try:
                event = await wait_for(queue.get(), timeout=wait)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            if task is not None and event.run.task_name != task:
                continue
            yield ServerSentEvent(
                event=event.kind.value,
                id=event.run.id,
                data=readmodels.run_event_view(event, scheduler.tz),
            )
