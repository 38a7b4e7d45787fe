"""Runtime triggers: the next nominal fire time of a validated spec.

All date arithmetic comes from libraries: crontab strings from cronsim (Debian cron's
rules, including its daylight-saving rules), cron fields, intervals and dates from
APScheduler 3's trigger classes used standalone. What is ours is the contract:

* fire times are aware UTC datetimes, and *nominal*: jitter is an offset the engine adds
  when firing, never fed back, so a series cannot drift;
* ``next_fire_time(previous, now)`` returns the first fire strictly after ``previous``
  when given (``now`` is then ignored, so the engine sees every missed fire and applies its
  misfire policy), else the first fire at or after ``now``;
* cron fields get the same daylight-saving behaviour as crontab strings, which
  APScheduler alone does not give (see :class:`_CronFieldsTrigger`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cronsim import CronSim

from schedkit.models import ensure_utc
from schedkit.triggers.calendars import calendar_allows
from schedkit.triggers.describe import describe_trigger
from schedkit.triggers.specs import (
    CronSpec,
    DateSpec,
    IntervalSpec,
    crontab_expression,
    parse_trigger,
    zone,
)

_TICK = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Trigger(ABC):
    """A validated trigger spec made executable; build one with :func:`build_trigger`."""

    def __init__(self, spec: CronSpec | IntervalSpec | DateSpec, tz: ZoneInfo) -> None:
        self.spec = spec
        self.timezone = tz

    @abstractmethod
    def next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        """The next nominal fire (aware UTC), or ``None`` once the trigger is exhausted.

        With ``previous`` (the last *nominal* fire, never a jittered one): the first fire
        strictly after it. Without: the first fire at or after ``now`` (and ``start_date``);
        an interval without ``start_date`` fires first one interval after ``now``; a date
        trigger returns its ``run_date`` even when it has passed, so that the engine's misfire
        policy decides and a late start is recorded instead of silently dropped.
        """

    def jitter_offset(self, schedule_id: str, nominal: datetime) -> float:
        """Seconds in ``[0, jitter)`` to add to ``nominal`` when firing; 0 without jitter.

        A hash of (schedule id, nominal instant), not a random draw, so that every node
        computes the same firing time for the same fire.
        """
        if not self.spec.jitter:
            return 0.0
        key = f"{schedule_id}|{ensure_utc(nominal).isoformat()}".encode()
        fraction = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
        return fraction * self.spec.jitter

    def calendar_allows(self, nominal: datetime) -> bool:
        """False when the business calendar excludes ``nominal``'s day (in the spec's zone)."""
        return calendar_allows(
            self.spec.calendar, ensure_utc(nominal).astimezone(self.timezone).date()
        )

    def describe(self, lang: str = "en") -> str:
        """The schedule in words, ``lang`` ``"en"`` or ``"zh"``."""
        return describe_trigger(self.spec, lang)


class _WindowedCronTrigger(Trigger):
    """Cron triggers: the search bound and the start/end window are handled here."""

    def __init__(self, spec: CronSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._start = None if spec.start_date is None else ensure_utc(spec.start_date)
        self._end = None if spec.end_date is None else ensure_utc(spec.end_date)

    def next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        bound = ensure_utc(previous) + _TICK if previous is not None else ensure_utc(now)
        if self._start is not None:
            bound = max(bound, self._start)
        if self._end is not None and bound > self._end:
            return None
        fire = self._first_at_or_after(bound)
        if fire is None or (self._end is not None and fire > self._end):
            return None
        return fire

    @abstractmethod
    def _first_at_or_after(self, bound: datetime) -> datetime | None:
        """The first fire at or after ``bound`` (both UTC), ignoring the window."""


class _CrontabTrigger(_WindowedCronTrigger):
    """A crontab string, through cronsim."""

    def __init__(self, spec: CronSpec, tz: ZoneInfo, expression: str) -> None:
        super().__init__(spec, tz)
        parts = crontab_expression(expression).split()
        # cronsim applies Debian's daylight-saving rules to 5-field expressions only, so a
        # 6-field one runs as its 5-field minute schedule plus the seconds in each minute.
        self._minute_expression = " ".join(parts[-5:])
        self._seconds = sorted(CronSim(" ".join(parts), _EPOCH).seconds) if len(parts) == 6 else [0]

    def _first_at_or_after(self, bound: datetime) -> datetime | None:
        # cronsim yields times strictly after its start, so start just before bound's minute
        # (stepping back in UTC: local arithmetic could land in a gap).
        start = (bound.replace(second=0, microsecond=0) - timedelta(seconds=1)).astimezone(
            self.timezone
        )
        for minute in CronSim(self._minute_expression, start):
            for second in self._seconds:
                fire = minute.astimezone(UTC) + timedelta(seconds=second)
                # Debian mode matches wall time, so from inside a repeated hour it can yield
                # the first copy of a time that has already passed.
                if fire >= bound:
                    return fire
        return None


class _CronFieldsTrigger(_WindowedCronTrigger):
    """APScheduler's cron fields, with Debian cron's daylight-saving rules.

    APScheduler 3 alone runs a fixed time twice on the fall-back day, and on the
    spring-forward day returns a non-existent wall time (02:30 as +01:00, an hour late) or
    skips the fire. Like Debian cron (and cronsim for strings) we treat a job whose hour and
    minute fields do not start with ``*`` as fixed-time and match it against the local wall
    clock: a time in the gap runs at the gap's end, a repeated time runs once. Other jobs
    match real instants: they run in both copies of a repeated hour and not in the gap.
    """

    def __init__(self, spec: CronSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        fields = spec.cron_fields()
        local = CronTrigger(timezone=tz, **fields)
        text = {field.name: str(field) for field in local.fields}
        self._wall_clock = not text["hour"].startswith("*") and not text["minute"].startswith("*")
        # In wall-clock mode APScheduler iterates local wall times as if they were UTC.
        self._aps = CronTrigger(timezone=UTC, **fields) if self._wall_clock else local

    def _first_at_or_after(self, bound: datetime) -> datetime | None:
        if self._wall_clock:
            return self._first_on_wall_clock(bound)
        return self._first_instant(bound)

    def _first_on_wall_clock(self, bound: datetime) -> datetime | None:
        # fold=0 because APScheduler carries a datetime's fold into its matches.
        wall = bound.astimezone(self.timezone).replace(tzinfo=UTC, fold=0)
        while (match := self._aps.get_next_fire_time(None, wall)) is not None:
            fire = _wall_time_instant(match.replace(tzinfo=None), self.timezone)
            # A wall time in a repeated hour maps to its first copy, which may be before a
            # bound inside the second copy.
            if fire >= bound:
                return fire
            wall = match + _TICK
        return None

    def _first_instant(self, bound: datetime) -> datetime | None:
        while (fire := self._aps.get_next_fire_time(None, bound)) is not None:
            if _exists(fire):
                return ensure_utc(fire)
            # APScheduler may return a wall time inside the spring-forward gap (02:00 for
            # hour="*/2"); it does not happen that day, so look on from the gap's end.
            bound = max(_gap_end(fire.replace(tzinfo=None), self.timezone), bound + _TICK)
        return None


class _IntervalTrigger(Trigger):
    """Fixed real-time spacing, through APScheduler's IntervalTrigger."""

    def __init__(self, spec: IntervalSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._anchored = spec.start_date is not None
        # Without start_date IntervalTrigger anchors on its own construction time, which
        # differs per node and per rebuild; that anchor is never used here (see
        # next_fire_time), so pin it.
        self._aps = IntervalTrigger(
            weeks=spec.weeks,
            days=spec.days,
            hours=spec.hours,
            minutes=spec.minutes,
            seconds=spec.seconds,
            start_date=spec.start_date or _EPOCH,
            end_date=spec.end_date,
            timezone=tz,
        )

    def next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        now = ensure_utc(now)
        try:
            if previous is not None:
                fire = self._aps.get_next_fire_time(ensure_utc(previous), now)
            elif self._anchored:
                fire = self._aps.get_next_fire_time(None, now)
            else:
                # As in APScheduler: without start_date the first fire is one interval
                # from now.
                fire = self._aps.get_next_fire_time(now, now)
        except (OverflowError, ValueError):
            # The next fire would lie past year 9999: the series is over.
            return None
        return None if fire is None else ensure_utc(fire)


class _DateTrigger(Trigger):
    """Once, through APScheduler's DateTrigger."""

    def __init__(self, spec: DateSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._aps = DateTrigger(run_date=spec.run_date, timezone=tz)

    def next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        fire = self._aps.get_next_fire_time(previous, ensure_utc(now))
        return None if fire is None else ensure_utc(fire)


def build_trigger(
    spec: CronSpec | IntervalSpec | DateSpec | Mapping[str, Any],
    *,
    default_timezone: str = "Asia/Shanghai",
) -> Trigger:
    """The runtime trigger for a spec (or its JSON); a spec without timezone gets the default."""
    resolved = parse_trigger(spec, default_timezone=default_timezone)
    tz = zone(resolved.timezone or default_timezone)
    if isinstance(resolved, CronSpec):
        if resolved.expression is not None:
            return _CrontabTrigger(resolved, tz, resolved.expression)
        return _CronFieldsTrigger(resolved, tz)
    if isinstance(resolved, IntervalSpec):
        return _IntervalTrigger(resolved, tz)
    return _DateTrigger(resolved, tz)


def trigger_from_json(
    data: Mapping[str, Any], *, default_timezone: str = "Asia/Shanghai"
) -> Trigger:
    """The runtime trigger for a stored ``Schedule.trigger``."""
    return build_trigger(data, default_timezone=default_timezone)


def _exists(local: datetime) -> bool:
    """Whether an aware local datetime names a real instant (is not in a DST gap)."""
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def _wall_time_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant a fixed-time job with naive local time ``wall`` runs at."""
    local = wall.replace(tzinfo=tz, fold=0)  # the first of a repeated wall time
    return ensure_utc(local) if _exists(local) else _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant after the spring-forward gap that contains naive ``wall``."""
    # cronsim implements Debian cron's rule for a fixed time in a gap (run at the first
    # minute after it), so ask it for this one time rather than locate the transition here.
    expression = f"{wall.minute} {wall.hour} {wall.day} {wall.month} *"
    probe = CronSim(expression, (wall - timedelta(minutes=1)).replace(tzinfo=tz))
    return ensure_utc(next(probe))
