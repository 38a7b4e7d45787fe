"""When tasks run: validated schedule specs and the runtime triggers built from them.

``ScheduleSpec.parse`` accepts every user-facing form (the design document's flat dict, a
nested dict, a crontab string) and raises :class:`schedkit.errors.ValidationError` naming
the field at fault; ``build_trigger`` / ``trigger_from_json`` turn a spec or its stored
JSON into a :class:`Trigger`; ``preview`` lists upcoming fires. See docs/schedules.md.
"""

from __future__ import annotations

from schedkit.triggers.runtime import Trigger, build_trigger, trigger_from_json
from schedkit.triggers.specs import (
    CronSpec,
    DateSpec,
    IntervalSpec,
    ScheduleSpec,
    TriggerSpec,
    parse_trigger,
)
from schedkit.triggers.upcoming import (
    AllowedFire,
    Blocked,
    OpenDays,
    Upcoming,
    allowed_fire,
    preview,
    preview_upcoming,
    upcoming,
)

__all__ = [
    "AllowedFire",
    "Blocked",
    "CronSpec",
    "DateSpec",
    "IntervalSpec",
    "OpenDays",
    "ScheduleSpec",
    "Trigger",
    "TriggerSpec",
    "Upcoming",
    "allowed_fire",
    "build_trigger",
    "parse_trigger",
    "preview",
    "preview_upcoming",
    "trigger_from_json",
    "upcoming",
]
