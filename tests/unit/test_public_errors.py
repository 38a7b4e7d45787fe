"""The errors a user meets are importable from ``schedkit`` (audit: ScheduleConflictError,
raised by add_task and delete_schedule, and RunCancelledError, raised into task code by
raise_if_cancelled, were not)."""

from __future__ import annotations

import schedkit

MET_BY_USERS = (
    "CalendarNotFoundError",
    "ResultNotReadable",
    "ScheduleConflictError",
    "ScheduleLimitError",
    "WorkflowDefinitionError",
    "WorkflowNotFoundError",
)


def test_the_errors_users_meet_are_exported_schedkit_errors() -> None:
    assert set(MET_BY_USERS) | {"RunCancelledError"} <= set(schedkit.__all__)
    for name in MET_BY_USERS:
        assert issubclass(getattr(schedkit, name), schedkit.SchedkitError), name


def test_a_cancellation_is_no_schedkit_error() -> None:
    # A task's `except SchedkitError` around its schedkit calls must not swallow it.
    assert not issubclass(schedkit.RunCancelledError, schedkit.SchedkitError)
    assert "except Exception" in (schedkit.RunCancelledError.__doc__ or "")
