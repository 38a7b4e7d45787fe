"""Administration: nodes, alert delivery, the audit trail and API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Path, Query, Request, Response, status

from schedkit import readmodels
from schedkit.alerts.probe import send_test_alert
from schedkit.api.auth import ActorDep, current_principal
from schedkit.api.deps import NO_MONITOR, SchedulerDep, node_monitor
from schedkit.api.problems import ApiProblem
from schedkit.api.routes.table import Limit, Name, Offset, route
from schedkit.api.schemas import (
    AlertStatus,
    AlertTestResult,
    AuditPage,
    Caller,
    TokenCreated,
    TokenCreateRequest,
)
from schedkit.service import Scheduler
from schedkit.service.cluster import MAX_DRAIN_GRACE
from schedkit.tokens import Role

if TYPE_CHECKING:
    from schedkit.monitor import Monitor


@route(
    "GET",
    "/nodes",
    role=Role.VIEWER,
    summary="Nodes sharing the store",
    response_model=list[readmodels.NodeView],
)
async def list_nodes(scheduler: SchedulerDep) -> list[readmodels.NodeView]:
    """Every node sharing the store, alive or silent (silent ones are removed after
    ``scheduler.node_expiry``)."""
    return await readmodels.node_views(scheduler)


@route(
    "POST",
    "/nodes/{node_id}/drain",
    role=Role.OPERATOR,
    errors=(404,),
    summary="Drain a node",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=readmodels.NodeView,
)
async def drain_node(
    scheduler: SchedulerDep,
    actor: ActorDep,
    node_id: Annotated[str, Path(max_length=300)],
    grace: Annotated[
        float | None,
        Query(
            ge=0,
            le=MAX_DRAIN_GRACE,
            description="Seconds its running runs get to finish before they are handed "
            "back (default: the node's scheduler.shutdown_grace).",
        ),
    ] = None,
) -> readmodels.NodeView:
    """Ask a live node to stop taking runs, let its running runs finish within ``grace``
    (default its ``scheduler.shutdown_grace``) and hand the rest back to pending, where
    they start over on another node; a ``schedkit worker`` then exits. The node acts
    within one heartbeat interval (404 if no live node has this id); its ``/ready``
    answers 503 while it drains. ``POST /nodes/{node_id}/undrain`` undoes it."""
    await scheduler.request_drain(node_id, actor=actor, grace=grace)
    views = {v.id: v for v in await readmodels.node_views(scheduler)}
    return views[node_id]


@route(
    "POST",
    "/nodes/{node_id}/undrain",
    role=Role.OPERATOR,
    errors=(404, 409),
    summary="Undo a node's drain",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=readmodels.NodeView,
)
async def undrain_node(
    scheduler: SchedulerDep,
    actor: ActorDep,
    node_id: Annotated[str, Path(max_length=300)],
) -> readmodels.NodeView:
    """Undo the drain of a live node: it takes runs again (runs it handed back already
    stay handed back), within one heartbeat interval (this node at once). 404 if no live
    node has this id; 409 if it is not draining, or is stopping: a worker's drain ends
    in its stop (SIGTERM, or once a drain asked of it is over), which cannot be undone."""
    await scheduler.request_undrain(node_id, actor=actor)
    views = {v.id: v for v in await readmodels.node_views(scheduler)}
    return views[node_id]


def _monitor(scheduler: Scheduler) -> Monitor:
    monitor = node_monitor(scheduler)
    if monitor is None:
        raise ApiProblem(
            503,
            NO_MONITOR,
            slug="monitor-disabled",
            title="Monitoring is not enabled",
        )
    return monitor


@route(
    "GET",
    "/alerts/status",
    role=Role.VIEWER,
    errors=(503,),
    summary="Alert delivery of this node",
    response_model=AlertStatus,
)
async def alert_status(scheduler: SchedulerDep) -> AlertStatus:
    """Each alert channel's health and counts on the node answering (channels deliver
    per node), the rule queue and the lease holder's last check. 503 without a Monitor
    extension."""
    monitor = _monitor(scheduler)
    return AlertStatus.model_validate(monitor.status())


@route(
    "POST",
    "/alerts/test",
    role=Role.OPERATOR,
    errors=(409, 429),
    summary="Send a test alert",
    response_model=AlertTestResult,
)
async def alert_test(
    scheduler: SchedulerDep,
    actor: ActorDep,
    channel: Annotated[
        str | None,
        Query(max_length=200, description="Only this channel (its name); default: every one."),
    ] = None,
) -> AlertTestResult:
    """Send "schedkit test alert from node X at <time>" now, from the node answering, to
    every alert channel (or ``channel``), rendered and delivered as alerts are, and
    answer what each channel did with it: delivered, or its error (secrets masked). One
    attempt per channel, all at once; the channels' counts, health and throttle are left
    to the alerts. A node sends a channel one test at a time, ``alerts.delivery.
    test_interval`` seconds apart: 429 with ``Retry-After`` (nothing sent) while a
    channel named cannot take one. Each channel tested is audited (``alerts.test``). 409
    while alerts are off, 422 when no channel has that name, 503 without a Monitor
    extension."""
    monitor = _monitor(scheduler)
    result = await send_test_alert(
        monitor.settings,
        node=scheduler.node_id,
        at=scheduler.clock.now(),
        channel=channel,
        sender=monitor.sender,
        actor=actor,
    )
    await scheduler.record_alert_test(result, actor=actor)
    return AlertTestResult.model_validate(result.to_json())


@route("GET", "/audit", role=Role.VIEWER, summary="Audit trail", response_model=AuditPage)
async def audit(
    request: Request,
    scheduler: SchedulerDep,
    actor: Name = None,
    action: Name = None,
    target: Name = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    """Who did what and when, newest first; schedule changes carry before/after. Token
    events (``token.create``, ``token.revoke``) are listed to admins only."""
    admin = current_principal(request).role.allows(Role.ADMIN)
    events = await scheduler.list_audit(
        actor=actor, action=action, target=target, limit=limit, offset=offset, include_tokens=admin
    )
    total = await scheduler.count_audit(
        actor=actor, action=action, target=target, include_tokens=admin
    )
    return AuditPage(
        items=[readmodels.audit_view(e) for e in events], total=total, limit=limit, offset=offset
    )


@route("GET", "/me", role=Role.VIEWER, summary="Who calls", response_model=Caller)
async def who_calls(request: Request) -> Caller:
    """The caller's name and role (an API token's, the host application's user's): the
    console disables the actions the role may not take."""
    principal = current_principal(request)
    return Caller(name=principal.name, role=principal.role)


@route(
    "GET",
    "/tokens",
    role=Role.ADMIN,
    summary="List API tokens",
    response_model=list[readmodels.TokenView],
)
async def list_tokens(
    scheduler: SchedulerDep, include_revoked: bool = False
) -> list[readmodels.TokenView]:
    found = await scheduler.list_tokens(include_revoked=include_revoked)
    return [readmodels.token_view(t) for t in found]


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
    request: Request, body: TokenCreateRequest, scheduler: SchedulerDep, actor: ActorDep
) -> TokenCreated:
    """The secret is in this answer only; the store keeps its SHA-256. A server without
    authentication (``--auth none``) cannot create tokens (403)."""
    if current_principal(request).kind == "anonymous":
        raise ApiProblem(
            403,
            "tokens cannot be created without authentication (the server runs with "
            "--auth none); use 'schedkit token create'",
            slug="forbidden",
            title="Forbidden",
        )
    issued = await scheduler.create_token(name=body.name, role=body.role, actor=actor)
    return TokenCreated(token=readmodels.token_view(issued.token), secret=issued.secret)


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
    await scheduler.revoke_token(token_id, actor=actor)
