"""Calendars in the store's versioned key/value area: no table of their own.

Keys:

* ``calendar:<name>`` — one calendar (``{"calendar": {...}}``), or ``{"deleted": true}``
  once deleted: the key keeps counting versions, so a reader caching by version can
  never mistake a re-created calendar for the one it read before.
* ``calendar-notices`` — the national holiday arrangement operators entered
  (``{"notices": {...}}``), shared by every calendar with a Chinese base.
* ``calendar-index`` — ``{"names": [...]}``, every calendar name ever stored. It only
  grows (names are never removed, deleted calendars are skipped when listing), so
  adding a name can be retried freely and no listing misses a stored calendar.

Every edit is a compare-and-set on the version the editor read
(:meth:`~schedkit.store.base.Store.set_state`): of two operators editing the same
calendar, the second gets :class:`~schedkit.errors.CalendarConflictError` and nothing of
the first is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from schedkit._suggest import close_names
from schedkit.calendars.model import (
    ALIASES,
    BUILTIN_NAMES,
    Calendar,
    DayTable,
    Override,
    builtin_calendar,
    canonical_name,
    check_name,
    parse_calendar,
    parse_table,
    table_to_json,
)
from schedkit.calendars.sources import (
    Source,
    YearState,
    chinese_calendar_state,
    statutory_festivals,
)
from schedkit.errors import (
    CalendarConflictError,
    CalendarNotFoundError,
    NoticeDropsDaysError,
    NoticeMissesFestivalsError,
    ValidationError,
)
from schedkit.models import StateEntry
from schedkit.store.base import Store

NOTICES_KEY = "calendar-notices"
INDEX_KEY = "calendar-index"
#: The name :class:`~schedkit.errors.CalendarConflictError` gives the national record.
NOTICES_NAME = "(national holiday notices)"
# The index is add-only, so a lost race is simply tried again; this bounds a livelock.
_INDEX_ATTEMPTS = 20


def calendar_key(name: str) -> str:
    """The state key of calendar ``name``; ValidationError for an invalid name."""
    try:
        return f"calendar:{canonical_name(check_name(name))}"
    except ValueError as exc:
        raise ValidationError(str(exc), field="name") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredCalendar:
    calendar: Calendar
    #: The version to pass as ``expected_version`` when saving an edit of it; 0 for a
    #: built-in calendar nobody stored.
    version: int
    updated_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredNotices:
    notices: DayTable
    #: As :attr:`StoredCalendar.version`: 0 while nothing was entered.
    version: int
    updated_at: datetime | None


def decode_calendar(entry: StateEntry) -> Calendar | None:
    """The calendar a ``calendar:`` entry holds; None for a deleted one."""
    if entry.value.get("deleted"):
        return None
    try:
        return parse_calendar(entry.value.get("calendar"))
    except ValidationError as exc:
        raise ValidationError(f"stored {entry.key!r} is invalid: {exc}") from None


def decode_notices(entry: StateEntry | None) -> DayTable:
    if entry is None:
        return DayTable()
    try:
        return parse_table(entry.value.get("notices"))
    except ValidationError as exc:
        raise ValidationError(f"stored {entry.key!r} is invalid: {exc}") from None


class CalendarStore:
    """Reading and editing calendars (and the national notices) in a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, name: str) -> StoredCalendar | None:
        """The stored calendar ``name`` (alias resolved); None if none is stored."""
        entry = await self.store.get_state(calendar_key(name))
        calendar = decode_calendar(entry) if entry is not None else None
        if entry is None or calendar is None:
            return None
        return StoredCalendar(calendar=calendar, version=entry.version, updated_at=entry.updated_at)

    async def load(self, name: str) -> StoredCalendar:
        """The stored calendar ``name``, else the built-in one (version 0), else
        CalendarNotFoundError."""
        stored = await self.get(name)
        if stored is not None:
            return stored
        builtin = builtin_calendar(name)
        if builtin is None:
            raise CalendarNotFoundError(name, close=await self._close_names(name))
        return StoredCalendar(calendar=builtin, version=0, updated_at=None)

    async def _close_names(self, name: str) -> list[str]:
        """Calendars spelt close to ``name`` (``cn_workdays`` for ``cn_workday``), as
        task names are suggested; a deleted one, still indexed, is not."""
        index = await self.store.get_state(INDEX_KEY)
        stored = index.value.get("names", []) if index is not None else []
        known = sorted({*stored, *BUILTIN_NAMES, *ALIASES})
        return [
            close
            for close in close_names(name, known, cutoff=0.75)
            if builtin_calendar(close) is not None or await self.get(close) is not None
        ]

    async def save(self, calendar: Calendar, *, expected_version: int) -> StoredCalendar:
        """Store ``calendar`` if its stored version is still ``expected_version`` (0:
        no calendar of that name is stored); CalendarConflictError otherwise."""
        key = calendar_key(calendar.name)
        entry = await self.store.get_state(key)
        current = _live_version(entry)
        if current != expected_version:
            raise CalendarConflictError(calendar.name, expected_version, current)
        if expected_version == 0:
            await self._index(calendar.name)
        # A deleted calendar's key still exists: its tombstone's version is the CAS base.
        base = entry.version if entry is not None else 0
        if not await self.store.set_state(key, {"calendar": calendar.to_json()}, base):
            raise CalendarConflictError(calendar.name, expected_version, await self._version(key))
        return await self._reread(calendar.name)

    async def delete(self, name: str, *, expected_version: int) -> None:
        """Delete the stored calendar ``name`` at ``expected_version`` (a built-in one
        falls back to its defaults); CalendarConflictError if it changed, or
        CalendarNotFoundError if none is stored."""
        key = calendar_key(name)
        entry = await self.store.get_state(key)
        current = _live_version(entry)
        if current == 0:
            raise CalendarNotFoundError(name)
        if current != expected_version or not await self.store.set_state(
            key, {"deleted": True}, expected_version
        ):
            raise CalendarConflictError(canonical_name(name), expected_version, current)

    async def list(self) -> list[StoredCalendar]:
        """Every calendar, by name: the stored ones and the built-ins not stored."""
        index = await self.store.get_state(INDEX_KEY)
        names = set(index.value.get("names", [])) if index is not None else set()
        found: list[StoredCalendar] = []
        for name in sorted(names | BUILTIN_NAMES):
            stored = await self.get(name)
            builtin = builtin_calendar(name)
            if stored is not None:
                found.append(stored)
            elif builtin is not None:
                found.append(StoredCalendar(calendar=builtin, version=0, updated_at=None))
        return found

    async def get_notices(self) -> StoredNotices:
        """The national holiday arrangement operators entered (empty at version 0)."""
        entry = await self.store.get_state(NOTICES_KEY)
        return StoredNotices(
            notices=decode_notices(entry),
            version=entry.version if entry is not None else 0,
            updated_at=entry.updated_at if entry is not None else None,
        )

    async def save_notices(self, notices: DayTable, *, expected_version: int) -> StoredNotices:
        """Store the national arrangement if it is still at ``expected_version``."""
        value = {"notices": table_to_json(notices)}
        if not await self.store.set_state(NOTICES_KEY, value, expected_version):
            current = await self._version(NOTICES_KEY)
            raise CalendarConflictError(NOTICES_NAME, expected_version, current)
        return await self.get_notices()

    async def enter_notice(
        self,
        year: int,
        overrides: Iterable[Override],
        *,
        confirmed: bool,
        expected_version: int | None = None,
        replace: bool = False,
        partial: bool = False,
    ) -> StoredNotices:
        """Replace the national arrangement of ``year`` by ``overrides`` (the State
        Council notice: holidays closed, make-up workdays open) and mark the year
        confirmed or not. With ``expected_version`` None the current version is read
        first; either way a concurrent edit makes this a CalendarConflictError.

        A notice of ``year`` is entered whole: when ``overrides`` leave out days the
        stored notice of ``year`` sets, NoticeDropsDaysError names them, unless
        ``replace`` (a partial text would otherwise turn the holidays it omits into
        workdays of a confirmed year, silently). Confirmed, it must close every day off
        the law gives for the statutory holidays of ``year`` (:func:`statutory_festivals`), else
        NoticeMissesFestivalsError names those it leaves open; ``partial`` says the text
        is only part of the notice: entered, never confirmed, so the sources it replaces
        still decide the days it does not list."""
        days = list(overrides)
        current = await self.get_notices()
        if expected_version is not None and expected_version != current.version:
            raise CalendarConflictError(NOTICES_NAME, expected_version, current.version)
        # Before the notice's own checks: a correction typed alone ("上班 2027-02-20")
        # was told it "closes no day" (add 放假 lines) instead of to enter the whole
        # notice, as calendars.md says.
        dropped = current.notices.dropped_by(year, days)
        if dropped and not replace:
            raise NoticeDropsDaysError(
                year, [(i.date, i.open, i.note) for i in dropped], entered=len(days)
            )
        confirms = confirmed and not partial
        table = current.notices.with_year(year, days, confirmed=confirms)
        if confirms:
            _refuse_open_festivals(year, days)
        return await self.save_notices(table, expected_version=current.version)

    async def _index(self, name: str) -> None:
        for _ in range(_INDEX_ATTEMPTS):
            entry = await self.store.get_state(INDEX_KEY)
            names = list(entry.value.get("names", [])) if entry is not None else []
            if name in names:
                return
            value = {"names": sorted([*names, name])}
            if await self.store.set_state(INDEX_KEY, value, entry.version if entry else 0):
                return
        raise CalendarConflictError("(calendar index)", 0, await self._version(INDEX_KEY))

    async def _version(self, key: str) -> int:
        return _live_version(await self.store.get_state(key))

    async def _reread(self, name: str) -> StoredCalendar:
        stored = await self.get(name)
        if stored is None:  # deleted right after it was saved
            raise CalendarNotFoundError(name)
        return stored


def _refuse_open_festivals(year: int, days: Sequence[Override]) -> None:
    """NoticeMissesFestivalsError when ``days``, a notice of ``year`` entered confirmed,
    leave open a day off the law gives for a statutory holiday: the year would then be
    decided by them alone, and a notice typed in part (元旦, 春节 and 国庆 only) made
    清明 a workday of a confirmed year, without a word."""
    off = {item.date for item in days if not item.open}
    missing = [f for f in statutory_festivals(year) if f.day not in off]
    if missing:
        known = chinese_calendar_state(year) is YearState.CONFIRMED
        raise NoticeMissesFestivalsError(
            year,
            [(f.day, f.name_en, f.name_zh) for f in missing],
            source=(Source.CHINESE_CALENDAR if known else Source.HOLIDAYS).value,
        )


def _live_version(entry: StateEntry | None) -> int:
    """The version an editor compares with: 0 for a key that is absent or deleted."""
    if entry is None or entry.value.get("deleted"):
        return 0
    return entry.version
