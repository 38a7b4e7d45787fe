"""月报生成 — the settlement report of one month."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit_examples.powertrade.domain.models import Settlement, add_months
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters
from schedkit_examples.powertrade.tasks.report.common import ReportTask, Sheet, period_sheet


class MonthlyReportParameters(AsOfParameters):
    month: str | None = pydantic.Field(
        default=None,
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        title="报表月份",
        description="格式 YYYY-MM，默认为业务日期的上个月",
        examples=["2026-05"],
    )


class MonthlyReportTask(ReportTask):
    """月报生成任务"""

    kind = "monthly"
    parameters: ClassVar[type[pydantic.BaseModel] | None] = MonthlyReportParameters

    @property
    def task_name(self) -> str:
        return "report_monthly"

    @property
    def task_description(self) -> str:
        return "月报生成任务：统计上月各客户结算电量、金额和客户数（含日明细），生成 XLSX 与 CSV"

    @property
    def task_tags(self) -> list[str]:
        return ["report", "monthly", "settlement"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.NORMAL

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "day": 1,
            "hour": 7,
            "minute": 0,
            "misfire_grace_time": 6 * 3600,
            "max_instances": 1,
        }

    def period(self, params: Any, today: date) -> tuple[date, date, str]:
        if params.month:
            match = re.fullmatch(r"(\d{4})-(\d{2})", params.month)
            assert match is not None
            first = date(int(match[1]), int(match[2]), 1)
        else:
            first = add_months(today.replace(day=1), -1)
        last = add_months(first, 1) - timedelta(days=1)
        return first, last, f"{first:%Y-%m}"

    def detail_sheet(self, settlements: list[Settlement]) -> Sheet:
        return period_sheet("日明细", "日期", settlements, lambda s: s.day.isoformat())

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return await self.build_report(self.params(MonthlyReportParameters, kwargs))
