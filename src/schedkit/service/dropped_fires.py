"""The fire a trigger change leaves behind, recorded instead of dropped without a trace.

A tick handles a schedule's due fires under its misfire policy. A change of trigger
starts a new series from now, so a fire of the old series that was due and not yet
handled (no node was firing: a restart with new code rewriting a default schedule, the
CLI editing a stopped service's store) vanished: no run, no record, no alert. It is
recorded ``missed`` instead, saying how many fires of the former trigger were due, and
published as a tick's missed fire is (monitors alert on it). It is not run: the
schedule no longer says to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schedkit.engine import runs
from schedkit.engine.planning import CAUSE_CHANGED
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import RunStatus, Schedule
from schedkit.store.base import Store
from schedkit.task import BaseTask
from schedkit.triggers import trigger_from_json

#: Fires of the former series counted for the record (a long downtime of a frequent
#: trigger must not make an edit walk millions of fires).
MAX_COUNTED = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class Dropped:
    """The former trigger's fires that were due when it changed: the first, the last,
    how many (at most :data:`MAX_COUNTED`)."""

    first: datetime
    last: datetime
    count: int

    def reason(self) -> str:
        many = f"{self.count:,}{'+' if self.count >= MAX_COUNTED else ''} fires"
        span = "" if self.count == 1 else f" ({many} due, up to {self.last.isoformat()})"
        return f"not run: the schedule's trigger changed while this fire was due{span}"


def dropped_by(before: Schedule | None, after: Schedule, now: datetime) -> Dropped | None:
    """The fires ``before``'s trigger had due at ``now`` that replacing it by ``after``
    leaves unhandled, or None (no change of trigger, nothing due, paused: a paused
    schedule's fires are not due)."""
    if before is None or before.paused or before.trigger == after.trigger:
        return None
    fire = before.next_fire_time
    if fire is None or fire > now:
        return None
    trigger = trigger_from_json(before.trigger)
    first = last = fire
    count = 1
    while count < MAX_COUNTED:
        following = trigger.next_fire_time(last, now)
        if following is None or following > now:
            break
        last, count = following, count + 1
    return Dropped(first=first, last=last, count=count)


async def record_dropped(
    store: Store,
    events: EventBus,
    task: BaseTask | None,
    before: Schedule | None,
    after: Schedule,
    now: datetime,
) -> None:
    """Record (and publish) the first fire :func:`dropped_by` finds, if any. A run
    already stored for it (a tick handled it just before the change) is kept: the
    store inserts one run per schedule and fire."""
    dropped = dropped_by(before, after, now)
    if before is None or dropped is None:
        return
    run = runs.not_run(before, task, dropped.first, RunStatus.MISSED, dropped.reason(), now)
    if await store.insert_runs([run]):
        detail = {"cause": CAUSE_CHANGED}
        events.publish(RunEvent(kind=EventKind.MISSED, run=run, detail=detail))
