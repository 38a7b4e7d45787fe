"""A task whose default schedule is invalid: ``check`` must report it."""

from __future__ import annotations

from schedkit import task


@task("bad_hour", schedule={"trigger": "cron", "hour": 25})
def bad_hour() -> None:
    return None
