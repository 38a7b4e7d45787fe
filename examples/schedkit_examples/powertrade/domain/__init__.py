"""The powertrade domain: models and the repository (SQL or MongoDB)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schedkit_examples.powertrade.domain.models import (
    Contract,
    Customer,
    CustomerStatus,
    InvalidContractError,
    Renewal,
    Settlement,
    StatusChange,
    compute_customer_status,
)
from schedkit_examples.powertrade.domain.repository import MODELS, TABLES, PowertradeRepository
from schedkit_examples.powertrade.settings import backend_of

if TYPE_CHECKING:
    from schedkit_examples.powertrade.settings import PowertradeSettings

__all__ = [
    "MODELS",
    "TABLES",
    "Contract",
    "Customer",
    "CustomerStatus",
    "InvalidContractError",
    "PowertradeRepository",
    "Renewal",
    "Settlement",
    "StatusChange",
    "compute_customer_status",
    "create_repository",
    "repository_for",
]


def create_repository(
    url: str, *, database: str | None = None, table_prefix: str = "pt_"
) -> PowertradeRepository:
    """The repository for ``url`` (not opened yet): ``sqlite:///FILE``,
    ``postgresql://...`` or ``mongodb://...`` (with ``database``)."""
    if backend_of(url) == "mongodb":
        from schedkit_examples.powertrade.domain.mongo import MongoRepository

        return MongoRepository(url, database=database or "exds", table_prefix=table_prefix)
    from schedkit_examples.powertrade.domain.sql import SQLRepository

    return SQLRepository(url, table_prefix=table_prefix)


def repository_for(settings: PowertradeSettings) -> PowertradeRepository:
    """The repository the settings name (not opened yet)."""
    return create_repository(
        settings.db_url, database=settings.database, table_prefix=settings.table_prefix
    )
