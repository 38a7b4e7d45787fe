"""The next fire of a cron field set in a time zone, with Debian cron's DST rules.

A :class:`~schedkit.triggers.fields.FieldSet` matches wall-clock times; this module maps
them to instants, field by field on the local wall clock (never by adding elapsed time):

* a **wildcard** job (minute or hour field starting with ``*``) fires at every real instant
  whose wall time matches: none in a spring-forward gap, in both copies of a repeated hour;
* a **fixed-time** job fires once per matching wall time: a time in a gap at the gap's
  end (the first instant after it), a repeated time in its first occurrence.

Offsets come from the zone (``utcoffset`` with ``fold`` 0 and 1 tells a gap from a
repeated time, PEP 495); transition instants are found by bisection over whole seconds,
and only on the rare calls that meet one.
"""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, datetime, timedelta, tzinfo

from schedkit.triggers.fields import FieldSet

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Wall-clock times are naive: they name no instant until an offset is chosen.
_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001
# Every 3 days from a day before the 1st to past the 31st. In tzdata (all 599 zones,
# 1900-2040) an offset that changes and changes back always holds for 3.75 days or more
# (Africa/Freetown 1939; America/Recife 2000: a week of DST), so no change hides between
# two probes.
_PROBE_DAYS = tuple(timedelta(days=d) for d in range(-1, 35, 3))
_STEADY: dict[tuple[tzinfo, int, int], timedelta | None] = {}
_STEADY_LIMIT = 100_000
_TICK = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
# A repeating job whose matches keep falling into gaps (``* 2 * 3 SUN#2`` in New York)
# never fires; stop looking after this many gaps in a row rather than walk to year 9999.
MAX_GAPS_IN_A_ROW = 1000


def next_fire(fields: FieldSet, tz: tzinfo, bound: datetime) -> datetime | None:
    """The first fire at or after ``bound`` (aware UTC), as aware UTC; ``None`` if none.

    OverflowError when the search leaves years 1-9999 (the caller,
    :class:`schedkit.triggers.Trigger`, decides what the end of the dates means).
    """
    local = bound.astimezone(tz)
    offset = local.utcoffset()
    assert offset is not None
    wall = _wall(bound, offset)
    if fields.wildcard:
        return _next_wildcard(fields, tz, bound, local, wall)
    return _next_fixed(fields, tz, bound, wall, offset)


def gap_end(tz: tzinfo, wall: datetime) -> datetime | None:
    """The instant (aware UTC) a fixed-time job matching naive ``wall`` fires at when
    ``wall`` lies in a gap of ``tz``: the gap's end; None for a wall time that exists."""
    first, second = _offsets(tz, wall.replace(tzinfo=None, fold=0))
    if first >= second:
        return None
    plain = wall.replace(tzinfo=None, fold=0)
    return _transition(tz, _instant(plain, second), _instant(plain, first))


def _steady_offset(tz: tzinfo, year: int, month: int) -> timedelta | None:
    """The zone's offset all through a month and a day either side, or ``None`` when it
    changes then. Most months have no change: their wall times need no closer look.

    Probed every 3 days (see _PROBE_DAYS).
    """
    key = (tz, year, month)
    try:
        return _STEADY[key]
    except KeyError:
        pass
    if len(_STEADY) >= _STEADY_LIMIT:
        _STEADY.clear()
    steady = None
    if MINYEAR < year < MAXYEAR:
        first = datetime(year, month, 1)  # noqa: DTZ001 (a wall time)
        offsets = {tz.utcoffset(first + days) for days in _PROBE_DAYS}
        steady = offsets.pop() if len(offsets) == 1 else None
    _STEADY[key] = steady
    return steady


