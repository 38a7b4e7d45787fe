"""Nodes, audit events and API tokens as the API, console and CLI show them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field, JsonValue

from schedkit.failing import Failing, failing_in
from schedkit.models import ApiToken, AuditEvent, to_json
from schedkit.readmodels.common import View
from schedkit.redaction import redact, redact_json, redact_kwargs, secret_parameters
from schedkit.service import Scheduler

__all__ = [
    "AuditView",
    "FailingLoopView",
    "NodeView",
    "TokenView",
    "audit_view",
    "failing_views",
    "node_views",
    "token_view",
]


class FailingLoopView(View):
    """A loop of a node whose passes fail although the store answers."""

    loop: str = Field(
        description="scheduler loop (fires schedules), scheduler lease (takes or renews "
        "the lease), claim loop (claims pending runs to execute on the node), node "
        "heartbeat (writes the node's row, reads drain requests asked of it)."
    )
    since: datetime = Field(description="The first failure in a row.")
    refused: bool = Field(
        description="The store refuses the node (a privilege its database role lacks, a "
        "table gone): waiting does not cure it, someone must act."
    )
    unwritable: bool = Field(
        False,
        description="The store answers reads but refuses writes (its disk is full, its "
        "SQLite file cannot be written): nothing is fired, claimed or recorded until "
        "it takes writes again.",
    )
    error: str | None = Field(
        description="The error and what to do (credentials masked); null in /health "
        "without credentials."
    )


def failing_views(failing: Iterable[Failing], *, errors: bool = True) -> list[FailingLoopView]:
    """``failing`` as shown; ``errors``: with the error texts (they name the store's
    host, database and role: not for an anonymous caller)."""
    return [
        FailingLoopView(
            loop=f.loop,
            since=f.since,
            refused=f.refused,
            unwritable=f.unwritable,
            error=f.error if errors else None,
        )
        for f in failing
    ]


class NodeView(View):
    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime = Field(description="Last heartbeat of the node's own row.")
    roles: list[str] = Field(description="scheduler (may fire), executor (runs tasks).")
    version: str
    leader: bool = Field(description="Holds the scheduler lease (fires schedules).")
    labels: list[str] = Field(description="Labels offered: runs requiring them may run here.")
    capacity: int = Field(description="Runs that may execute here at once.")
    running: int = Field(
        description="Runs executing here at the last heartbeat. Of a silent node (alive "
        "false) no longer true: its runs are judged lost after scheduler.lost_after (and "
        "retried elsewhere); `schedkit nodes` and the console show '-'."
    )
    draining: bool = Field(description="Takes no new runs; hands back what is left.")
    stopping: bool = Field(
        False,
        description="Stopping (a worker's drain ends in its stop): its drain cannot be undone.",
    )
    alive: bool = Field(
        description="Heartbeated within scheduler.lost_after; silent nodes are removed "
        "after scheduler.node_expiry."
    )
    clock_offset: float | None = Field(
        None,
        description="Seconds the node's clock is behind the store server's (negative: "
        "ahead), measured at its heartbeat; null without a server (SQLite).",
    )
    store_time: bool = Field(
        False,
        description="The node goes by the store server's time: its own clock is off by "
        "more than a second (scheduler.clock).",
    )
    failing: list[FailingLoopView] = Field(
        default_factory=list,
        description="The node's loops whose passes fail, at its last heartbeat (a loop "
        "failing leaves the node alive, but it fires or starts nothing): see the node's "
        "/ready. Empty too for a node of a release that did not report it.",
    )
    outlived_upgrade: bool = Field(
        False,
        description="The node runs code older than an upgrade of the store it cannot work "
        "with, and went on working after it (it was paused, not stopped): stop it, then "
        "`schedkit db rebuild-rollups` (`schedkit check` says so too).",
    )
    info: dict[str, JsonValue]


async def node_views(scheduler: Scheduler) -> list[NodeView]:
    nodes = await scheduler.list_nodes()
    old = {o.node.id for o in await scheduler.outlived_nodes(nodes)}
    lease = await scheduler.leader_lease()
    holder = lease.holder if lease is not None else None
    lost_after = scheduler.config.scheduler.lost_after
    now = scheduler.clock.now()
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
            labels=_strings(n.info.get("labels")),
            capacity=_count(n.info.get("capacity")),
            running=_count(n.info.get("running")),
            draining=bool(n.info.get("draining")),
            stopping=n.info.get("stopping") is True,
            alive=n.alive(now, lost_after),
            clock_offset=_seconds(n.info.get("clock_offset")),
            store_time=n.info.get("store_time") is True,
            failing=failing_views(failing_in(n.info)),
            outlived_upgrade=n.id in old,
            info=to_json(n.info),
        )
        for n in nodes
    ]


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _seconds(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None  # type: ignore[arg-type]


def _count(value: object) -> int:
    # Rows of older nodes lack the field; a bool is not a count.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class AuditView(View):
    id: str
    at: datetime
    actor: str = Field(description="Who: a token name, a host user, or 'system'.")
    action: str = Field(description="What, e.g. schedule.put, schedule.pause, run.create.")
    target: str
    before: JsonValue = Field(description="The object before the change, if any.")
    after: JsonValue = Field(description="The object after the change, if any.")
    detail: str | None


def _audited(value: Any) -> Any:
    """An audited object masked as its own view masks it: a schedule's kwargs as
    :func:`~schedkit.redaction.redact_kwargs` shows them for its task."""
    data = to_json(value)
    masked = redact_json(data)
    task = data.get("task_name") if isinstance(data, dict) else None
    if isinstance(task, str) and isinstance(data.get("kwargs"), dict):
        masked["kwargs"] = redact_kwargs(data["kwargs"], secret_parameters(task))
    return masked


def audit_view(event: AuditEvent) -> AuditView:
    return AuditView(
        id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        before=_audited(event.before),
        after=_audited(event.after),
        detail=redact(event.detail) if event.detail else event.detail,
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
