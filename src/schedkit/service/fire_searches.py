"""The fires business calendars allow, searched for what lists schedules: each one's next
fire in the task and schedule lists (:func:`schedkit.triggers.allowed_fire`), the coming
fires on the dashboard (:func:`schedkit.triggers.upcoming`). Shared between callers, and
bounded per request and per node.

A search is pure Python in a worker thread: it holds a thread of the default pool and
the GIL. Ten make-up-Saturday schedules (every second on Saturdays, ``cn_workdays``: each
search ends at its budget) made ``GET /stats?upcoming=100`` search 2 s per request, and
twelve viewers polling it kept the pool busy: the admin's ``/tasks`` and previews took
1.1-1.7 s instead of 0.05 (an audit); ``/schedules?limit=500`` over 300 such schedules
did the same. So:

- **a budget per request**: :data:`PREVIEW_BUDGET` for all of a request's searches, its
  wait for its turn included (:meth:`FireSearches.deadline`); schedules left when it is
  spent are not searched, and the answer says so;
- **one search at a time**: every caller's searches take turns, so that they hold one
  thread of the pool at most, whatever the number of callers; other CPU work of a
  listing (a calendar's year worked out day by day: :meth:`FireSearches.in_turn`)
  takes the same turns;
- **kept while what it depends on is unchanged**: a schedule's result is kept by its
  id, version, trigger and stored next fire, and the calendar its trigger names as read
  from the store; callers asking the same (twelve viewers polling one dashboard) share
  one search. A search its budget cut short is kept :data:`RETRY_AFTER` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal, TypeVar

from schedkit.calendars import CalendarSet, canonical_name, referenced_names
from schedkit.errors import CalendarNotFoundError, ValidationError
from schedkit.models import Schedule
from schedkit.triggers import AllowedFire, Blocked, OpenDays, allowed_fire, trigger_from_json
from schedkit.triggers.upcoming import PREVIEW_BUDGET, Stop, upcoming

__all__ = ["RETRY_AFTER", "FireSearches", "FoundFires", "search_upcoming", "unchanged"]

#: Seconds a search its budget cut short is answered from memory before it is made again
#: (an answer kept while nothing changed, but not forever: the node was perhaps busy).
RETRY_AFTER = 300.0
#: Results kept at most (one per schedule and kind; the least recently asked go first).
KEPT = 10_000
#: The share of a request's budget one schedule's search may take: the rest find theirs.
SLICE = 10

_Kind = Literal["allowed", "upcoming"]
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True, slots=True)
class FoundFires:
    """The next fires of each schedule searched (by id; none for a schedule not searched,
    paused, or unreadable)."""

    fires: dict[str, tuple[datetime, ...]]
    #: False when a search stopped at its time budget, or the request's budget ran out
    #: before every schedule was searched: fires may be missing.
    complete: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class _Kept:
    """One schedule's result, and what it was found from."""

    version: int
    trigger: Mapping[str, Any]
    nominal: datetime
    calendar: object
    notices: object
    #: Fires asked for (1 for an allowed fire).
    asked: int
    allowed: AllowedFire | None
    fires: tuple[datetime, ...]
    #: False: the search stopped at its budget.
    complete: bool
    at: float

    def answers(self, schedule: Schedule, n: int, calendars: CalendarSet, now: float) -> bool:
        if (self.version, self.nominal) != (schedule.version, schedule.next_fire_time):
            return False
        if self.trigger != schedule.trigger:  # an id deleted and saved again
            return False
        calendar, notices = _calendar_of(schedule.trigger, calendars)
        if not (unchanged(self.calendar, calendar) and unchanged(self.notices, notices)):
            return False
        if self.complete:  # fewer fires than asked: the series has no more
            return n <= self.asked or len(self.fires) < self.asked
        return len(self.fires) >= n or (n <= self.asked and now - self.at < RETRY_AFTER)

    def complete_for(self, n: int) -> bool:
        return self.complete or len(self.fires) >= n


def _firing(schedules: Iterable[Schedule]) -> list[Schedule]:
    """The schedules with a next fire, not paused, each once."""
    unique = {s.id: s for s in schedules if not s.paused and s.next_fire_time is not None}
    return list(unique.values())


def _give_back(turn: asyncio.Semaphore, acquired: asyncio.Future[bool]) -> None:
    if not acquired.cancelled() and acquired.exception() is None:
        turn.release()


def unchanged(kept: object, now: object) -> bool:
    """Whether calendar data a result was found from (a stored calendar, the national
    notices) is what is read now: the book returns the same objects while the store's
    versions are unchanged; equal ones (an empty notice table read again) answer too."""
    return kept is now or kept == now


