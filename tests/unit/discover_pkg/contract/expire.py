from __future__ import annotations

from schedkit import task

from ..customer.status import CustomerStatus  # re-exported classes are not registered twice

__all__ = ["CustomerStatus", "contract_expire_check"]


@task("contract_expire_check", category="contract", tags=["contract", "alert"])
async def contract_expire_check(days: int = 30) -> dict[str, int]:
    return {"days": days}
