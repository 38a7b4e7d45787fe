"""Business calendars as the façade offers them: read, edit, import, export, warn.

Every edit is a compare-and-set on the version read (two operators editing the same
calendar: the second gets CalendarConflictError, HTTP 409) and is audited. Edits need no
restart: the scheduler re-reads a calendar by its version at the next fire of a schedule
naming it, on every node (:class:`~schedkit.calendars.CalendarBook`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from schedkit.calendars import (
    Calendar,
    CalendarBook,
    CalendarSet,
    CalendarStore,
    CalendarWarning,
    Format,
    Override,
    StoredCalendar,
    StoredNotices,
    export_overrides,
    notice_text,
    parse_calendar,
    parse_override,
    parse_overrides,
    referenced_names,
)
from schedkit.clock import Clock
from schedkit.errors import CalendarNotFoundError, OverrideNotFoundError, ValidationError
from schedkit.registry import TaskRegistry
from schedkit.service.audit import SYSTEM, Auditor
from schedkit.service.pending_defaults import default_triggers
from schedkit.store.base import Store
from schedkit.triggers import ScheduleSpec, Upcoming, build_trigger, upcoming
from schedkit.triggers.specs import TriggerSpec
from schedkit.triggers.upcoming import PREVIEW_BUDGET

#: Seconds :meth:`CalendarDesk.warnings` reuses its last answer.
WARNINGS_TTL = 10.0


class CalendarDesk:
    """``scheduler.calendars``: the calendars of the scheduler's store."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        tz: ZoneInfo,
        audit: Auditor,
        registry: TaskRegistry | None = None,
    ) -> None:
        self._cals = CalendarStore(store)
        self._book = CalendarBook(store)
        self._store = store
        #: The tasks whose default schedules count before they are stored.
        self._registry = registry if registry is not None else TaskRegistry()
        self.clock = clock
        self.tz = tz
        self.audit = audit
        #: Seconds :meth:`warnings` reuses its last answer (0: always read).
        self.warnings_ttl = WARNINGS_TTL
        #: The last :meth:`warnings`: (monotonic time, today, warnings).
        self._warned: tuple[float, date, list[CalendarWarning]] | None = None

    # -- reads -------------------------------------------------------------------------------

    def today(self) -> date:
        """Today in the scheduler's zone: the day warnings count from."""
        return self.clock.now().astimezone(self.tz).date()

    @property
    def current(self) -> CalendarSet:
        """The calendars as last read by :meth:`snapshot` (the built-ins before)."""
        return self._book.current

    async def snapshot(self, names: Iterable[str] = ()) -> CalendarSet:
        """The calendars ``names`` (and the national notices) as stored now, for
        decisions; built-ins are always in it."""
        return await self._book.refresh(names)

    async def list_all(self) -> list[StoredCalendar]:
        """Every calendar: the stored ones and the built-ins nobody stored."""
        return await self._cals.list()

    async def get(self, name: str) -> StoredCalendar:
        """The calendar ``name`` (stored, else built in at version 0), or
        CalendarNotFoundError."""
        return await self._cals.load(name)

    async def get_stored(self, name: str) -> StoredCalendar | None:
        """The calendar ``name`` if one is stored (None for a built-in nobody edited)."""
        return await self._cals.get(name)

    async def notices(self) -> StoredNotices:
        """The national holiday arrangement operators entered."""
        return await self._cals.get_notices()

    async def export(self, name: str, fmt: Format) -> str:
        """The overrides of calendar ``name`` in file format ``fmt``."""
        return export_overrides((await self.get(name)).calendar.overrides, fmt)

    async def referenced(self) -> list[str]:
        """The calendar names the stored schedules reference, and the tasks' default
        schedules a firing node's start will store (sorted, aliases kept)."""
        stored = await self._store.list_schedules(None)
        defaults = await default_triggers(self._store, self._registry, str(self.tz), stored)
        return referenced_names([*(s.trigger for s in stored), *defaults])

    async def warnings(self, today: date | None = None) -> list[CalendarWarning]:
        """Each year from today to the warning horizon that a calendar a schedule uses
        (a default schedule not stored yet too, see :meth:`referenced`) does not have
        confirmed, and each calendar a schedule names that does not exist:
        what ``/ready``, the console, ``schedkit check`` and the alert rule show. Kept
        for :attr:`warnings_ttl` seconds (readiness probes call it often; it reads every
        schedule); an edit through this node clears it at once."""
        day = today or self.today()
        cached = self._warned
        fresh = cached is not None and time.monotonic() - cached[0] < self.warnings_ttl
        if cached is not None and fresh and cached[1] == day:
            return list(cached[2])
        names = await self.referenced()
        books = await self.snapshot(names)
        found = books.warnings(names, today=day)
        self._warned = (time.monotonic(), day, found)
        return list(found)

    async def preview(self, schedule_config: Any, n: int = 5) -> Upcoming:
        """The next ``n`` fires of a schedule config against the stored calendars, each
        with the calendar's decision, and the calendar's warnings (nothing saved)."""
        spec = ScheduleSpec.parse(schedule_config, default_timezone=str(self.tz))
        return await self.preview_trigger(spec.trigger, n)

    async def preview_trigger(self, spec: TriggerSpec, n: int = 5) -> Upcoming:
        """Searched off the event loop for at most :data:`PREVIEW_BUDGET` seconds
        (``complete`` false when it stopped there): a spec whose calendar excludes nearly
        every fire held a running node's loop for minutes, and it lost its lease."""
        trigger = build_trigger(spec, default_timezone=str(self.tz))
        books = await self.snapshot([trigger.calendar.name] if trigger.calendar else [])
        now = self.clock.now()
        return await asyncio.to_thread(
            upcoming, trigger, n, now, calendars=books, budget=PREVIEW_BUDGET
        )

    def changed(self) -> None:
        """Forget the cached warnings (a schedule or calendar changed here)."""
        self._warned = None

    async def require(self, spec: TriggerSpec) -> None:
        """ValidationError on ``trigger.calendar`` when the spec names a calendar that
        neither is built in nor stored (checked before a schedule is saved)."""
        if spec.calendar is None:
            return
        try:
            await self.get(spec.calendar.name)
        except CalendarNotFoundError as exc:
            # A suggestion ends its sentence with "?".
            create = " Otherwise create" if exc.close else ": create"
            raise ValidationError(
                f"{exc}{create} it first (schedkit calendar set) or use a built-in one",
                field="trigger.calendar",
            ) from None

    # -- edits -------------------------------------------------------------------------------

    async def put(
        self, data: Mapping[str, Any], *, expected_version: int, actor: str = SYSTEM
    ) -> StoredCalendar:
        """Create or replace a calendar from its JSON (``expected_version`` 0: create)."""
        calendar = parse_calendar(dict(data))
        before = await self._cals.get(calendar.name)
        # A year a Chinese calendar already holds (stored before such years were refused,
        # and ignored since) may be sent back as read: only new ones are refused.
        held = before.calendar.confirmed_years if before and before.calendar.base.chinese else None
        _refuse_confirming(calendar, calendar.confirmed_years - (held or set()), "confirmed_years")
        saved = await self._cals.save(calendar, expected_version=expected_version)
        await self._audit(actor, "calendar.put", saved, before)
        return saved

    async def delete(self, name: str, *, expected_version: int, actor: str = SYSTEM) -> None:
        """Delete a stored calendar (a built-in one falls back to its defaults)."""
        before = await self._cals.get(name)
        await self._cals.delete(name, expected_version=expected_version)
        self._warned = None
        await self.audit.record(
            actor, "calendar.delete", name, before.calendar.to_json() if before else None
        )

    async def add_overrides(
        self,
        name: str,
        overrides: Iterable[Override | Mapping[str, Any]],
        *,
        confirm_years: Iterable[int] = (),
        expected_version: int | None = None,
        actor: str = SYSTEM,
    ) -> StoredCalendar:
        """Add (or replace, by date) overrides of calendar ``name``, and mark
        ``confirm_years`` complete (ValidationError for a Chinese calendar: its years are
        confirmed by the notice, :meth:`enter_notice`). ``expected_version`` None: the
        version read now."""
        items = [o if isinstance(o, Override) else parse_override(dict(o)) for o in overrides]
        current = await self._current(name, expected_version)
        confirm_years = list(confirm_years)
        _refuse_confirming(current.calendar, confirm_years, "confirm_years")
        calendar = current.calendar.with_overrides(items)
        for year in confirm_years:
            calendar = calendar.with_confirmed(year)
        return await self._save(current, calendar, "calendar.override.add", actor)

    async def remove_overrides(
        self,
        name: str,
        days: Iterable[date],
        *,
        expected_version: int | None = None,
        actor: str = SYSTEM,
    ) -> StoredCalendar:
        """Remove the overrides of ``days`` from calendar ``name``, all or none:
        OverrideNotFoundError names the days that have none (nothing is saved)."""
        current = await self._current(name, expected_version)
        have = {item.date for item in current.calendar.overrides}
        missing = sorted(set(days) - have)
        if missing:
            raise OverrideNotFoundError(name, missing)
        calendar = current.calendar.without_dates(days)
        return await self._save(current, calendar, "calendar.override.remove", actor)

    async def confirm_year(
        self,
        name: str,
        year: int,
        confirmed: bool = True,
        *,
        expected_version: int | None = None,
        actor: str = SYSTEM,
    ) -> StoredCalendar:
        """Mark ``year`` of calendar ``name`` complete (its unlisted days follow the base
        rule), or no longer. ValidationError for confirming a year of a calendar with a
        Chinese base: the State Council notice confirms those (:meth:`enter_notice`);
        undoing is allowed (a store written before the refusal may hold such a year)."""
        current = await self._current(name, expected_version)
        if confirmed:
            _refuse_confirming(current.calendar, [year], "year")
        calendar = current.calendar.with_confirmed(year, confirmed)
        # An undo recorded as "calendar.confirm", with no year, read as a confirmation.
        action = "calendar.confirm" if confirmed else "calendar.unconfirm"
        return await self._save(current, calendar, action, actor, detail=str(year))

    async def import_text(
        self,
        name: str,
        text: str,
        fmt: Format,
        *,
        confirm_years: Iterable[int] = (),
        expected_version: int | None = None,
        actor: str = SYSTEM,
    ) -> StoredCalendar:
        """Add the overrides of a file (CSV, JSON lines or the notice form) to calendar
        ``name``; a file with a bad line is refused whole (CalendarImportError).
        ``confirm_years`` as for :meth:`add_overrides` (refused for a Chinese calendar)."""
        items = parse_overrides(text, fmt)
        return await self.add_overrides(
            name,
            items,
            confirm_years=confirm_years,
            expected_version=expected_version,
            actor=actor,
        )

    async def enter_notice(
        self,
        year: int,
        text: str,
        fmt: Format = "notice",
        *,
        confirmed: bool,
        expected_version: int | None = None,
        replace: bool = False,
        partial: bool = False,
        actor: str = SYSTEM,
    ) -> StoredNotices:
        """Replace the national arrangement of ``year`` (shared by every calendar with a
        Chinese base) by the days of a file, typically the State Council notice. The text
        is the whole notice: NoticeDropsDaysError (409) when it leaves out days the
        stored notice of ``year`` sets, unless ``replace``; NoticeMissesFestivalsError
        (409) when, confirmed, it leaves a statutory holiday of ``year`` open, unless
        ``partial`` (then entered not confirmed); CalendarConflictError when the national
        record is no longer at ``expected_version`` (None: not checked)."""
        items = parse_overrides(text, fmt, notice_year=year)
        before = await self._cals.get_notices()
        saved = await self._cals.enter_notice(
            year,
            items,
            confirmed=confirmed,
            expected_version=expected_version,
            replace=replace,
            partial=partial,
        )
        confirmed = year in saved.notices.confirmed_years
        self._warned = None
        await self.audit.record(
            actor,
            "calendar.notice",
            str(year),
            _notice_record(before, year),
            _notice_record(saved, year),
            detail=f"{len(items)} day(s), {'confirmed' if confirmed else 'not confirmed'} "
            f"(version {before.version} -> {saved.version})",
        )
        return saved

    async def _current(self, name: str, expected_version: int | None) -> StoredCalendar:
        current = await self.get(name)
        if expected_version is None:
            return current
        return StoredCalendar(
            calendar=current.calendar, version=expected_version, updated_at=current.updated_at
        )

    async def _save(
        self,
        current: StoredCalendar,
        calendar: Calendar,
        action: str,
        actor: str,
        detail: str | None = None,
    ) -> StoredCalendar:
        saved = await self._cals.save(calendar, expected_version=current.version)
        await self._audit(actor, action, saved, current if current.version else None, detail)
        return saved

    async def _audit(
        self,
        actor: str,
        action: str,
        saved: StoredCalendar,
        before: StoredCalendar | None,
        detail: str | None = None,
    ) -> None:
        self._warned = None
        await self.audit.record(
            actor,
            action,
            saved.calendar.name,
            before.calendar.to_json() if before is not None else None,
            saved.calendar.to_json(),
            detail,
        )


