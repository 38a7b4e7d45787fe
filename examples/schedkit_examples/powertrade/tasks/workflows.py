"""每日合同流程 — the daily contract workflow: customer status update → contract expiry
check → auto-renewal → daily report, one business date for every step.

Each task keeps its own schedule; the workflow runs them in order, stops at the first
failure (the report still runs, ``on="always"``, so the day has a report saying what
failed) and is started by hand or scheduled through its launcher task
``workflow.daily_contract_close``. A ``params`` ``as_of`` date reaches every step (see
``PowertradeTask.business_date``); the auto-renewal step reads the expiry check's result.
It is the only param a run takes (:class:`ContractCloseParams`): another name, or a value
that is no date, is refused when the run is started.
"""

from __future__ import annotations

from datetime import date

import pydantic

from schedkit import Step, Workflow


class ContractCloseParams(pydantic.BaseModel):
    """The params of a run: the business date of every step (default: today)."""

    as_of: date | None = pydantic.Field(
        default=None, title="业务日期", description="每一步的业务日期，默认为调度器时区的今天"
    )


DAILY_CONTRACT_CLOSE = Workflow(
    "daily_contract_close",
    [
        Step(name="customer_status", task="customer_status_auto_update"),
        Step(
            name="expiry_check",
            task="contract_expire_check",
            after=("customer_status",),
            # The daily report tells the story; no separate notice from inside the flow.
            kwargs={"notify": False},
        ),
        Step(name="auto_renewal", task="contract_auto_renewal", after=("expiry_check",)),
        Step(name="daily_report", task="report_daily", after=("auto_renewal",), on="always"),
    ],
    failure_policy="stop",
    description="每日合同流程：客户状态更新 → 合同到期检查 → 自动续约 → 日报",
    params=ContractCloseParams,
)
