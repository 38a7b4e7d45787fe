"""Who did what: every change made through the façade is recorded as an audit event."""

from __future__ import annotations

from typing import Any

from schedkit.clock import Clock
from schedkit.models import AuditEvent, new_id, to_json
from schedkit.store.base import Store

#: The actor of changes made by schedkit itself (default schedules, the scheduler).
SYSTEM = "system"


class Auditor:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Any = None,
        after: Any = None,
        detail: str | None = None,
    ) -> None:
        await self.store.add_audit(
            AuditEvent(
                id=new_id(),
                at=self.clock.now(),
                actor=actor,
                action=action,
                target=target,
                before=to_json(before) if before is not None else None,
                after=to_json(after) if after is not None else None,
                detail=detail,
            )
        )


#: Audit actions about API tokens: only admins see them (they name every token).
TOKEN_ACTIONS = frozenset({"token.create", "token.revoke"})
#: Events read per store call while skipping token events.
_SCAN_BATCH = 500


async def list_visible(
    store: Store,
    *,
    actor: str | None,
    action: str | None,
    target: str | None,
    limit: int,
    offset: int,
) -> list[AuditEvent]:
    """A page of the audit events other than token events (newest first). Token events
    are few, so the pages before ``offset`` are read in large batches and skipped."""
    if action is not None:
        if action in TOKEN_ACTIONS:
            return []
        return await store.list_audit(
            actor=actor, action=action, target=target, limit=limit, offset=offset
        )
    page: list[AuditEvent] = []
    to_skip, at = offset, 0
    while len(page) < limit:
        batch = await store.list_audit(
            actor=actor, target=target, limit=max(_SCAN_BATCH, limit), offset=at
        )
        at += len(batch)
        for event in batch:
            if event.action in TOKEN_ACTIONS:
                continue
            if to_skip:
                to_skip -= 1
            elif len(page) < limit:
                page.append(event)
        if len(batch) < max(_SCAN_BATCH, limit):
            break
    return page


async def count_visible(
    store: Store, *, actor: str | None, action: str | None, target: str | None
) -> int:
    """How many events :func:`list_visible` pages through."""
    if action is not None:
        if action in TOKEN_ACTIONS:
            return 0
        return await store.count_audit(actor=actor, action=action, target=target)
    total = await store.count_audit(actor=actor, target=target)
    for hidden in TOKEN_ACTIONS:
        total -= await store.count_audit(actor=actor, action=hidden, target=target)
    return total