def _offsets(tz: tzinfo, wall: datetime) -> tuple[timedelta, timedelta]:
    """The offsets of naive ``wall`` read as its first and as its second occurrence.

    Equal for an ordinary time; ``first > second`` for a repeated time (the clock went
    back); ``first < second`` for a time in a gap (PEP 495 reads a gap time with the
    offset before the change for ``fold=0``, after it for ``fold=1``).
    """
    steady = _steady_offset(tz, wall.year, wall.month)
    if steady is not None:
        return steady, steady
    first = tz.utcoffset(wall)
    second = tz.utcoffset(wall.replace(fold=1))
    assert first is not None and second is not None
    return first, second


def _instant(wall: datetime, offset: timedelta) -> datetime:
    """Naive ``wall`` read with ``offset``, as aware UTC (arithmetic: replace() is slower)."""
    return _EPOCH + (wall - _NAIVE_EPOCH - offset)


def _wall(moment: datetime, offset: timedelta) -> datetime:
    """Aware ``moment`` as the naive wall time it shows at ``offset``."""
    return _NAIVE_EPOCH + (moment - _EPOCH + offset)


def _transition(tz: tzinfo, before: datetime, after: datetime) -> datetime:
    """The first instant in ``(before, after]`` (aware UTC, offsets differ) with the offset
    of ``after``: the moment the zone's clock changed."""
    offset_before = tz.utcoffset(before.astimezone(tz))
    # Whole seconds, floored (changes happen on whole seconds).
    low = (before - _EPOCH) // _SECOND
    high = (after - _EPOCH) // _SECOND + 1
    while high - low > 1:
        middle = (low + high) // 2
        moment = _EPOCH + timedelta(seconds=middle)
        if tz.utcoffset(moment.astimezone(tz)) == offset_before:
            low = middle
        else:
            high = middle
    return _EPOCH + timedelta(seconds=high)


def _next_fixed(
    fields: FieldSet, tz: tzinfo, bound: datetime, wall: datetime, offset: timedelta
) -> datetime | None:
    if not bound.microsecond and _steady_offset(tz, wall.year, wall.month) is None:
        # bound may be the very end of a gap, where the gap's times fire: search from the
        # gap's first wall time then.
        before = tz.utcoffset((bound - _TICK).astimezone(tz))
        assert before is not None
        if before < offset:
            wall = _wall(bound, before)
    while (match := fields.next_match(wall)) is not None:
        first, second = _offsets(tz, match)
        if first == second:
            return _instant(match, first)
        if first < second:
            # In a gap: Debian runs the job once the clock has jumped over it.
            return _transition(tz, _instant(match, second), _instant(match, first))
        fire = _instant(match, first)
        if fire >= bound:
            return fire
        # A repeated time whose first occurrence has passed: bound is in the second copy,
        # where a fixed-time job does not run again. Go on after the repeated walls.
        change = _transition(tz, fire, _instant(match, second))
        wall = _wall(change, first)
    return None


def _next_wildcard(
    fields: FieldSet, tz: tzinfo, bound: datetime, local: datetime, wall: datetime
) -> datetime | None:
    first, second = _offsets(tz, wall)
    if first > second and not local.fold:
        # bound is in the first copy of a repeated hour: what matches in the rest of it
        # comes first, then everything in the second copy, whose walls are earlier.
        change = _transition(tz, bound, bound + (first - second))
        match = fields.next_match(wall)
        if match is not None and match < _wall(change, first):
            return _instant(match, first)
        bound, wall = change, _wall(change, second)
    gaps = 0
    while (match := fields.next_match(wall)) is not None:
        first, second = _offsets(tz, match)
        if first == second:
            return _instant(match, first)
        if first > second:
            # Both occurrences fire; the first one is before bound when bound is in the
            # second copy.
            fire = _instant(match, first)
            return fire if fire >= bound else _instant(match, second)
        gaps += 1
        if gaps > MAX_GAPS_IN_A_ROW:
            return None
        # No instant has this wall time: look on from the end of the gap.
        change = _transition(tz, _instant(match, second), _instant(match, first))
        wall = _wall(change, second)
    return None
