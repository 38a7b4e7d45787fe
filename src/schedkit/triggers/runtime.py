"""Runtime triggers: the next nominal fire time of a validated spec.

The date arithmetic is schedkit's own: cron specs (crontab strings and cron fields alike)
compile to one field set (:mod:`schedkit.triggers.fields`) evaluated on the local wall
clock with Debian cron's daylight-saving rules (:mod:`schedkit.triggers.cron`); intervals
and dates are exact ``timedelta`` arithmetic. The contract:

* fire times are aware UTC datetimes, and *nominal*: jitter is an offset the engine adds
  when firing, never fed back, so a series cannot drift;
* ``next_fire_time(previous, now)`` returns the first fire strictly after ``previous``
  when given (``now`` is then ignored, so the engine sees every missed fire and applies its
  misfire policy), else the first fire at or after ``now``;
* a fire is an instant between :data:`FIRST_FIRE` and :data:`LAST_FIRE`: one that any
  zone can show, jittered or not. A series ends (``None``) where it would leave them, it
  never raises; a schedule whose *first* fire would lie past them never fires, and
  :meth:`Trigger.first_fire` refuses it (ValidationError naming the field).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schedkit.calendars.rules import CalendarRef
from schedkit.errors import ValidationError
from schedkit.models import ensure_utc
from schedkit.triggers.cron import next_fire
from schedkit.triggers.cronfields import compile_fields
from schedkit.triggers.crontab import compile_crontab
from schedkit.triggers.date import next_date_fire
from schedkit.triggers.describe import describe_trigger
from schedkit.triggers.interval import next_interval_fire
from schedkit.triggers.specs import (
    CronSpec,
    DateSpec,
    IntervalSpec,
    parse_trigger,
    zone,
)

_TICK = timedelta(microseconds=1)
# A zone's offset is less than a day either way (datetime's own rule), and jitter adds
# less than a day (specs.py): a fire this far inside datetime's range can be shown in
# any zone, jittered, without leaving years 1-9999.
FIRST_FIRE = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LAST_FIRE = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)


def _supported(fire: datetime | None) -> datetime | None:
    """``fire`` if it lies in the supported dates (see :data:`LAST_FIRE`), else None:
    the engine's searches stop where the dates do, OverflowError past year 9999."""
    return fire if fire is None or FIRST_FIRE <= fire <= LAST_FIRE else None


class Trigger(ABC):
    """A validated trigger spec made executable; build one with :func:`build_trigger`."""

    def __init__(self, spec: CronSpec | IntervalSpec | DateSpec, tz: ZoneInfo) -> None:
        self.spec = spec
        self.timezone = tz

    def next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        """The next nominal fire (aware UTC), or ``None`` once the trigger is exhausted.

        With ``previous`` (the last *nominal* fire, never a jittered one): the first fire
        strictly after it. Without: the first fire at or after ``now`` (and ``start_date``);
        an interval without ``start_date`` fires first one interval after ``now``; a date
        trigger returns its ``run_date`` even when it has passed, so that the engine's misfire
        policy decides and a late start is recorded instead of silently dropped.
        """
        try:
            after = None if previous is None else ensure_utc(previous)
            fire = self._next(after, max(ensure_utc(now), FIRST_FIRE))
        except OverflowError:
            return None
        return _supported(fire)

    def fire_at_or_after(self, nominal: datetime, at: datetime) -> datetime | None:
        """The first fire at or after ``at`` of the series ``nominal`` is a fire of
        (``nominal`` itself when ``at`` is not later), or ``None`` if the series ends
        before: what stepping ``next_fire_time(previous, ...)`` from ``nominal`` reaches
        first at ``at``, without stepping through every fire in between."""
        try:
            fire = self._at_or_after(ensure_utc(nominal), ensure_utc(at))
        except OverflowError:
            return None
        return _supported(fire)

    def series_fire_at_or_after(self, at: datetime, known: datetime | None) -> datetime | None:
        """The first fire at or after ``at`` of the schedule's series, given ``known``, a
        fire of that series (its stored next or last fire; None: it has none), which may
        lie before ``at`` or after it: where a backfill of a past range starts. A cron or
        date trigger's fires are its spec's alone (``known`` is not needed; a date trigger
        answers its run date, as :meth:`next_fire_time` does); an interval's lie on the
        grid through its ``start_date`` or, without one, through ``known`` (see
        :class:`_IntervalTrigger`)."""
        return self.next_fire_time(None, at)

    def first_fire(self, now: datetime) -> datetime | None:
        """``next_fire_time(None, now)`` for a schedule being saved or previewed.

        ValidationError naming the field at fault when that fire would come after
        :data:`LAST_FIRE`: such a schedule never fires, and is refused as a cron whose
        fields match no date is (stored, it would only show as ended).
        """
        try:
            fire = self._next(None, max(ensure_utc(now), FIRST_FIRE))
        except OverflowError:
            fire = LAST_FIRE + _TICK
        if fire is not None and fire > LAST_FIRE:
            raise ValidationError(
                f"the schedule never fires: its first fire would come after "
                f"{LAST_FIRE:%Y-%m-%d %H:%M:%S} UTC, the end of the supported dates",
                field=f"trigger.{self._never_fires_field()}",
            )
        return _supported(fire)

    @abstractmethod
    def _next(self, previous: datetime | None, now: datetime) -> datetime | None:
        """:meth:`next_fire_time` for aware UTC arguments, ``now`` not before
        :data:`FIRST_FIRE`, before the supported dates are applied: it may return a
        later fire or raise OverflowError."""

    @abstractmethod
    def _at_or_after(self, nominal: datetime, at: datetime) -> datetime | None:
        """:meth:`fire_at_or_after` for aware UTC arguments, as :meth:`_next` is."""

    @abstractmethod
    def _never_fires_field(self) -> str:
        """The field a schedule whose first fire is past the supported dates is refused on."""

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

    @property
    def calendar(self) -> CalendarRef | None:
        """The business calendar the spec names (decided against the store's calendars
        by the engine and the previews, see :mod:`schedkit.calendars`)."""
        return self.spec.calendar

    def local_day(self, nominal: datetime) -> date:
        """``nominal``'s date in the spec's zone: the day a business calendar judges."""
        return ensure_utc(nominal).astimezone(self.timezone).date()

    def describe(self, lang: str = "en") -> str:
        """The schedule in words, ``lang`` ``"en"`` or ``"zh"``."""
        return describe_trigger(self.spec, lang)


