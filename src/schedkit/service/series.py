"""A schedule's series of fires: whether saving a trigger over it keeps it, how a pause
or a resume changes it, and why it has ended."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Literal

from schedkit.engine import planning
from schedkit.models import JSON, Schedule
from schedkit.triggers import trigger_from_json

__all__ = ["EndReason", "ended_by", "kept_series", "paused_or_resumed"]


def kept_series(existing: Schedule | None, trigger: JSON) -> datetime | None:
    """The next fire of ``existing`` when saving ``trigger`` over it keeps its series (the
    same trigger, not paused: fires due while down stay due), else None."""
    if existing is None or existing.paused or existing.trigger != trigger:
        return None
    return existing.next_fire_time


def paused_or_resumed(old: Schedule, paused: bool, note: str | None, now: datetime) -> Schedule:
    """``old`` paused with ``note`` or resumed: its next version, or itself if so already."""
    if old.paused == paused and (not paused or old.pause_note == note):
        return old
    next_fire = old.next_fire_time
    if not paused:
        upcoming = trigger_from_json(old.trigger).next_fire_time(None, now)
        next_fire = planning.next_after(old, 0, upcoming)  # an ended one stays ended
    return dataclasses.replace(
        old,
        paused=paused,
        pause_note=note if paused else None,
        next_fire_time=next_fire,
        version=old.version + 1,
        updated_at=now,
    )


#: Why a schedule fires no more (see :func:`ended_by`).
EndReason = Literal["max_runs", "end_date", "last_fire"]


def ended_by(schedule: Schedule) -> EndReason | None:
    """Why the schedule has ended, or None while it still has a next fire: it started
    ``max_runs`` runs, its trigger passed its ``end_date``, or its last fire (a one-off
    date) came."""
    if schedule.next_fire_time is not None:
        return None
    if schedule.runs_left == 0:
        return "max_runs"
    return "end_date" if schedule.trigger.get("end_date") else "last_fire"
