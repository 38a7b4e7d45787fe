"""The repository: every read and write the powertrade tasks make, behind one contract.

Two implementations keep the same behaviour: :class:`~.sql.SQLRepository` (SQLite /
PostgreSQL through SQLAlchemy Core on async drivers) and
:class:`~.mongo.MongoRepository` (pymongo's ``AsyncMongoClient``). The steps that must
survive retries and crashes are defined here, once:

* :meth:`PowertradeRepository.renew_contract` — keyed by (contract id, new period
  start), unique in the database: a retry, a second run or a concurrent run never
  renews twice.
* :meth:`PowertradeRepository.archive_batch` — copy-if-absent into the archive, then
  delete from the source, by primary key: a crash between the two leaves rows in both
  places, and the next run finishes the move without duplicates or loss.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

from schedkit_examples.powertrade.domain.models import (
    Contract,
    Customer,
    CustomerStatus,
    Record,
    Renewal,
    Settlement,
    StatusChange,
)

__all__ = ["MODELS", "TABLES", "PowertradeRepository"]

#: Domain tables (collections), in restore order.
TABLES: tuple[str, ...] = (
    "customers",
    "contracts",
    "contract_renewals",
    "customer_status_history",
    "settlements",
    "settlements_archive",
)

MODELS: dict[str, type[Record]] = {
    "customers": Customer,
    "contracts": Contract,
    "contract_renewals": Renewal,
    "customer_status_history": StatusChange,
    "settlements": Settlement,
    "settlements_archive": Settlement,
}


class PowertradeRepository(abc.ABC):
    """Domain data access. Methods are coroutines; one instance belongs to one loop."""

    #: ``sqlite``, ``postgresql`` or ``mongodb``.
    backend: str = ""
    #: URL with the password masked, for messages.
    display_url: str = ""

    # -- lifecycle ---------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the tables / indexes if missing (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections (safe to call twice)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- generic (sample data, backup, restore) ------------------------------------------

    @abc.abstractmethod
    async def count(self, table: str) -> int: ...

    @abc.abstractmethod
    async def insert_many(self, table: str, records: Sequence[Record]) -> None:
        """Insert new records (a key already present is an error)."""

    @abc.abstractmethod
    def export(self, table: str, batch_size: int = 1000) -> AsyncIterator[list[dict[str, Any]]]:
        """All records of ``table`` in their JSON form, in batches, ordered by key."""

    @abc.abstractmethod
    async def clear(self) -> None:
        """Delete every domain record (tests and ``restore --force``)."""

    async def is_empty(self) -> bool:
        for table in TABLES:
            if await self.count(table):
                return False
        return True

    # -- customers -----------------------------------------------------------------------

    @abc.abstractmethod
    async def list_customers(self) -> list[Customer]:
        """All customers, ordered by id."""

    @abc.abstractmethod
    async def get_customer(self, customer_id: str) -> Customer | None: ...

    @abc.abstractmethod
    async def set_customer_status(
        self,
        customer_id: str,
        expected: CustomerStatus,
        new: CustomerStatus,
        change: StatusChange,
    ) -> bool:
        """Set the status if it is still ``expected`` (a concurrent change wins) and
        record ``change`` in the status history. True if it applied."""

    @abc.abstractmethod
    async def list_status_changes(self, customer_id: str | None = None) -> list[StatusChange]:
        """Status history, oldest first."""

    @abc.abstractmethod
    async def purge_status_history(self, changed_before: datetime) -> int:
        """Delete status history older than the cut-off; the number deleted."""

    # -- contracts -----------------------------------------------------------------------

    @abc.abstractmethod
    async def list_contracts(self, customer_id: str | None = None) -> list[Contract]:
        """Contracts (of one customer if given), ordered by id."""

    @abc.abstractmethod
    async def get_contract(self, contract_id: str) -> Contract | None: ...

    @abc.abstractmethod
    async def contracts_ending_between(self, first: date, last: date) -> list[Contract]:
        """Contracts whose end date is in [first, last], ordered by end date then id."""

    @abc.abstractmethod
    async def renewal_candidates(self, ending_from: date, ending_until: date) -> list[Contract]:
        """``auto_renew`` contracts not renewed yet whose end date is in
        [ending_from, ending_until], ordered by end date then id."""

    @abc.abstractmethod
    async def renew_contract(self, old: Contract, new: Contract, renewal: Renewal) -> bool:
        """Create ``new`` as the renewal of ``old`` exactly once.

        ``renewal`` is keyed by (contract_id, new_start), unique in the database; ``new``
        has an id derived from the same key. True if this call renewed, False if the
        renewal existed already (then nothing is created twice).
        """

    @abc.abstractmethod
    async def list_renewals(self) -> list[Renewal]:
        """All renewal records, ordered by (contract_id, new_start)."""

    # -- settlements ---------------------------------------------------------------------

    @abc.abstractmethod
    async def settlements_between(
        self, first: date, last: date, *, include_archive: bool = True
    ) -> list[Settlement]:
        """Settlements with ``first <= day <= last`` (archived ones too by default),
        ordered by day then id."""

    @abc.abstractmethod
    async def count_settlements_before(self, day: date, *, archive: bool = False) -> int:
        """Settlements (or archived settlements) with ``day`` before the given day."""

    @abc.abstractmethod
    async def archive_batch(self, before: date, batch_size: int) -> int:
        """Move up to ``batch_size`` of the oldest settlements with ``day < before`` to
        the archive; the number moved (0: nothing left). Copy-if-absent then delete,
        keyed by id: safe to repeat after a crash."""
