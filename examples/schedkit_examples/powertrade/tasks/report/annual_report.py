"""年报生成 — the settlement report of one year."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit_examples.powertrade.domain.models import Settlement
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters
from schedkit_examples.powertrade.tasks.report.common import ReportTask, Sheet, period_sheet


class AnnualReportParameters(AsOfParameters):
    year: int | None = pydantic.Field(
        default=None, ge=2000, le=2100, title="报表年份", description="默认为业务日期的上一年"
    )


class AnnualReportTask(ReportTask):
    """年报生成任务"""

    kind = "annual"
    parameters: ClassVar[type[pydantic.BaseModel] | None] = AnnualReportParameters

    @property
    def task_name(self) -> str:
        return "report_annual"

    @property
    def task_description(self) -> str:
        return "年报生成任务：统计上年各客户结算电量、金额和客户数（含月明细），生成 XLSX 与 CSV"

    @property
    def task_tags(self) -> list[str]:
        return ["report", "annual", "settlement"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.LOW

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "month": 1,
            "day": 1,
            "hour": 8,
            "minute": 0,
            "misfire_grace_time": 24 * 3600,
            "max_instances": 1,
        }

    def period(self, params: Any, today: date) -> tuple[date, date, str]:
        year = params.year or today.year - 1
        return date(year, 1, 1), date(year, 12, 31), str(year)

    def detail_sheet(self, settlements: list[Settlement]) -> Sheet:
        return period_sheet("月明细", "月份", settlements, lambda s: f"{s.day:%Y-%m}")

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return await self.build_report(self.params(AnnualReportParameters, kwargs))
