"""日报生成 — the settlement report of one day."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit_examples.powertrade.domain.models import Settlement
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters
from schedkit_examples.powertrade.tasks.report.common import ReportTask, Sheet, period_sheet


class DailyReportParameters(AsOfParameters):
    day: date | None = pydantic.Field(
        default=None, title="报表日期", description="默认为业务日期的前一天"
    )


class DailyReportTask(ReportTask):
    """日报生成任务"""

    kind = "daily"
    parameters: ClassVar[type[pydantic.BaseModel] | None] = DailyReportParameters

    @property
    def task_name(self) -> str:
        return "report_daily"

    @property
    def task_description(self) -> str:
        return "日报生成任务：统计前一日各客户结算电量、金额和客户数，生成 XLSX 与 CSV"

    @property
    def task_tags(self) -> list[str]:
        return ["report", "daily", "settlement"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.NORMAL

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "hour": 6,
            "minute": 0,
            "misfire_grace_time": 3600,
            "max_instances": 1,
        }

    def period(self, params: Any, today: date) -> tuple[date, date, str]:
        day = params.day or today - timedelta(days=1)
        return day, day, day.isoformat()

    def detail_sheet(self, settlements: list[Settlement]) -> Sheet:
        return period_sheet("日明细", "日期", settlements, lambda s: s.day.isoformat())

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return await self.build_report(self.params(DailyReportParameters, kwargs))
