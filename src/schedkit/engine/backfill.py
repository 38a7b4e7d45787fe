"""Pure decisions of a backfill: which past fires of a schedule a range holds, which of
them the business calendar excludes, and how the runnable ones are chained so that no
more than ``concurrency`` run at once. No store, no clock: tested as functions
(tests/unit/engine/test_backfill.py).

How the limit holds across nodes: the runnable fires are dealt, in time order, onto
``concurrency`` chains; each run but a chain's first is stored ``blocked_by`` the run
before it in its chain. The store releases a blocked run only when its blocker ends
(finish, cancel, lost), so at most one run per chain is claimable at any moment,
whichever node claims it, and across restarts.

Idempotency: a backfill run's id and fencing key are derived from the schedule and the
fire time alone (:func:`run_id`, :func:`schedule_key`), so asking twice inserts nothing
the second time, and a chain link always names a run that exists.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schedkit.backfill_bounds import parse_bound
from schedkit.engine.planning import CalendarCheck
from schedkit.errors import ValidationError
from schedkit.models import RunStatus, Schedule, ensure_utc
from schedkit.triggers import Trigger

#: Most runs of one backfill request that may run at once.
MAX_CONCURRENCY = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class BackfillFire:
    """One past fire of the range: ``excluded`` is why the calendar rules it out (it is
    recorded ``skipped``), None for a fire that runs."""

    nominal: datetime
    excluded: str | None = None


def schedule_key(schedule_id: str) -> str:
    """The ``schedule_id`` backfill runs are stored under: their own fencing key space, so
    they neither count against the live schedule's ``max_instances`` nor collide with the
    records of its past fires (a fire recorded ``missed`` is exactly what one backfills)."""
    return f"{schedule_id}:backfill"


def run_id(schedule_id: str, fire: datetime) -> str:
    """The id of the backfill run of ``fire``: the same for every request and node."""
    key = f"{schedule_key(schedule_id)}|{ensure_utc(fire).isoformat()}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def window(
    start: date | datetime | str, end: date | datetime | str, tz: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """The half-open UTC range ``[start, end)`` a request covers. A date alone means that
    day in ``tz``: ``start`` from its midnight, ``end`` through its last moment (so
    2026-11-01..2026-11-15 is fifteen days); a date-time must carry its offset
    (ValidationError naming the field otherwise) and is taken as it is. A text is read by
    :func:`~schedkit.backfill_bounds.parse_bound`, as the API and the CLI read theirs. The
    end is cut at ``now``: fires still to come are the schedule's own."""
    lo = _bound(start, tz, next_day=False, field="from")
    hi = min(_bound(end, tz, next_day=True, field="to"), ensure_utc(now))
    if lo >= hi:
        # Shown in the schedule's zone: the user typed local dates (UTC read as a day off).
        raise ValidationError(
            f"the range {lo.astimezone(tz).isoformat()} .. {hi.astimezone(tz).isoformat()} "
            "is empty: 'from' must be before 'to' and in the past",
            field="from",
        )
    return lo, hi


def _bound(value: date | datetime | str, tz: ZoneInfo, *, next_day: bool, field: str) -> datetime:
    if isinstance(value, str):
        value = parse_bound(value, field=field)
    if isinstance(value, datetime) and value.utcoffset() is None:
        # Read as a wall time, midnight would be a day's bound without the day's meaning
        # (is ``to`` included?) and an hour in a DST change would be a guess: the API
        # refuses it too (an audit: "2024-03-10T00:00" was taken as a whole day there and
        # as a wall time here).
        raise ValidationError(
            f"{value.isoformat()} has no offset: give a date ({value.date().isoformat()}, "
            "the whole day) or a date-time with its offset "
            f"({value.replace(tzinfo=tz).isoformat()})",
            field=field,
        )
    try:
        if isinstance(value, datetime):
            return ensure_utc(value)
        day = value + timedelta(days=1) if next_day else value
        return ensure_utc(datetime.combine(day, time(), tzinfo=tz))
    except OverflowError:
        # The first or last day held in ``tz`` (0001-01-01 at +08:00 begins in year 0 in
        # UTC, 9999-12-31 ends in year 10000).
        raise ValidationError(
            f"{value.isoformat()} is out of the supported date range", field=field
        ) from None


def series_fire(schedule: Schedule) -> datetime | None:
    """A fire of ``schedule``'s series as stored: its next fire, else (ended) its last.
    The next one first: a trigger edited since keeps the last fire of its old series."""
    return schedule.next_fire_time or schedule.last_fire_time


def fires_in(
    trigger: Trigger,
    start: datetime,
    end: datetime,
    limit: int,
    calendar: CalendarCheck,
    *,
    series: datetime | None,
) -> list[BackfillFire]:
    """The nominal fires in ``[start, end)`` of the series ``series`` is a fire of (see
    :func:`series_fire`; an interval without ``start_date`` lies on no grid of its own),
    each judged by the business calendar check the scheduler judges a live fire with
    (``planning.calendar_check``). ValidationError when there are more than ``limit`` (a
    range that large is a mistake or must be split)."""
    fires: list[BackfillFire] = []
    nominal = trigger.series_fire_at_or_after(start, series)
    # A date trigger answers its run date even when it is before ``start``.
    if nominal is not None and nominal < start:
        nominal = trigger.next_fire_time(nominal, start)
    while nominal is not None and nominal < end:
        if len(fires) == limit:
            raise ValidationError(
                f"the range holds more than {limit:,} fires of this schedule, the most one "
                "backfill may create (limits.max_backfill_fires); split the range",
                field="to",
            )
        fires.append(BackfillFire(nominal=nominal, excluded=calendar(nominal)))
        nominal = trigger.next_fire_time(nominal, end)
    return fires


def check_concurrency(concurrency: int) -> int:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValidationError(f"must be 1 to {MAX_CONCURRENCY}", field="concurrency")
    return concurrency


def chain(fires: Sequence[datetime], concurrency: int) -> list[datetime | None]:
    """Per runnable fire (in time order), the fire whose run it waits for: the one
    ``concurrency`` places earlier, None for the first ``concurrency``."""
    return [fires[i - concurrency] if i >= concurrency else None for i in range(len(fires))]


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    """How far a backfill got, from the counts of its runs by status."""

    total: int
    done: int
    running: int
    pending: int
    succeeded: int
    failed: int
    skipped: int
    cancelled: int

    @property
    def finished(self) -> bool:
        return self.done == self.total


_FAILED = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.LOST})
_SKIPPED = frozenset({RunStatus.SKIPPED, RunStatus.MISSED})


def progress(statuses: Iterable[RunStatus]) -> Progress:
    """The progress of a backfill whose runs are in ``statuses`` (one read of them, so
    the counts agree with each other)."""
    counts = Counter(statuses)
    total = sum(counts.values())
    running, pending = counts[RunStatus.RUNNING], counts[RunStatus.PENDING]
    return Progress(
        total=total,
        done=total - running - pending,
        running=running,
        pending=pending,
        succeeded=counts[RunStatus.SUCCESS],
        failed=sum(counts[s] for s in _FAILED),
        skipped=sum(counts[s] for s in _SKIPPED),
        cancelled=counts[RunStatus.CANCELLED],
    )
