"""Deleting old history (``schedkit purge``): finished runs with their log lines, the
workflow runs that ended, and the audit log, each before its own cut-off.

A cut-off is an age counted back from one instant, said in words and as a UTC date-time
("older than 6 minutes: before 2026-12-07 00:21:10 UTC"): ``6m`` is six minutes, and an
operator who meant six months deleted almost all history before anything said so. A
:class:`PurgePlan` counts what a purge would delete without deleting anything (a dry run,
or the count a confirmation shows); a purge given the plan's ``as_of`` then deletes by
the very cut-offs the plan counted, however long the confirmation took.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from schedkit.clock import Clock
from schedkit.errors import ValidationError
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.store.base import Store

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def duration_parts(age: timedelta) -> list[tuple[float, str]]:
    """``age`` as (count, unit) from the largest unit: ``[(1, "day"), (12, "hour")]``.
    Days are the largest unit (a month or a year has no fixed length); seconds come last
    when there are any, or alone for no time at all."""
    rest = age.total_seconds()
    parts: list[tuple[float, str]] = []
    for unit, seconds in _UNITS:
        count, rest = divmod(rest, seconds)
        if count:
            parts.append((count, unit))
    if rest or not parts:
        parts.append((round(rest, 6), "second"))
    return parts


def duration_words(age: timedelta) -> str:
    """``age`` in English words: ``90 days``, ``6 minutes``, ``1 day, 12 hours``."""
    return ", ".join(
        f"{number(count)} {unit}{'' if count == 1 else 's'}" for count, unit in duration_parts(age)
    )


def number(count: float) -> str:
    """``3650`` or ``1.5``: no ``.0`` on a whole count, and no thousands separator (the
    audit detail holding it is read back by the console)."""
    return f"{count:.6f}".rstrip("0").rstrip(".")


def utc_stamp(at: datetime) -> str:
    """An aware date-time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cutoff(as_of: datetime, age: timedelta, field: str) -> datetime:
    """``as_of - age``; ValidationError naming ``field`` for a negative age (it would
    reach into the future: everything finished) or one reaching before the year 1."""
    if age < timedelta(0):
        raise ValidationError("an age cannot be negative", field=field)
    try:
        return as_of - age
    except OverflowError:
        raise ValidationError(
            f"{age.days:,} days is too long: it reaches back before the year 1", field=field
        ) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class PurgePlan:
    """What a purge at ``as_of`` deletes: the ``runs`` finished before
    ``finished_before`` and, when an audit age is given, the ``audit_events`` recorded
    before ``audit_before``."""

    as_of: datetime
    older_than: timedelta
    finished_before: datetime
    runs: int
    #: The workflow runs that ended before ``finished_before`` (their step runs are
    #: among ``runs``; those of the workflow runs kept are not).
    workflow_runs: int = 0
    audit_older_than: timedelta | None = None
    audit_before: datetime | None = None
    audit_events: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PurgeCounts:
    """What a purge deleted: ``runs`` (workflow step runs included) and
    ``workflow_runs``."""

    runs: int
    workflow_runs: int


class RetentionMethods:
    """The façade's purge methods (:class:`schedkit.Scheduler`); the runs' purge itself
    is :meth:`schedkit.service.runs.RunMethods.purge`."""

    store: Store
    clock: Clock

    async def purge_plan(
        self, older_than: timedelta, audit_older_than: timedelta | None = None
    ) -> PurgePlan:
        """Count what :meth:`purge` (and :meth:`purge_audit`, with ``audit_older_than``)
        would delete now; nothing is deleted and nothing is audited. Give the plan's
        ``as_of`` to them to delete by the cut-offs counted here."""
        store = self.store
        as_of = self.clock.now()
        before = cutoff(as_of, older_than, "older_than")
        plan = PurgePlan(
            as_of=as_of,
            older_than=older_than,
            finished_before=before,
            runs=await store.count_purgeable_runs(before),
            workflow_runs=await store.count_purgeable_workflow_runs(before),
        )
        if audit_older_than is None:
            return plan
        audit_before = cutoff(as_of, audit_older_than, "audit_older_than")
        return replace(
            plan,
            audit_older_than=audit_older_than,
            audit_before=audit_before,
            audit_events=await store.count_audit(before=audit_before),
        )

    async def purge_audit(
        self, older_than: timedelta, *, actor: str = SYSTEM, as_of: datetime | None = None
    ) -> int:
        """Delete the audit events recorded more than ``older_than`` before ``as_of``
        (default: now); returns how many. The purge is audited itself (``audit.purge``),
        after the delete: the record that the log was cut survives the cut."""
        before = cutoff(as_of or self.clock.now(), older_than, "audit_older_than")
        count = await self.store.purge_audit(before)
        detail = (
            f"{count} audit event(s) older than {duration_words(older_than)} "
            f"(before {utc_stamp(before)})"
        )
        await Auditor(self.store, self.clock).record(actor, "audit.purge", "audit", detail=detail)
        return count
