"""合同自动续约 — renew ``auto_renew`` contracts at expiry, exactly once.

Idempotency: a renewal is keyed by (contract id, new period start), unique in the
database, and the new contract's id is derived from the same key. A retry after a
failure, a second run on the same day, or two runs at once therefore renew each
contract once (see ``PowertradeRepository.renew_contract``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority, current_context
from schedkit_examples.powertrade.domain.models import (
    Contract,
    InvalidContractError,
    Renewal,
    renewal_period,
)
from schedkit_examples.powertrade.tasks.base_task import AsOfParameters, PowertradeTask

MAX_DETAILS = 200
_RENEWAL_SUFFIX = re.compile(r"(-R\d{8})+$")


class AutoRenewalParameters(AsOfParameters):
    lead_days: int = pydantic.Field(
        default=0,
        ge=0,
        le=90,
        title="提前续约天数",
        description="为在此天数内到期的合同续约（0：到期当天）",
    )
    grace_days: int = pydantic.Field(
        default=30,
        ge=0,
        le=365,
        title="补续天数",
        description="已到期不超过此天数的合同仍会续约（补上服务停机期间错过的运行），更早的已失效",
    )


def renewed_contract_id(contract: Contract, new_start: date) -> str:
    """The id of the renewal of ``contract`` starting ``new_start``: the root contract id
    plus the new start date (K00012 → K00012-R20260701 → K00012-R20270701)."""
    root = _RENEWAL_SUFFIX.sub("", contract.id)
    return f"{root}-R{new_start:%Y%m%d}"


class ContractAutoRenewalTask(PowertradeTask):
    """合同自动续约任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = AutoRenewalParameters

    @property
    def task_name(self) -> str:
        return "contract_auto_renewal"

    @property
    def task_description(self) -> str:
        return (
            "合同自动续约任务：为到期的自动续约合同生成同等期限的续约合同（幂等，重试不会重复续约）"
        )

    @property
    def task_category(self) -> str:
        return "contract"

    @property
    def task_tags(self) -> list[str]:
        return ["contract", "renewal", "auto"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.HIGH

    @property
    def default_schedule(self) -> dict[str, Any]:
        # Before the 02:00 status update, so renewed customers stay "active".
        return {
            "trigger": "cron",
            "hour": 1,
            "minute": 0,
            "misfire_grace_time": 3600,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 5, "retry_delay": 120, "backoff_factor": 2}

    @staticmethod
    def _listed_note() -> str:
        """In a workflow after the expiry check: how many auto-renew contracts it listed
        (its result, passed down), for the operator to compare with what was renewed."""
        ctx = current_context()
        for outcome in (ctx.upstream if ctx is not None else {}).values():
            data = (outcome.get("result") or {}).get("data") or {}
            if isinstance(data, dict) and isinstance(data.get("contracts"), list):
                listed = sum(1 for c in data["contracts"] if c.get("auto_renew"))
                return f"（到期检查列出自动续约合同 {listed} 份）"
        return ""

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(AutoRenewalParameters, kwargs)
        settings = self.settings()
        today = self.business_date(params.as_of, settings)
        window = (
            today - timedelta(days=params.grace_days),
            today + timedelta(days=params.lead_days),
        )
        renewed: list[dict[str, Any]] = []
        already: list[str] = []
        skipped: list[dict[str, Any]] = []
        async with self.repository(settings) as repo:
            candidates = await repo.renewal_candidates(*window)
            self.log.info("%d auto-renew contracts end between %s and %s", len(candidates), *window)
            for n, contract in enumerate(candidates, 1):
                self.check_cancelled()
                try:
                    new_start, new_end = renewal_period(contract)
                except InvalidContractError as exc:
                    skipped.append({"contract_id": contract.id, "reason": str(exc)})
                    self.log.warning("skipped %s: %s", contract.id, exc)
                    continue
                new_id = renewed_contract_id(contract, new_start)
                others = [
                    o
                    for o in await repo.list_contracts(contract.customer_id)
                    if o.id not in (contract.id, new_id) and o.covers(new_start)
                ]
                if others:
                    reason = f"customer already has contract {others[0].id} from {new_start}"
                    skipped.append({"contract_id": contract.id, "reason": reason})
                    self.log.info("skipped %s: %s", contract.id, reason)
                    continue
                new = replace(
                    contract,
                    id=new_id,
                    start_date=new_start,
                    end_date=new_end,
                    renewed_from=contract.id,
                    renewed_to=None,
                    signed_on=today,
                )
                renewal = Renewal(
                    contract_id=contract.id,
                    new_start=new_start,
                    new_contract_id=new_id,
                    renewed_at=self.now(),
                    run_id=self.run_id,
                )
                # Database errors propagate: the run fails and its retry resumes here,
                # renewing only what is left (the unique key makes repeats no-ops).
                if await repo.renew_contract(contract, new, renewal):
                    renewed.append(
                        {
                            "contract_id": contract.id,
                            "customer_id": contract.customer_id,
                            "new_contract_id": new_id,
                            "period": f"{new_start}~{new_end}",
                        }
                    )
                    self.log.info(
                        "renewed %s as %s (%s ~ %s)", contract.id, new_id, new_start, new_end
                    )
                else:
                    already.append(contract.id)
                    self.log.info("%s was already renewed as %s", contract.id, new_id)
                self.report_progress(n, len(candidates), "合同")

        return {
            "success": True,
            "message": f"自动续约完成：续约 {len(renewed)} 份合同" + self._listed_note(),
            "statistics": {
                "candidates": len(candidates),
                "renewed": len(renewed),
                "already_renewed": len(already),
                "skipped": len(skipped),
            },
            "data": {
                "as_of": today.isoformat(),
                "renewed": renewed[:MAX_DETAILS],
                "already_renewed": already[:MAX_DETAILS],
                "skipped": skipped[:MAX_DETAILS],
            },
        }
