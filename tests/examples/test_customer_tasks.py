"""customer/: status update (every backend) and contract check."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from schedkit_examples.powertrade.domain import PowertradeRepository
from schedkit_examples.powertrade.domain.models import (
    Contract,
    Customer,
    CustomerStatus,
    InvalidContractError,
    compute_customer_status,
)
from schedkit_examples.powertrade.tasks.customer.contract_check import ContractCheckTask
from schedkit_examples.powertrade.tasks.customer.status_update import CustomerStatusUpdateTask

from .conftest import AS_OF

S = CustomerStatus


def customer(cid: str, status: CustomerStatus) -> Customer:
    return Customer(
        id=cid,
        name=f"客户{cid}",
        region="广东",
        industry="钢铁",
        status=status,
        status_changed_at=datetime(2024, 1, 1, tzinfo=UTC),
        created_on=date(2024, 1, 1),
    )


def contract(
    kid: str, cid: str, start: date | None, end: date | None, *, auto_renew: bool = False
) -> Contract:
    return Contract(
        id=kid,
        customer_id=cid,
        start_date=start,
        end_date=end,
        price=400.0,
        monthly_volume=1200.0,
        auto_renew=auto_renew,
    )


async def seed_status_cases(repo: PowertradeRepository) -> None:
    """One customer per case, each stored with a wrong (stale) status but the last."""
    await repo.insert_many(
        "customers",
        [
            customer("P", S.ACTIVE),  # no contract → prospect
            customer("S", S.PROSPECT),  # starts next month → signed
            customer("A", S.SIGNED),  # in force until December → active
            customer("E", S.ACTIVE),  # ends in 20 days → expiring
            customer("X", S.EXPIRING),  # ended last month → expired
            customer("B", S.ACTIVE),  # contract ends before it starts → error
            customer("U", S.ACTIVE),  # already right → untouched
        ],
    )
    await repo.insert_many(
        "contracts",
        [
            contract("K-S", "S", date(2025, 7, 1), date(2026, 6, 30)),
            contract("K-A", "A", date(2025, 1, 1), date(2025, 12, 31)),
            contract("K-E", "E", date(2024, 7, 20), date(2025, 7, 20)),
            contract("K-X", "X", date(2024, 6, 1), date(2025, 5, 31)),
            contract("K-B", "B", date(2025, 9, 1), date(2025, 3, 1)),
            contract("K-U", "U", date(2025, 1, 1), date(2026, 12, 31)),
        ],
    )


async def test_status_update_hand_made_cases(
    empty_url: str, empty_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    await seed_status_cases(empty_repo)
    task: CustomerStatusUpdateTask = make_task(CustomerStatusUpdateTask, empty_url)

    result = await task.execute(as_of=AS_OF)

    assert result["success"] is True
    assert result["message"] == "客户状态更新完成"
    stats = result["statistics"]
    assert stats["total_checked"] == 7
    assert stats["status_updates"] == 5
    assert stats["errors"] == 1
    assert stats["error_details"] == [
        {
            "customer_id": "B",
            "customer_name": "客户B",
            "error": "contract K-B ends (2025-03-01) before it starts (2025-09-01)",
        }
    ]
    assert result["data"]["updated_customers"] == 5
    stored = {c.id: c.status for c in await empty_repo.list_customers()}
    assert stored == {
        "P": S.PROSPECT,
        "S": S.SIGNED,
        "A": S.ACTIVE,
        "E": S.EXPIRING,
        "X": S.EXPIRED,
        "B": S.ACTIVE,  # unchanged: its status cannot be computed
        "U": S.ACTIVE,
    }
    history = await empty_repo.list_status_changes()
    assert {(h.customer_id, h.old_status, h.new_status) for h in history} == {
        ("P", "active", "prospect"),
        ("S", "prospect", "signed"),
        ("A", "signed", "active"),
        ("E", "active", "expiring"),
        ("X", "expiring", "expired"),
    }
    assert all(h.reason == "auto_status_update" for h in history)
    e = await empty_repo.get_customer("E")
    assert e is not None
    assert e.status_changed_at == next(h.changed_at for h in history if h.customer_id == "E")

    # A second run (or a retry) finds nothing to change.
    again = await task.execute(as_of=AS_OF)
    assert again["statistics"]["status_updates"] == 0
    assert again["statistics"]["errors"] == 1
    assert len(await empty_repo.list_status_changes()) == 5

    # Time passes: E's contract ends, S's starts.
    later = await task.execute(as_of=date(2025, 7, 21))
    stored = {c.id: c.status for c in await empty_repo.list_customers()}
    assert stored["E"] is S.EXPIRED and stored["S"] is S.ACTIVE
    assert later["statistics"]["status_updates"] == 2


async def test_status_update_on_sample_data(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    before = {c.id: c.status for c in await sample_repo.list_customers()}
    contracts: dict[str, list[Contract]] = defaultdict(list)
    for c in await sample_repo.list_contracts():
        contracts[c.customer_id].append(c)
    expected: dict[str, CustomerStatus] = {}
    broken = set()
    for cid in before:
        try:
            expected[cid] = compute_customer_status(contracts[cid], AS_OF)
        except InvalidContractError:
            broken.add(cid)

    result = await make_task(CustomerStatusUpdateTask, sample_url).execute(as_of=AS_OF)

    stats = result["statistics"]
    assert stats["total_checked"] == 200
    assert {e["customer_id"] for e in stats["error_details"]} == broken
    assert stats["errors"] == len(broken) == 3
    assert stats["status_updates"] == sum(1 for cid, s in expected.items() if before[cid] != s)
    assert stats["status_updates"] >= 10
    after = {c.id: c.status for c in await sample_repo.list_customers()}
    for cid, status in after.items():
        assert status == expected.get(cid, before[cid]), cid
    assert stats["by_status"] == {
        s.value: n for s in S if (n := sum(1 for v in expected.values() if v is s))
    }


async def test_contract_check_on_sample_data(
    sample_url: str, make_task: Callable[..., Any]
) -> None:
    result = await make_task(ContractCheckTask, sample_url).execute()
    assert result["success"] is True
    stats = result["statistics"]
    assert stats["contracts_checked"] == 300
    assert stats["by_kind"] == {"end_before_start": 2, "missing_field": 3, "overlap": 4}
    assert stats["contracts_with_issues"] == 9
    kinds = {(i["contract_id"], i["kind"]) for i in result["data"]["issues"]}
    assert len(kinds) == 9
    missing = [i["detail"] for i in result["data"]["issues"] if i["kind"] == "missing_field"]
    assert sorted(missing) == ["end_date is missing", "price is missing", "price is missing"]
    # max_details only trims the listing, never the counts.
    short = await make_task(ContractCheckTask, sample_url).execute(max_details=2)
    assert len(short["data"]["issues"]) == 2
    assert short["statistics"]["issues"] == 9
