"""One root exception, specific subclasses. Messages name the thing at fault."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from typing import Any

from schedkit._suggest import did_you_mean


class SchedkitError(Exception):
    """Root of every error schedkit raises on purpose."""


class ConfigError(SchedkitError):
    """The configuration cannot be used (bad value, unknown store URL scheme, ...)."""


class ValidationError(SchedkitError):
    """Input is invalid. ``field`` is the dotted path of the offending field, if known."""

    def __init__(self, message: str, *, field: str | None = None, errors: list[Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors or []

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class TaskDefinitionError(SchedkitError):
    """A task class or function is malformed (not a BaseTask, missing name, ...).

    ``task`` and ``attribute`` name the task and the part of its declaration at fault
    (``"retry_config"``, ``"default schedule"``) when known; the message then starts with
    them, and ``problem`` is the rest of it."""

    def __init__(self, message: str, *, task: str | None = None, attribute: str | None = None):
        where = f"task {task!r}" if task is not None else ""
        if attribute is not None:
            where = f"{where}: {attribute}" if where else attribute
        super().__init__(f"{where}: {message}" if where else message)
        self.problem = message
        self.task = task
        self.attribute = attribute


class ResultNotReadable(SchedkitError):
    """``execute`` returned the design document's result with a ``success`` that is not
    ``True`` or ``False`` (``"false"``, ``0``, ``None``): what the task meant is unknown,
    and truthiness would read ``"false"`` as a success. Fails the attempt, not retried."""


class ResultNotStorable(SchedkitError):
    """``execute`` returned a value JSON cannot carry in any form schedkit gives it (bytes
    that are not UTF-8 text, NaN, an object of a type with no lossless JSON form: the
    run's record says which, and how to convert it). Fails the attempt, not retried: the
    task did its work, and a retry would do it again."""


class StaleKwargsError(SchedkitError):
    """A run's stored kwargs do not fit its task's parameters as the code declares them
    now: a deploy renamed, added or retyped a parameter after the run, or its schedule,
    was made. Fails the attempt before any hook runs, not retried: every attempt would
    read the same kwargs. ``problem`` is what validating them at the run's creation would
    have said (``kwargs.limt: unknown key 'limt' (did you mean 'limit'?)``), ``field``
    the first field at fault."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        super().__init__(problem, field)  # both in args: a child process pickles it
        self.problem = problem
        self.field = field

    def __str__(self) -> str:
        return (
            f"{self.problem}; the run's kwargs no longer fit the task's parameters, changed "
            "since they were stored: edit the schedule's kwargs, or start a run with new ones"
        )


class DuplicateTaskError(TaskDefinitionError):
    """Two tasks declare the same name; the message names both locations."""


class TaskNotFoundError(SchedkitError, LookupError):
    """No task is registered under the given name. The message suggests ``close`` names
    and says where tasks were looked for (``searched``), when known."""

    def __init__(self, name: str, *, close: Sequence[str] = (), searched: str | None = None):
        message = f"unknown task {name!r}"
        if close:
            message += f"; {did_you_mean(close)}"
        if searched:
            message += f" ({searched})"
        super().__init__(message)
        self.name = name
        self.close = list(close)


class ScheduleNotFoundError(SchedkitError, LookupError):
    """No schedule has this id (``schedule_id``); the API answers 404."""

    def __init__(self, schedule_id: str):
        super().__init__(f"unknown schedule {schedule_id!r}")
        self.schedule_id = schedule_id


class BackfillNotFoundError(SchedkitError, LookupError):
    """The schedule has never been backfilled."""

    def __init__(self, schedule_id: str):
        super().__init__(f"schedule {schedule_id!r} has no backfill")
        self.schedule_id = schedule_id


class RunNotFoundError(SchedkitError, LookupError):
    """No run has this id (``run_id``): never created, or purged; the API answers 404."""

    def __init__(self, run_id: str):
        super().__init__(f"unknown run {run_id!r}")
        self.run_id = run_id


class WorkflowNotFoundError(SchedkitError, LookupError):
    """No workflow is defined under the given name; the message suggests ``close`` names."""

    def __init__(self, name: str, *, close: Sequence[str] = ()):
        message = f"no workflow {name!r}"
        if close:
            message += f"; {did_you_mean(close)}"
        super().__init__(message)
        self.name = name
        self.close = list(close)


class WorkflowRunNotFoundError(SchedkitError, LookupError):
    def __init__(self, run_id: str):
        super().__init__(f"no workflow run {run_id!r}")
        self.run_id = run_id


class NodeNotFoundError(SchedkitError, LookupError):
    def __init__(self, node_id: str):
        super().__init__(f"no live node {node_id!r} shares this store")
        self.node_id = node_id


class ResultFileNotFoundError(SchedkitError, LookupError):
    """A run's result does not offer a file under that name (or it is gone)."""

    def __init__(self, run_id: str, name: str, why: str):
        super().__init__(f"run {run_id} has no result file {name!r}: {why}")
        self.run_id = run_id
        self.name = name


class ConflictError(SchedkitError):
    """The action conflicts with the current state (resume a task that is not paused...)."""


class ScheduleConflictError(ConflictError):
    """A schedule write expected a version the store no longer holds: someone else changed
    (or created, or deleted) the schedule since it was read. Re-read it and retry."""

    def __init__(self, schedule_id: str, expected: int, actual: int | None) -> None:
        found = "does not exist" if actual is None else f"is at version {actual}"
        if expected == 0 and actual is not None:
            # Asked to create, not to replace (APScheduler's replace_existing=False): no
            # concurrent change to re-read, as the sentence below said (a migration audit).
            message = (
                f"schedule {schedule_id!r} exists already (version {actual}) and "
                "expected_version=0 asks to create it only if it does not: nothing was "
                "changed; leave expected_version out to replace it"
            )
        else:
            wanted = "not to exist yet" if expected == 0 else f"at version {expected}"
            message = (
                f"schedule {schedule_id!r} was expected {wanted} but {found}: it was "
                "changed concurrently; re-read it and apply the change again"
            )
        super().__init__(message)
        self.schedule_id = schedule_id
        self.expected = expected
        self.actual = actual


class TooManyRequestsError(SchedkitError):
    """The action is refused for now (the API answers 429); ``retry_after``: seconds
    until it may be asked again."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ScheduleLimitError(ConflictError):
    """A store refused to create schedules past the most it may hold (the
    ``max_schedules`` its caller gave): ``stored`` held, ``adding`` more asked for,
    ``limit`` allowed. Nothing was written."""

    def __init__(self, stored: int, adding: int, limit: int) -> None:
        super().__init__(
            f"the store holds {stored:,} schedules: {adding:,} more would pass the "
            f"{limit:,} allowed; nothing was stored"
        )
        self.stored = stored
        self.adding = adding
        self.limit = limit


class StoreError(SchedkitError):
    """The store failed or cannot be reached."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached; the URL in the message has its password masked."""


class StoreUnwritableError(StoreUnavailableError):
    """The store answers reads but refuses writes: its disk is full (SQLite's
    SQLITE_FULL, PostgreSQL's disk_full) or writing its SQLite file fails (an I/O error:
    the file made immutable, a file system remounted read-only). Waited out as an outage
    is (writes resume by themselves once space is freed), but not hidden as one: the
    store's ping, a read, passes, so the loops that write are what tell it (``/ready``,
    ``/health``); see docs/monitoring.md#readiness."""


class StoreNotFoundError(StoreError, LookupError):
    """The store URL reaches a database that holds no schedkit store, and the caller (a
    read command) must not create one there: a mistyped database name would otherwise
    get an empty store."""


class StoreOutdatedError(StoreError):
    """The store's schema is older than this code's, and the opener (a read command)
    must not upgrade it: an upgrade may be one that older releases cannot work with, and
    reading ahead of a rollback must not lose it (``schedkit db upgrade`` upgrades)."""


class StoreRefusedError(StoreError):
    """The store refuses the operation in a way waiting does not cure: this database
    user lacks a privilege, or a table or column is missing (the schema was changed
    under the node). The message says what to do (a GRANT, ``schedkit db upgrade`` as
    the tables' owner). Callers still try again, slowly: an administrator may fix it
    while the node runs."""


class StoreFileReplacedError(StoreRefusedError):
    """The SQLite store's file was removed or replaced (another file moved to its path)
    since this process opened it. Its connections still use the old file, which no
    other process will see again; a process started since uses the new one, and both
    would fire every schedule. Every later call of this store object fails with it:
    restart the process (docs/stores.md#backup-and-restore)."""


class StoreClosedError(StoreError):
    """The store object is not open (never opened, or closed by a stopping node): unlike
    an outage, waiting does not help."""


class NodeBusyError(SchedkitError):
    """The node's turn for CPU work of listings (calendar searches, calendar years) did
    not come within the request's budget: other requests held it. Retry shortly."""


class NotRunningError(SchedkitError):
    """The scheduler service is not started; ``retry_after``: seconds until it may be,
    when known."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @classmethod
    def forked(cls, what: str, started_in: int) -> NotRunningError:
        """Used in a process forked from process ``started_in``, which started it."""
        return cls(
            f"this {what} was started in process {started_in}, and this process "
            f"({os.getpid()}) is a fork of it, which has none of its threads and shares its "
            f"store connections: make and start a new {what} in this process (or start "
            "processes with the 'spawn' method)"
        )


class CalendarNotFoundError(SchedkitError, LookupError):
    """No built-in or stored business calendar has this name; the message suggests
    ``close`` names, when given."""

    def __init__(self, name: str, *, close: Sequence[str] = ()):
        message = f"unknown calendar {name!r}"
        if close:
            message += f"; {did_you_mean(close)}"
        super().__init__(message)
        self.name = name
        self.close = list(close)


class OverrideNotFoundError(SchedkitError, LookupError):
    """A calendar has no override on a date to remove (``day``: the first such date)."""

    def __init__(self, calendar: str, days: Sequence[date]) -> None:
        listed = ", ".join(d.isoformat() for d in days)
        super().__init__(f"calendar {calendar!r} has no override on {listed}")
        self.calendar = calendar
        self.day = days[0].isoformat()


class CalendarConflictError(ConflictError):
    """A calendar changed since it was read: the edit was not saved (compare-and-set)."""

    def __init__(self, name: str, expected_version: int, current_version: int):
        super().__init__(
            f"calendar {name!r} changed meanwhile (version {current_version}, the edit was "
            f"based on {expected_version}); read it again and redo the edit"
        )
        self.name = name
        self.expected_version = expected_version
        self.current_version = current_version


class NoticeDropsDaysError(ConflictError):
    """Entering a year's holiday notice again would drop days the stored notice of that
    year sets (a partial notice would turn the holidays it omits into workdays, without
    a word). ``days``: each such day as ``{"date", "open", "note"}``, by date. ``entered``,
    how many days the text entered sets, shapes the advice (0: it would withdraw the notice)."""

    #: Days the message names; ``days`` holds all of them.
    SHOWN = 5

    def __init__(
        self,
        year: int,
        days: Sequence[tuple[date, bool, str | None]],
        *,
        entered: int | None = None,
    ) -> None:
        shown = ", ".join(
            f"{day.isoformat()} {'make-up workday' if opens else 'holiday'}"
            + (f" ({note})" if note else "")
            for day, opens, note in days[: self.SHOWN]
        )
        more = f" and {len(days) - self.SHOWN} more" if len(days) > self.SHOWN else ""
        stored = (
            "the stored one with your corrections: schedkit calendar notice "
            f"{year}, GET /calendar-notices/{year} or the console's notice box shows it"
        )
        # The same refusal meets a partial text (the reason for it) and a whole notice
        # whose correction moves or strikes a day: the advice names both ways on.
        if entered == 0:
            super().__init__(
                f"the {year} notice entered sets no day: it would withdraw the {len(days)} "
                f"day(s) the stored {year} notice sets: {shown}{more}. To withdraw the "
                f"{year} notice, enter it not confirmed and with replace (schedkit calendar "
                f"notice {year} FILE --not-confirmed --replace; API: confirmed: false, "
                f"replace: true); otherwise enter the whole notice ({stored})"
            )
        else:
            super().__init__(
                f"the {year} notice entered leaves out {len(days)} day(s) the stored {year} "
                f"notice sets: {shown}{more}. If leaving them out is your correction (a day "
                "moved or taken off), enter the same text again with replace (schedkit "
                f"calendar notice {year} FILE --replace; API: replace: true). If the text is "
                f"only part of the notice, enter the whole notice instead ({stored})"
            )
        self.year = year
        self.days = [
            {"date": day.isoformat(), "open": opens, "note": note} for day, opens, note in days
        ]


class NoticeMissesFestivalsError(ConflictError):
    """A notice entered confirmed leaves open statutory holidays of its year that the
    source it replaces closes (a part of the notice, typed alone: confirmed, the year is
    decided by the notice alone, and each festival it omits becomes a workday).
    ``festivals``: each day left open as ``{"date", "name", "name_zh"}``, by date (a
    holiday of several days by law, each of its days left open); ``source``: what
    decides those days now, ``chinese-calendar`` or ``holidays`` (an estimate)."""

    def __init__(
        self, year: int, festivals: Sequence[tuple[date, str, str]], *, source: str
    ) -> None:
        estimate = source != "chinese-calendar"
        count = len({en for _, en, _ in festivals})  # holidays, each with its open days
        listed_en = ", ".join(f"{day.isoformat()} ({en}, {zh})" for day, en, zh in festivals)
        listed_zh = "、".join(f"{day.isoformat()}（{zh}）" for day, _, zh in festivals)
        src_en = "the holidays package's estimate" if estimate else "chinese-calendar's data"
        src_zh = "holidays 包的推算" if estimate else "chinese-calendar 的数据"
        partial = f"schedkit calendar notice {year} FILE --partial; API: partial: true"
        self.message_en = (
            f"the {year} notice entered leaves open {count} statutory holiday(s) "
            f"that {src_en} closes: {listed_en}. Confirmed, {year} would follow the notice "
            "alone and those days would be workdays. Enter the whole notice; if the text is "
            f"only part of it, enter it as partial ({partial}): its days then decide their "
            f"dates, {src_en} the rest, and {year} stays not confirmed"
        )
        self.message_zh = (
            f"录入的 {year} 年通知没有放假安排 {count} 个法定节日（{src_zh}中为放假日）："
            f"{listed_zh}。若按已确认录入，{year} 年将只按通知执行，这些日子会成为工作日。"
            f"请录入完整的通知；如果只是通知的一部分，请按部分通知录入（{partial}）："
            f"其中的日期按通知执行，其余日期仍按 {src_zh}执行，{year} 年保持未确认。"
        )
        super().__init__(self.message_en)
        self.year = year
        self.source = source
        self.festivals = [
            {"date": day.isoformat(), "name": en, "name_zh": zh} for day, en, zh in festivals
        ]

    def message(self, lang: str = "en") -> str:
        return self.message_zh if lang.lower().startswith("zh") else self.message_en
