"""Nodes, audit events and API tokens as the API, console and CLI show them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, JsonValue

from schedkit.models import ApiToken, AuditEvent, to_json
from schedkit.readmodels.common import View
from schedkit.service import Scheduler

__all__ = ["AuditView", "NodeView", "TokenView", "audit_view", "node_views", "token_view"]


class NodeView(View):
    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    roles: list[str]
    version: str
    leader: bool = Field(description="Holds the scheduler lease (fires schedules).")
    info: dict[str, JsonValue]


async def node_views(scheduler: Scheduler) -> list[NodeView]:
    nodes = await scheduler.list_nodes()
    lease = await scheduler.leader_lease()
    holder = lease.holder if lease is not None else None
    return [
        NodeView(
            id=n.id,
            hostname=n.hostname,
            pid=n.pid,
            started_at=n.started_at,
            heartbeat_at=n.heartbeat_at,
            roles=list(n.roles),
            version=n.version,
            leader=n.id == holder,
            info=to_json(n.info),
        )
        for n in nodes
    ]


class AuditView(View):
    id: str
    at: datetime
    actor: str = Field(description="Who: a token name, a host user, or 'system'.")
    action: str = Field(description="What, e.g. schedule.put, schedule.pause, run.create.")
    target: str
    before: JsonValue = Field(description="The object before the change, if any.")
    after: JsonValue = Field(description="The object after the change, if any.")
    detail: str | None


def audit_view(event: AuditEvent) -> AuditView:
    return AuditView(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        before=to_json(event.before),
        after=to_json(event.after),
        detail=event.detail,
    )


class TokenView(View):
    """An API token without its secret or hash."""

    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked: bool


def token_view(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        role=token.role,
        created_at=token.created_at,
        created_by=token.created_by,
        last_used_at=token.last_used_at,
        revoked=token.revoked,
    )
