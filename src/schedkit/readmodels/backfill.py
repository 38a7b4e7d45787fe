"""A schedule's backfill as the API, console and CLI show it."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import Field

from schedkit.readmodels.common import View, local
from schedkit.service.backfill import Backfill

__all__ = ["BackfillView", "backfill_view"]


class BackfillView(View):
    """The latest backfill of a schedule and how far it got (counted from its runs)."""

    schedule_id: str
    state: Literal["running", "done", "cancelled"]
    start: datetime = Field(description="First moment of the range, UTC (inclusive).")
    end: datetime = Field(description="End of the range, UTC (exclusive).")
    start_local: datetime
    end_local: datetime
    concurrency: int = Field(description="Most runs of this backfill running at once.")
    requested_by: str
    requested_at: datetime = Field(description="When it was requested, UTC.")
    requested_at_local: datetime
    cancelled_at: datetime | None = Field(description="When it was cancelled, UTC.")
    cancelled_at_local: datetime | None
    created: int | None = Field(
        description="Runs this request created (0 when asked again); null when read back."
    )
    total: int = Field(description="Backfill runs in the range.")
    done: int = Field(description="Of them, finished (any way).")
    running: int
    pending: int
    succeeded: int
    failed: int = Field(description="Failed, timed out or lost.")
    skipped: int = Field(description="Recorded skipped (days the business calendar excludes).")
    cancelled: int


def backfill_view(backfill: Backfill, tz: tzinfo) -> BackfillView:
    p = backfill.progress
    return BackfillView(
        schedule_id=backfill.schedule_id,
        state=backfill.state,
        start=backfill.start,
        end=backfill.end,
        start_local=backfill.start.astimezone(tz),
        end_local=backfill.end.astimezone(tz),
        concurrency=backfill.concurrency,
        requested_by=backfill.requested_by,
        requested_at=backfill.requested_at,
        requested_at_local=backfill.requested_at.astimezone(tz),
        cancelled_at=backfill.cancelled_at,
        cancelled_at_local=local(backfill.cancelled_at, tz),
        created=backfill.created,
        total=p.total,
        done=p.done,
        running=p.running,
        pending=p.pending,
        succeeded=p.succeeded,
        failed=p.failed,
        skipped=p.skipped,
        cancelled=p.cancelled,
    )
