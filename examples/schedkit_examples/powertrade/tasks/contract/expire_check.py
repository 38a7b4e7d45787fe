"""合同到期检查 — contracts expiring within N days, sent as an informational alert."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit_examples.powertrade.domain.models import Contract
from schedkit_examples.powertrade.notify import send_notification
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters, PowertradeTask

#: Contracts listed in the alert body (the result lists all).
ALERT_LINES = 30


class ExpireCheckParameters(AsOfParameters):
    within_days: int = pydantic.Field(
        default=30,
        ge=0,
        le=365,
        title="提前天数",
        description="列出在此天数内到期的合同",
    )
    notify: bool = pydantic.Field(
        default=True, title="发送通知", description="通过告警渠道发送到期合同清单"
    )


class ContractExpireCheckTask(PowertradeTask):
    """合同到期检查任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = ExpireCheckParameters

    @property
    def task_name(self) -> str:
        return "contract_expire_check"

    @property
    def task_description(self) -> str:
        return "合同到期检查任务：列出 N 天内到期的合同，并通过告警渠道发送提醒"

    @property
    def task_category(self) -> str:
        return "contract"

    @property
    def task_tags(self) -> list[str]:
        return ["contract", "expiry", "notify"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.NORMAL

    @property
    def default_schedule(self) -> dict[str, Any]:
        # Working days only (Chinese public holidays skipped, make-up workdays included).
        return {
            "trigger": "cron",
            "hour": 8,
            "minute": 30,
            "calendar": "cn_workdays",
            "misfire_grace_time": 3600,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 3, "retry_delay": 300, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(ExpireCheckParameters, kwargs)
        settings = self.settings()
        today = self.business_date(params.as_of, settings)
        last = today + timedelta(days=params.within_days)
        async with self.repository(settings) as repo:
            ending = await repo.contracts_ending_between(today, last)
            names = {c.id: c.name for c in await repo.list_customers()}
            by_customer: dict[str, list[Contract]] = defaultdict(list)
            for c in await repo.list_contracts():
                by_customer[c.customer_id].append(c)

        expiring: list[dict[str, Any]] = []
        for c in ending:
            assert c.end_date is not None
            if c.renewed_to is not None:
                continue  # already renewed: nothing expires
            follow_on = next(
                (
                    o.id
                    for o in by_customer[c.customer_id]
                    if o.id != c.id and o.start_date is not None and o.start_date > c.end_date
                ),
                None,
            )
            expiring.append(
                {
                    "contract_id": c.id,
                    "customer_id": c.customer_id,
                    "customer_name": names.get(c.customer_id, ""),
                    "end_date": c.end_date.isoformat(),
                    "days_left": (c.end_date - today).days,
                    "auto_renew": c.auto_renew,
                    "follow_on_contract": follow_on,
                }
            )
        needs_action = [e for e in expiring if not e["auto_renew"] and not e["follow_on_contract"]]
        self.log.info(
            "%d contracts end between %s and %s (%d without renewal or follow-on)",
            len(expiring),
            today,
            last,
            len(needs_action),
        )

        notification: dict[str, Any] = {"sent": False, "reason": "nothing to report"}
        if expiring and params.notify:
            title = f"合同到期提醒：{len(expiring)} 份合同将在 {params.within_days} 天内到期"
            lines = [
                f"- {e['contract_id']} {e['customer_name']}（{e['customer_id']}）"
                f" 到期 {e['end_date']}，剩余 {e['days_left']} 天"
                + ("，自动续约" if e["auto_renew"] else "")
                + (f"，已有后续合同 {e['follow_on_contract']}" if e["follow_on_contract"] else "")
                for e in expiring[:ALERT_LINES]
            ]
            if len(expiring) > ALERT_LINES:
                lines.append(f"…… 另有 {len(expiring) - ALERT_LINES} 份")
            body = (
                f"业务日期 {today}，{len(needs_action)} 份既无自动续约也无后续合同，需跟进。\n"
                + "\n".join(lines)
            )
            notification = await send_notification(settings, title, body, severity="info")
            self.log.info("notification: %s", notification)

        return {
            "success": True,
            "message": f"{len(expiring)} 份合同将在 {params.within_days} 天内到期",
            "statistics": {
                "expiring": len(expiring),
                "auto_renew": sum(1 for e in expiring if e["auto_renew"]),
                "needs_action": len(needs_action),
                "notified": bool(notification.get("sent")),
            },
            "data": {
                "as_of": today.isoformat(),
                "until": last.isoformat(),
                "contracts": expiring,
                "notification": notification,
            },
        }
