"""合同状态检查 — find inconsistent contracts and report them."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations
from typing import Any, ClassVar

import pydantic

from schedkit import TaskPriority
from schedkit_examples.powertrade.domain.models import Contract
from schedkit_examples.powertrade.tasks.base_task import PowertradeTask

REQUIRED_FIELDS = ("start_date", "end_date", "price", "monthly_volume")


class ContractCheckParameters(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    max_details: int = pydantic.Field(
        default=200,
        ge=0,
        le=5000,
        title="问题条数上限",
        description="结果中最多列出的问题条数",
    )


def find_issues(contracts: list[Contract], customer_ids: set[str]) -> list[dict[str, Any]]:
    """Every inconsistency, as ``{contract_id, customer_id, kind, detail}``.

    Kinds: ``missing_field``, ``end_before_start``, ``non_positive`` (price or volume
    <= 0), ``unknown_customer``, ``overlap`` (two contracts of a customer in force on
    the same day; reported on the later one, naming the other).
    """
    issues: list[dict[str, Any]] = []

    def add(c: Contract, kind: str, detail: str) -> None:
        issues.append(
            {"contract_id": c.id, "customer_id": c.customer_id, "kind": kind, "detail": detail}
        )

    by_customer: dict[str, list[Contract]] = defaultdict(list)
    for c in contracts:
        for name in REQUIRED_FIELDS:
            if getattr(c, name) is None:
                add(c, "missing_field", f"{name} is missing")
        if c.start_date and c.end_date and c.end_date < c.start_date:
            add(c, "end_before_start", f"ends {c.end_date} before it starts {c.start_date}")
        for name in ("price", "monthly_volume"):
            value = getattr(c, name)
            if value is not None and value <= 0:
                add(c, "non_positive", f"{name} is {value}")
        if c.customer_id not in customer_ids:
            add(c, "unknown_customer", f"customer {c.customer_id} does not exist")
        by_customer[c.customer_id].append(c)

    for group in by_customer.values():
        valid = sorted(
            (c for c in group if c.start_date and c.end_date and c.start_date <= c.end_date),
            key=lambda c: (c.start_date, c.id),
        )
        for a, b in combinations(valid, 2):
            assert a.start_date and a.end_date and b.start_date and b.end_date
            if b.start_date <= a.end_date and a.start_date <= b.end_date:
                first = max(a.start_date, b.start_date)
                last = min(a.end_date, b.end_date)
                add(b, "overlap", f"overlaps {a.id} from {first} to {last}")
    issues.sort(key=lambda i: (i["contract_id"], i["kind"], i["detail"]))
    return issues


class ContractCheckTask(PowertradeTask):
    """合同状态检查任务"""

    parameters: ClassVar[type[pydantic.BaseModel] | None] = ContractCheckParameters

    @property
    def task_name(self) -> str:
        return "customer_contract_check"

    @property
    def task_description(self) -> str:
        return "合同状态检查任务：检查合同数据一致性（期间重叠、字段缺失、结束早于开始）并报告"

    @property
    def task_category(self) -> str:
        return "customer"

    @property
    def task_tags(self) -> list[str]:
        return ["contract", "check", "data-quality"]

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.NORMAL

    @property
    def default_schedule(self) -> dict[str, Any]:
        return {
            "trigger": "cron",
            "hour": 2,
            "minute": 30,
            "misfire_grace_time": 600,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 2, "retry_delay": 60, "backoff_factor": 2}

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        params = self.params(ContractCheckParameters, kwargs)
        async with self.repository() as repo:
            customers = {c.id for c in await repo.list_customers()}
            contracts = await repo.list_contracts()
        self.report_progress(1, 2, "已加载合同")
        issues = find_issues(contracts, customers)
        by_kind = Counter(i["kind"] for i in issues)
        flagged = len({i["contract_id"] for i in issues})
        self.report_progress(2, 2, "检查完成")
        for issue in issues[: params.max_details]:
            self.log.warning(
                "contract %s (%s): %s — %s",
                issue["contract_id"],
                issue["customer_id"],
                issue["kind"],
                issue["detail"],
            )
        self.log.info(
            "%d contracts checked, %d with issues (%s)", len(contracts), flagged, dict(by_kind)
        )
        return {
            "success": True,
            "message": f"合同检查完成：{len(contracts)} 份合同，{flagged} 份存在问题",
            "statistics": {
                "contracts_checked": len(contracts),
                "contracts_with_issues": flagged,
                "issues": len(issues),
                "by_kind": dict(sorted(by_kind.items())),
            },
            "data": {"issues": issues[: params.max_details]},
        }
