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
