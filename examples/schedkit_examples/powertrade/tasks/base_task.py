"""What every powertrade task shares: settings, the repository, logging, progress and the
business date.

Tasks keep the design document's shape (properties, ``async def execute(**kwargs)``
returning ``success`` / ``message`` / ``data`` / ``statistics``) and work the same when
called directly (``await Task().execute(as_of=date(2025, 6, 30))``, as the tests do) and
when run by a :class:`schedkit.Scheduler` (progress and log lines are then recorded on
the run).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pydantic

from schedkit import BaseTask, current_context
from schedkit_examples.powertrade.domain import PowertradeRepository, repository_for
from schedkit_examples.powertrade.settings import PowertradeSettings, load_settings

__all__ = ["AsOfParameters", "PowertradeTask"]

P = TypeVar("P", bound=pydantic.BaseModel)


class AsOfParameters(pydantic.BaseModel):
    """Parameters every date-dependent task accepts."""

    model_config = pydantic.ConfigDict(extra="forbid")

    as_of: date | None = pydantic.Field(
        default=None,
        title="业务日期",
        description="默认为调度器时区的今天",
    )


class PowertradeTask(BaseTask):
    """Base of the powertrade tasks (abstract: discovery skips it)."""

    def settings(self) -> PowertradeSettings:
        """Settings from this task's config (``execution_context``) and the environment."""
        return load_settings(self.execution_context)

    @contextlib.asynccontextmanager
    async def repository(
        self, settings: PowertradeSettings | None = None
    ) -> AsyncIterator[PowertradeRepository]:
        """The domain repository, opened for the duration of the block."""
        repo = repository_for(settings or self.settings())
        await repo.open()
        try:
            yield repo
        finally:
            await repo.close()

    @property
    def log(self) -> logging.Logger:
        """The run's logger (``schedkit.task.<name>``): inside a run, its records become
        the run's log lines."""
        return logging.getLogger(f"schedkit.task.{self.task_name}")

    def report_progress(
        self, done: float, total: float | None = None, note: str | None = None
    ) -> None:
        """Progress of the current run (ignored outside a run)."""
        ctx = current_context()
        if ctx is not None:
            ctx.progress(done, total, note)

    def check_cancelled(self) -> None:
        """Stop between two steps when the run was cancelled or timed out."""
        ctx = current_context()
        if ctx is not None:
            ctx.raise_if_cancelled()

    @property
    def run_id(self) -> str | None:
        ctx = current_context()
        return ctx.run_id if ctx is not None else None

    @staticmethod
    def params(model: type[P], kwargs: Mapping[str, Any]) -> P:
        """``kwargs`` validated by the task's parameter model (direct calls included)."""
        return model.model_validate(dict(kwargs))

    @staticmethod
    def business_date(as_of: date | None, settings: PowertradeSettings) -> date:
        """``as_of``, else the ``as_of`` param of the workflow run this step belongs to
        (one business date for every step), else the day the run was scheduled for in
        the configured timezone: today for a fire or a run now, the fire's own day for a
        backfilled one (a backfill of 1-15 November reports on those days), else today."""
        if as_of is not None:
            return as_of
        zone = ZoneInfo(settings.timezone)
        ctx = current_context()
        if ctx is None:
            return datetime.now(zone).date()
        given = (ctx.workflow or {}).get("params", {}).get("as_of")
        if given:
            return date.fromisoformat(str(given))
        return ctx.scheduled_for.astimezone(zone).date()

    @staticmethod
    def now() -> datetime:
        """The current time, aware UTC (stored timestamps)."""
        return datetime.now(UTC)
