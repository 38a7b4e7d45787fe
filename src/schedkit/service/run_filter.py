"""The history filter of the façade's keyword arguments (``list_runs``, ``count_runs``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from schedkit.errors import ValidationError
from schedkit.models import RunFilter, RunStatus, TriggerSource

__all__ = ["run_filter"]

_Member = TypeVar("_Member", RunStatus, TriggerSource)


def run_filter(
    task_name: str | None = None,
    status: RunStatus | str | Sequence[RunStatus | str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    trigger_source: TriggerSource | str | None = None,
    schedule_id: str | None = None,
) -> RunFilter:
    """The history filter of the façade's keyword arguments. Statuses and sources may be
    given as their values ("failed"): the SQL stores took them so and MongoDB raised
    AttributeError, and one string was read letter by letter (a cluster audit)."""
    statuses = None
    if status is not None:
        if isinstance(status, str):
            given: list[object] = [status]
        elif isinstance(status, list | tuple | set | frozenset):
            given = list(status)
        else:  # bytes, a number: iterated or not iterable, neither said what was wrong
            given = [status]
        statuses = frozenset(_member(RunStatus, s, "status") for s in given)
    return RunFilter(
        task_name=task_name,
        statuses=statuses,
        since=since,
        until=until,
        trigger_source=(
            None
            if trigger_source is None
            else _member(TriggerSource, trigger_source, "trigger_source")
        ),
        schedule_id=schedule_id,
    )


def _member(kind: type[_Member], value: object, field: str) -> _Member:
    names = ", ".join(m.value for m in kind)
    if not isinstance(value, str):
        raise ValidationError(f"{value!r} is no text: give one of {names}", field=field)
    try:
        return kind(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not one of {names}", field=field) from None
