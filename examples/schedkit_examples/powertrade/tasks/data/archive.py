"""数据归档 — settlements older than N months move to the archive table, in batches.

Each batch is copy-if-absent into ``settlements_archive`` then delete from
``settlements``, keyed by settlement id (one transaction on SQL). A crash, a timeout or
a cancel between batches — or inside one on MongoDB — loses nothing and duplicates
nothing: the next run (or the retry) simply continues with what is left.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit_examples.powertrade.domain.models import add_months
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters, PowertradeTask


class ArchiveParameters(AsOfParameters):
    older_than_months: int = pydantic.Field(
        default=6,
        ge=1,
        le=120,
        title="归档月数",
        description="归档早于此月数的结算数据",
    )
    batch_size: int = pydantic.Field(
        default=500, ge=1, le=10000, title="每批条数", description="每批移动的记录数"
    )
    max_batches: int | None = pydantic.Field(
        default=None, ge=1, title="最多批数", description="本次最多处理的批数（默认：全部）"
    )


class DataArchiveTask(PowertradeTask):
    """数据归档任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = ArchiveParameters

    @property
    def task_name(self) -> str:
        return "data_archive"

    @property
    def task_description(self) -> str:
        return "数据归档任务：将 N 个月前的结算数据分批移入归档表，可断点续做"

    @property
    def task_category(self) -> str:
        return "data"

    @property
    def task_tags(self) -> list[str]:
        return ["archive", "settlement", "maintenance"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.LOW

    @property
    def default_schedule(self) -> dict[str, Any]:
        # Monthly, on the 1st at 04:00.
        return {
            "trigger": "cron",
            "day": 1,
            "hour": 4,
            "minute": 0,
            "misfire_grace_time": 6 * 3600,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 3, "retry_delay": 600, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(ArchiveParameters, kwargs)
        settings = self.settings()
        today = self.business_date(params.as_of, settings)
        cut_off = add_months(today, -params.older_than_months)
        moved = batches = 0
        async with self.repository(settings) as repo:
            total = await repo.count_settlements_before(cut_off)
            self.log.info(
                "%d settlements before %s to archive in batches of %d",
                total,
                cut_off,
                params.batch_size,
            )
            self.report_progress(0, total, "结算数据")
            while params.max_batches is None or batches < params.max_batches:
                self.check_cancelled()
                n = await repo.archive_batch(cut_off, params.batch_size)
                if n == 0:
                    break
                moved += n
                batches += 1
                self.report_progress(moved, total, "结算数据")
                if batches % 10 == 0:
                    self.log.info("archived %d of %d settlements", moved, total)
            remaining = await repo.count_settlements_before(cut_off)
        self.log.info("archived %d settlements in %d batches, %d left", moved, batches, remaining)
        return {
            "success": True,
            "message": f"数据归档完成：归档 {moved} 条结算记录",
            "statistics": {"moved": moved, "batches": batches, "remaining": remaining},
            "data": {"cut_off": cut_off.isoformat(), "as_of": today.isoformat()},
        }