class _SeriesTrigger(Trigger):
    """A trigger that repeats between an optional ``start_date`` and ``end_date``."""

    def __init__(self, spec: CronSpec | IntervalSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._start = None if spec.start_date is None else ensure_utc(spec.start_date)
        self._end = None if spec.end_date is None else ensure_utc(spec.end_date)

    def _never_fires_field(self) -> str:
        if self._start is not None and self._start > LAST_FIRE:
            return "start_date"
        return self._series_field()

    @abstractmethod
    def _series_field(self) -> str:
        """The field to blame when the series itself fires first past the supported
        dates (its start is not)."""


class _CronTrigger(_SeriesTrigger):
    """Both cron forms: the compiled field set, searched from the window's start."""

    def __init__(self, spec: CronSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._fields = (
            compile_crontab(spec.expression)
            if spec.expression is not None
            else compile_fields(spec.cron_fields())
        )

    def _next(self, previous: datetime | None, now: datetime) -> datetime | None:
        bound = previous + _TICK if previous is not None else now
        if self._start is not None and bound < self._start:
            bound = self._start
        if self._end is not None and bound > self._end:
            return None
        fire = next_fire(self._fields, self.timezone, bound)
        if fire is None or (self._end is not None and fire > self._end):
            return None
        return fire

    def _at_or_after(self, nominal: datetime, at: datetime) -> datetime | None:
        # A cron series is its fields: the fire after any instant is the same from there.
        return self._next(None, max(nominal, at))

    def _series_field(self) -> str:
        spec = self.spec
        assert isinstance(spec, CronSpec)
        if spec.expression is not None:
            return "expression"
        return "year" if spec.year is not None else next(iter(spec.cron_fields()))


class _IntervalTrigger(_SeriesTrigger):
    """Fixed real-time spacing."""

    def __init__(self, spec: IntervalSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._length = spec.length()
        self._unit = spec.blamed_unit

    def _next(self, previous: datetime | None, now: datetime) -> datetime | None:
        return next_interval_fire(self._length, self._start, self._end, previous, now)

    def _at_or_after(self, nominal: datetime, at: datetime) -> datetime | None:
        # The series is anchored on its fires (start_date, or the first fire from when it
        # was scheduled), so the grid through ``nominal`` decides, not ``at``.
        return next_interval_fire(self._length, nominal, self._end, None, at)

    def series_fire_at_or_after(self, at: datetime, known: datetime | None) -> datetime | None:
        # Without start_date the grid was laid when the schedule was saved (its first
        # fire one interval later), so only a fire of the series says where it lies:
        # anchoring on ``at`` would invent a series of its own (an audit: a backfill of
        # an hourly schedule firing at :17 ran 01:00..23:00). None known: no fire to run.
        anchor = self._start if self._start is not None else known
        if anchor is None:
            return None
        lo = max(ensure_utc(at), FIRST_FIRE)
        if self._start is not None:
            lo = max(lo, self._start)
        anchor = ensure_utc(anchor)
        try:
            # ceil((lo - anchor) / length) steps, backwards when negative.
            fire = anchor + self._length * -((anchor - lo) // self._length)
        except OverflowError:
            return None
        if self._end is not None and fire > self._end:
            return None
        return _supported(fire)

    def _series_field(self) -> str:
        return self._unit


class _DateTrigger(Trigger):
    """Once."""

    def __init__(self, spec: DateSpec, tz: ZoneInfo) -> None:
        super().__init__(spec, tz)
        self._run_date = ensure_utc(spec.run_date)

    def _next(self, previous: datetime | None, now: datetime) -> datetime | None:
        return next_date_fire(self._run_date, previous)

    def _at_or_after(self, nominal: datetime, at: datetime) -> datetime | None:
        return nominal if at <= nominal else None

    def _never_fires_field(self) -> str:
        return "run_date"


def build_trigger(
    spec: CronSpec | IntervalSpec | DateSpec | Mapping[str, Any],
    *,
    default_timezone: str = "Asia/Shanghai",
) -> Trigger:
    """The runtime trigger for a spec (or its JSON); a spec without timezone gets the default."""
    resolved = parse_trigger(spec, default_timezone=default_timezone)
    tz = zone(resolved.timezone or default_timezone)
    if isinstance(resolved, CronSpec):
        return _CronTrigger(resolved, tz)
    if isinstance(resolved, IntervalSpec):
        return _IntervalTrigger(resolved, tz)
    return _DateTrigger(resolved, tz)


def trigger_from_json(
    data: Mapping[str, Any], *, default_timezone: str = "Asia/Shanghai"
) -> Trigger:
    """The runtime trigger for a stored ``Schedule.trigger``."""
    return build_trigger(data, default_timezone=default_timezone)