def _calendar_of(trigger: Mapping[str, Any], calendars: CalendarSet) -> tuple[object, object]:
    """What a result for ``trigger`` depends on in ``calendars``: the stored calendar it
    names (None: built in, or missing) and the national notices."""
    names = referenced_names([trigger])
    if not names:
        return None, None
    return calendars.calendars.get(canonical_name(names[0])), calendars.notices


class FireSearches:
    """``scheduler.fire_searches``: the searches of one node's listings (see the module)."""

    def __init__(
        self,
        tz: tzinfo,
        *,
        budget: float = PREVIEW_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.zone = str(tz)
        #: Seconds of search a request may take in all, its wait for its turn included.
        self.budget = budget
        self._clock = clock
        self._kept: OrderedDict[tuple[_Kind, str], _Kept] = OrderedDict()
        #: The turn, made in the event loop that uses it (a Scheduler may be started
        #: again in another one).
        self._turn: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._searching: set[asyncio.Task[Any]] = set()
        #: Schedules searched, not answered from memory (what tests observe).
        self.searched = 0

    def deadline(self) -> float:
        """When the searches of a request starting now must have ended."""
        return self._clock() + self.budget

    async def allowed(
        self,
        schedules: Sequence[Schedule],
        calendars: CalendarSet,
        *,
        deadline: float | None = None,
    ) -> dict[str, AllowedFire]:
        """By id, the first fire from each schedule's stored next fire that its calendar
        allows (the stored one without a calendar; paused or ended ones left out);
        ``Blocked.UNSEARCHED`` for those the budget left unsearched."""
        active = _firing(schedules)
        answer = {s.id: AllowedFire(fire=s.next_fire_time) for s in active}
        ruled = [s for s in active if referenced_names([s.trigger])]
        found = await self._find("allowed", ruled, 1, calendars, deadline)
        for schedule in ruled:
            kept = found.get(schedule.id)
            answer[schedule.id] = (
                kept.allowed
                if kept is not None and kept.allowed is not None
                else AllowedFire(fire=None, blocked=Blocked.UNSEARCHED)
            )
        return answer

    async def upcoming(
        self,
        schedules: Sequence[Schedule],
        per_schedule: int,
        calendars: CalendarSet,
        *,
        deadline: float | None = None,
    ) -> FoundFires:
        """The next ``per_schedule`` fires of each unpaused schedule, from its stored next
        fire, days its calendar excludes left out."""
        active = _firing(schedules)
        found = await self._find("upcoming", active, per_schedule, calendars, deadline)
        return FoundFires(
            fires={sid: kept.fires[:per_schedule] for sid, kept in found.items()},
            complete=len(found) == len(active)
            and all(kept.complete_for(per_schedule) for kept in found.values()),
        )

    async def in_turn(self, work: Callable[[], _T], *, deadline: float | None = None) -> _T | None:
        """``work`` (CPU-bound, no search) in a worker thread in the searches' turn, if
        the turn comes before ``deadline`` (default: a request's budget from now); None
        if it does not."""
        turn = self._turn_here()
        if not await self._take(turn, self.deadline() if deadline is None else deadline):
            return None

        async def run() -> _T:
            try:
                return await asyncio.to_thread(work)
            finally:
                turn.release()

        return await self._unless_cut(asyncio.create_task(run()))

    async def _unless_cut(self, running: asyncio.Task[_T]) -> _T:
        """The result of ``running``, which holds the turn: a request cut (its client
        gone) lets it end, and the next turn starts only then."""
        self._searching.add(running)
        running.add_done_callback(self._searching.discard)
        return await asyncio.shield(running)

    # -- the turn and what is kept -------------------------------------------------------

    async def _find(
        self,
        kind: _Kind,
        schedules: Sequence[Schedule],
        n: int,
        calendars: CalendarSet,
        deadline: float | None,
    ) -> dict[str, _Kept]:
        """What is kept for ``schedules``, the others searched in this request's turn
        (those it has no time for left out)."""
        until = self.deadline() if deadline is None else deadline
        found = self._recall(kind, schedules, n, calendars)
        if len(found) == len(schedules):
            return found
        turn = self._turn_here()
        if not await self._take(turn, until):
            return found
        # The turn before may have searched them.
        found.update(self._recall(kind, schedules, n, calendars))
        missing = [s for s in schedules if s.id not in found]
        if not missing:
            turn.release()
            return found
        search = asyncio.create_task(self._search(turn, kind, missing, n, calendars, until))
        # Kept too, when the request is cut: the search ran to its end.
        found.update(await self._unless_cut(search))
        return found

    async def _take(self, turn: asyncio.Semaphore, until: float) -> bool:
        """Whether this request got the turn before ``until``. A wait given up (or cut)
        whose acquire succeeds all the same gives the turn back: kept, no search would
        ever run again."""
        acquiring = asyncio.ensure_future(turn.acquire())
        try:
            await asyncio.wait({acquiring}, timeout=max(0.0, until - self._clock()))
        except BaseException:
            acquiring.cancel()
            acquiring.add_done_callback(functools.partial(_give_back, turn))
            raise
        if acquiring.done():
            return True
        acquiring.cancel()
        acquiring.add_done_callback(functools.partial(_give_back, turn))
        return False

    def _turn_here(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._turn is None or self._turn[0] is not loop:
            self._turn = (loop, asyncio.Semaphore(1))
        return self._turn[1]

    def _recall(
        self, kind: _Kind, schedules: Sequence[Schedule], n: int, calendars: CalendarSet
    ) -> dict[str, _Kept]:
        now = self._clock()
        found: dict[str, _Kept] = {}
        for schedule in schedules:
            key = (kind, schedule.id)
            kept = self._kept.get(key)
            if kept is not None and kept.answers(schedule, n, calendars, now):
                self._kept.move_to_end(key)
                found[schedule.id] = kept
        return found

    async def _search(
        self,
        turn: asyncio.Semaphore,
        kind: _Kind,
        schedules: list[Schedule],
        n: int,
        calendars: CalendarSet,
        until: float,
    ) -> dict[str, _Kept]:
        try:
            found = await asyncio.to_thread(self._run, kind, schedules, n, calendars, until)
        finally:
            turn.release()
        for sid, (kept, keep) in found.items():
            if keep:
                self._kept[(kind, sid)] = kept
                self._kept.move_to_end((kind, sid))
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return {sid: kept for sid, (kept, _) in found.items()}

    def _run(
        self,
        kind: _Kind,
        schedules: list[Schedule],
        n: int,
        calendars: CalendarSet,
        until: float,
    ) -> dict[str, tuple[_Kept, bool]]:
        """In the worker thread: each schedule searched while the request has time, each
        for a :data:`SLICE` th of the budget at most when listing coming fires; by id,
        (the result, whether to keep it)."""
        days = OpenDays(calendars)
        share = self.budget / SLICE
        found: dict[str, tuple[_Kept, bool]] = {}
        for schedule in schedules:
            started = self._clock()
            if started >= until:
                break
            self.searched += 1  # one thread searches at a time (the turn)
            allowed, fires, complete = self._one(kind, schedule, n, calendars, days, until)
            calendar, notices = _calendar_of(schedule.trigger, calendars)
            assert schedule.next_fire_time is not None  # the callers pass only those
            kept = _Kept(
                version=schedule.version,
                trigger=schedule.trigger,
                nominal=schedule.next_fire_time,
                calendar=calendar,
                notices=notices,
                asked=n,
                allowed=allowed,
                fires=fires,
                complete=complete,
                at=self._clock(),
            )
            # Cut short with less than its share left: another request gives it its share.
            found[schedule.id] = (kept, complete or until - started >= share)
        return found

    def _one(
        self,
        kind: _Kind,
        schedule: Schedule,
        n: int,
        calendars: CalendarSet,
        days: OpenDays,
        until: float,
    ) -> tuple[AllowedFire | None, tuple[datetime, ...], bool]:
        nominal = schedule.next_fire_time
        assert nominal is not None
        try:
            trigger = trigger_from_json(schedule.trigger, default_timezone=self.zone)
        except ValidationError:  # a stored trigger the current code cannot read: as stored
            return AllowedFire(fire=nominal), (), True
        if kind == "allowed":
            found = allowed_fire(trigger, nominal, days, deadline=until)
            return found, (), found.blocked is not Blocked.UNSEARCHED
        left = min(self.budget / SLICE, until - self._clock())
        try:
            listed = upcoming(trigger, n, nominal, first=nominal, calendars=calendars, budget=left)
        except (ValidationError, CalendarNotFoundError):  # a warning says so; no fire listed
            return None, (), True
        # A calendar closed for two horizons lists what it allows: no fire is missing.
        return None, tuple(listed.fires), listed.complete or listed.stopped is Stop.CLOSED


def search_upcoming(
    schedules: Sequence[Schedule],
    tz: tzinfo,
    per_schedule: int,
    calendars: CalendarSet | None = None,
    *,
    budget: float = PREVIEW_BUDGET,
) -> FoundFires:
    """:meth:`FireSearches.upcoming` in the calling thread, nothing kept, within
    ``budget`` seconds (for a caller with no event loop; calendars default to the
    built-in ones)."""
    searches = FireSearches(tz, budget=budget)
    books = calendars if calendars is not None else CalendarSet()
    until = searches.deadline()
    active = _firing(schedules)
    found = searches._run("upcoming", active, per_schedule, books, until)
    return FoundFires(
        fires={sid: kept.fires for sid, (kept, _) in found.items()},
        complete=len(found) == len(active) and all(k.complete for k, _ in found.values()),
    )
