"""How close together a trigger's fires can come (``limits.min_interval`` refuses
schedules firing more often): read off the spec, without computing fires."""

from __future__ import annotations

import itertools

from schedkit.triggers.specs import CronSpec, DateSpec, IntervalSpec

__all__ = ["gap_field", "smallest_gap"]


def smallest_gap(trigger: CronSpec | IntervalSpec | DateSpec) -> float | None:
    """Seconds between the two closest fires ``trigger`` can make, or None if it fires
    once. For cron, the seconds field decides (a minute, or the minutes field times 60
    when it names one second; an hour as the bound beyond that)."""
    if isinstance(trigger, IntervalSpec):
        return trigger.length().total_seconds()
    if isinstance(trigger, DateSpec):
        return None
    seconds, minutes = _cron_second_minute(trigger)
    second_gap = _cyclic_gap(seconds)
    if second_gap is not None:
        return second_gap
    minute_gap = _cyclic_gap(minutes)
    return 3600.0 if minute_gap is None else 60.0 * minute_gap


_ABOVE_MINUTE = ("year", "month", "day", "week", "day_of_week", "hour")


def _cron_second_minute(trigger: CronSpec) -> tuple[str, str]:
    if trigger.expression is not None:
        fields = trigger.expression.split()
        if len(fields) == 6:
            return fields[0], fields[1]
        return "0", fields[0] if len(fields) == 5 else "0"
    # APScheduler's defaults: fields below the most significant one given are their
    # minimum, fields above it "*".
    second = "0" if trigger.second is None else str(trigger.second)
    if trigger.minute is not None:
        return second, str(trigger.minute)
    above = any(getattr(trigger, name) is not None for name in _ABOVE_MINUTE)
    return second, "0" if above else "*"


def _cyclic_gap(field: str) -> float | None:
    """The smallest distance between two values (wrapping at 60) of a seconds or minutes
    cron field; None for a single value. A form not understood counts as every value."""
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                low, high = 0, 59
            elif "-" in base:
                low, high = (int(x) for x in base.split("-", 1))
            else:
                low = int(base)
                high = 59 if step_text else low
        except ValueError:
            return 1.0
        if step < 1:
            return 1.0
        values.update(range(low, high + 1, step))
    ordered = sorted(values)
    if len(ordered) < 2:
        return None
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    gaps.append(60 - ordered[-1] + ordered[0])
    return float(min(gaps))


def gap_field(trigger: CronSpec | IntervalSpec | DateSpec) -> str:
    """The field of ``trigger`` that a refusal of its gap names."""
    if isinstance(trigger, IntervalSpec):
        return trigger.blamed_unit
    return "expression" if isinstance(trigger, CronSpec) and trigger.expression else "second"
