"""How big the texts and parameters that runs carry may get.

Every read of a run (a history page, an event, an alert) carries what the run stores, so
one huge error message or kwargs dict would be paid for on every read: error messages,
tracebacks and progress notes are cut (with a marker saying how much) where they are
produced, and kwargs over the configured size are refused before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schedkit.errors import ValidationError
from schedkit.models import storable_json

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_CANCEL_REASON_CHARS",
    "MAX_ERROR_MESSAGE_CHARS",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_NOTE_CHARS",
    "MAX_OFFSET",
    "MAX_PAGE_SIZE",
    "MAX_RESULT_BYTES",
    "MAX_SCHEDULE_BATCH",
    "MAX_SCHEDULE_ID_CHARS",
    "MAX_TRACEBACK_CHARS",
    "SCHEDULE_ID_PATTERN",
    "check_kwargs_size",
    "clip",
    "clip_tail",
]

#: What an idempotency key of a manual run may look like: printable ASCII (a UUID, or a
#: name such as ``report-2026-12-05``).
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]+$"
#: Longest idempotency key of a manual run.
MAX_IDEMPOTENCY_KEY_CHARS = 200
#: What a schedule id given by a user may look like (API paths and queries, imports).
SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"
#: Longest schedule id a user may give.
MAX_SCHEDULE_ID_CHARS = 200
#: Most schedules one ``POST /schedules`` creates (larger imports: the CLI, or batches).
MAX_SCHEDULE_BATCH = 1000
#: Longest error message a run keeps.
MAX_ERROR_MESSAGE_CHARS = 4_000
#: Serialized size limit of a run's ``result`` (and of its ``error``). Over it, the
#: engine fails the run with a clear error instead of sending the value to the store.
MAX_RESULT_BYTES = 1_000_000
#: Longest traceback a run keeps (its end, where the error is, is what is kept).
MAX_TRACEBACK_CHARS = 16_000
#: Longest progress note.
MAX_NOTE_CHARS = 500
#: Longest reason a cancel may give (the API's body, the CLI's ``--reason``): it is
#: stored as the run's reason, which every read of the run carries.
MAX_CANCEL_REASON_CHARS = 1000
#: Most items one page of a listing (runs, schedules, audit events) holds.
MAX_PAGE_SIZE = 500
#: Most items a listing may skip: far past any history, and within the stores' 64-bit
#: integers (a larger offset reached SQLite as an OverflowError).
MAX_OFFSET = 1_000_000_000


def _marker(cut: int) -> str:
    return f"…[truncated {cut:,} characters]"


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters followed by a marker naming the cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + _marker(len(text) - limit)


def clip_tail(text: str, limit: int) -> str:
    """``text``, or a marker naming the cut followed by its last ``limit`` characters
    (for tracebacks, whose last lines name the error)."""
    if len(text) <= limit:
        return text
    return _marker(len(text) - limit) + text[-limit:]


def check_kwargs_size(kwargs: Mapping[str, Any], limit: int, field: str = "kwargs") -> None:
    """Raise ValidationError (naming ``field``: ``kwargs``, a workflow run's ``params``)
    when the JSON of ``kwargs`` is over ``limit`` bytes."""
    try:
        size = len(storable_json(dict(kwargs)))
    except ValueError as exc:
        raise ValidationError(str(exc), field=field) from None
    if size > limit:
        raise ValidationError(
            f"{field} are {size:,} bytes of JSON, over the {limit:,}-byte limit "
            "(limits.max_kwargs_bytes); pass a reference to large inputs instead",
            field=field,
        )
