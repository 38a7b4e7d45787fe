"""客户状态自动更新 — the design document's ``CustomerStatusUpdateTask``, on real data."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit.models import new_id
from schedkit_examples.powertrade.domain.models import (
    EXPIRING_WITHIN_DAYS,
    Contract,
    StatusChange,
    compute_customer_status,
)
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters, PowertradeTask

#: Details kept in the result (the statistics keep the full counts).
MAX_DETAILS = 200


class StatusUpdateParameters(AsOfParameters):
    expiring_within_days: int = pydantic.Field(
        default=EXPIRING_WITHIN_DAYS,
        ge=1,
        le=365,
        title="到期预警天数",
        description="供电在此天数内结束的客户记为“即将到期”",
    )


class CustomerStatusUpdateTask(PowertradeTask):
    """客户状态自动更新任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = StatusUpdateParameters

    @property
    def task_name(self) -> str:
        return "customer_status_auto_update"

    @property
    def task_description(self) -> str:
        return "客户状态自动更新任务：根据合同执行时间和系统日期自动更新客户状态"

    @property
    def task_category(self) -> str:
        return "customer"

    @property
    def task_tags(self) -> list[str]:
        return ["status", "auto", "customer"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.HIGH

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "hour": 2,
            "minute": 0,
            "misfire_grace_time": 300,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 3, "retry_delay": 60, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(StatusUpdateParameters, kwargs)
        settings = self.settings()
        today = self.business_date(params.as_of, settings)
        try:
            async with self.repository(settings) as repo:
                customers = await repo.list_customers()
                contracts: dict[str, list[Contract]] = defaultdict(list)
                for contract in await repo.list_contracts():
                    contracts[contract.customer_id].append(contract)
                self.log.info(
                    "checking %d customers against %d contracts as of %s",
                    len(customers),
                    sum(len(v) for v in contracts.values()),
                    today,
                )

                update_count = 0
                errors: list[dict[str, Any]] = []
                changes: list[dict[str, Any]] = []
                by_status: Counter[str] = Counter()
                for n, customer in enumerate(customers, 1):
                    try:
                        new_status = compute_customer_status(
                            contracts.get(customer.id, []), today, params.expiring_within_days
                        )
                        by_status[new_status.value] += 1
                        if new_status != customer.status:
                            change = StatusChange(
                                id=new_id(),
                                customer_id=customer.id,
                                old_status=customer.status.value,
                                new_status=new_status.value,
                                reason="auto_status_update",
                                changed_at=self.now(),
                            )
                            if await repo.set_customer_status(
                                customer.id, customer.status, new_status, change
                            ):
                                update_count += 1
                                changes.append(
                                    {
                                        "customer_id": customer.id,
                                        "from": customer.status.value,
                                        "to": new_status.value,
                                    }
                                )
                            else:
                                self.log.warning(
                                    "customer %s changed concurrently; left as is", customer.id
                                )
                    except Exception as e:
                        errors.append(
                            {
                                "customer_id": customer.id,
                                "customer_name": customer.name,
                                "error": str(e),
                            }
                        )
                        self.log.warning("customer %s: %s", customer.id, e)
                    if n % 50 == 0 or n == len(customers):
                        self.report_progress(n, len(customers), "客户")

            self.log.info(
                "%d of %d customers changed status, %d errors",
                update_count,
                len(customers),
                len(errors),
            )
            return {
                "success": True,
                "message": "客户状态更新完成",
                "statistics": {
                    "total_checked": len(customers),
                    "status_updates": update_count,
                    "errors": len(errors),
                    "error_details": errors[:MAX_DETAILS],
                    "by_status": dict(sorted(by_status.items())),
                },
                "data": {
                    "updated_customers": update_count,
                    "as_of": today.isoformat(),
                    "changes": changes[:MAX_DETAILS],
                },
            }

        except Exception as e:
            self.log.exception("customer status update failed")
            return {
                "success": False,
                "message": f"客户状态更新失败: {e!s}",
                "statistics": {"total_checked": 0, "status_updates": 0, "errors": 1},
            }
