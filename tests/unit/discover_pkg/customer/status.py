from __future__ import annotations

from typing import Any

from schedkit import BaseTask


class _Base(BaseTask):
    """Abstract helper base: must not be registered (no task_name)."""

    @property
    def task_category(self) -> str:
        return "customer"


class CustomerStatus(_Base):
    @property
    def task_name(self) -> str:
        return "customer_status_auto_update"

    @property
    def task_description(self) -> str:
        return "客户状态自动更新"

    @property
    def task_tags(self) -> list[str]:
        return ["status", "customer"]

    async def execute(self, **kwargs: Any) -> dict[str, Any]:
        return {"success": True}
