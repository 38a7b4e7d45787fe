"""Date triggers: one fire at ``run_date``."""

from __future__ import annotations

from datetime import datetime


def next_date_fire(run_date: datetime, previous: datetime | None) -> datetime | None:
    """``run_date`` until it has fired, even when it has passed (the engine's misfire
    policy then decides, so that a late start is recorded instead of dropped)."""
    return run_date if previous is None else None
