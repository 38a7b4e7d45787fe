"""The firing path's view of the calendars: re-read every tick, parsed only on change.

The scheduler calls :meth:`CalendarBook.refresh` once per tick with the calendar names
its due schedules reference, then asks the returned :class:`CalendarSet` about each fire.
A calendar edited on any node is seen at the next tick: each refresh reads the keys
(one small read each), and parses a value only when its version moved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from schedkit.calendars.catalog import CalendarSet
from schedkit.calendars.model import Calendar, DayTable, canonical_name
from schedkit.calendars.storage import NOTICES_KEY, calendar_key, decode_calendar, decode_notices
from schedkit.errors import ValidationError
from schedkit.models import StateEntry
from schedkit.store.base import Store

_log = logging.getLogger(__name__)
_Stamp = tuple[int, datetime]


class CalendarBook:
    """Calendars read from ``store``, cached by state version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._calendars: dict[str, tuple[_Stamp, Calendar | None]] = {}
        self._notices: tuple[_Stamp, DayTable] | None = None
        self._current = CalendarSet()

    @property
    def current(self) -> CalendarSet:
        """The set of the last :meth:`refresh` (built-ins only before the first)."""
        return self._current

    async def refresh(self, names: Iterable[str]) -> CalendarSet:
        """Read the calendars ``names`` (and the national notices) and return them as a
        :class:`CalendarSet`. Names neither stored nor built in are absent from it: asking
        it about them raises CalendarNotFoundError."""
        wanted = sorted({canonical_name(name) for name in names})
        keys = [NOTICES_KEY, *(calendar_key(name) for name in wanted)]
        entries = await asyncio.gather(*(self.store.get_state(key) for key in keys))
        notices = self._parse_notices(entries[0])
        calendars: dict[str, Calendar] = {}
        for name, entry in zip(wanted, entries[1:], strict=True):
            calendar = self._parse_calendar(name, entry)
            if calendar is not None:
                calendars[name] = calendar
        self._current = CalendarSet(calendars=calendars, notices=notices)
        return self._current

    def _parse_calendar(self, name: str, entry: StateEntry | None) -> Calendar | None:
        if entry is None:
            self._calendars.pop(name, None)
            return None
        stamp = (entry.version, entry.updated_at)
        cached = self._calendars.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            calendar = decode_calendar(entry)
        except ValidationError as exc:
            # Only a hand-edited store gets here (every edit is validated first). The tick
            # goes on; schedules naming the calendar are answered "calendar missing".
            _log.error("%s; calendar %r is ignored until it is saved again", exc, name)
            calendar = None
        self._calendars[name] = (stamp, calendar)
        return calendar

    def _parse_notices(self, entry: StateEntry | None) -> DayTable:
        if entry is None:
            self._notices = None
            return DayTable()
        stamp = (entry.version, entry.updated_at)
        if self._notices is not None and self._notices[0] == stamp:
            return self._notices[1]
        try:
            notices = decode_notices(entry)
        except ValidationError as exc:
            _log.error("%s; the national notices are ignored until saved again", exc)
            notices = DayTable()
        self._notices = (stamp, notices)
        return notices


def referenced_names(triggers: Iterable[Mapping[str, Any]]) -> list[str]:
    """The calendar names stored triggers (``Schedule.trigger``) reference, sorted."""
    names: set[str] = set()
    for trigger in triggers:
        ref = trigger.get("calendar")
        if isinstance(ref, Mapping):
            ref = ref.get("name")
        if isinstance(ref, str):
            names.add(ref)
    return sorted(names)