def _refuse_confirming(calendar: Calendar, years: Iterable[int], field: str) -> None:
    """ValidationError when ``years`` of a calendar with a Chinese base would be confirmed.

    Such a year is known when the national arrangement is: the State Council notice,
    entered once for every Chinese calendar, or the packages. Confirming the calendar's
    own year made its days without an override follow Monday-Friday over the notice (the
    2027 notice entered, then the year confirmed as every warning said: 261 open days
    instead of 245), and confirmed nothing the notice had not."""
    wanted = sorted(set(years))
    if not wanted or not calendar.base.chinese:
        return
    first = wanted[0]
    listed = ", ".join(str(year) for year in wanted)
    years_are = f"year {first} is" if len(wanted) == 1 else f"years {listed} are"
    raise ValidationError(
        f"calendar {calendar.name} has the Chinese base {calendar.base.value}: its "
        f"{years_are} confirmed by entering the State Council's holiday notice, which every "
        "Chinese calendar shares, not by confirming the calendar's own year. Enter the "
        f"notice instead: schedkit calendar notice {first} FILE, the console's calendar "
        f"page, or PUT /calendar-notices/{first}",
        field=field,
    )


def _notice_record(stored: StoredNotices, year: int) -> dict[str, Any] | None:
    """The notice of ``year`` as ``GET /calendar-notices/{year}`` gives it, its text as
    lines (the audit page shows before and after side by side); None when the year has
    no notice, as a calendar not stored has no before."""
    days = stored.notices.notice_days(year)
    confirmed = year in stored.notices.confirmed_years
    if not days and not confirmed:
        return None
    fmt, text = notice_text(days)
    return {
        "year": year,
        "format": fmt,
        "lines": text.splitlines(),
        "days": len(days),
        "confirmed": confirmed,
        "version": stored.version,
    }
