"""The powertrade domain: customers, power-purchase contracts, daily settlements.

Values are frozen dataclasses. Each has ``to_json()`` / ``from_json()`` for one
canonical JSON form (dates ``YYYY-MM-DD``, datetimes ISO 8601 UTC), used by backups,
the MongoDB repository and tests comparing data across databases.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Self

__all__ = [
    "EXPIRING_WITHIN_DAYS",
    "Contract",
    "Customer",
    "CustomerStatus",
    "InvalidContractError",
    "Record",
    "Renewal",
    "Settlement",
    "StatusChange",
    "add_months",
    "compute_customer_status",
    "renewal_period",
    "to_json_value",
]

#: A customer whose contracted supply ends within this many days is "expiring".
EXPIRING_WITHIN_DAYS = 30


class CustomerStatus(enum.StrEnum):
    """A customer's status, derived from contract dates and today's date."""

    PROSPECT = "prospect"  # 潜在客户: no contract at all
    SIGNED = "signed"  # 已签约: a contract starts in the future, none in force
    ACTIVE = "active"  # 执行中: a contract is in force
    EXPIRING = "expiring"  # 即将到期: supply in force ends within N days
    EXPIRED = "expired"  # 已到期: every contract has ended


class InvalidContractError(ValueError):
    """A contract whose dates cannot be used (missing, or end before start)."""


def to_json_value(value: Any) -> Any:
    """The JSON form of one field value (dates ISO, datetimes ISO UTC, enums by value)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Record:
    """JSON conversion shared by the domain values (driven by ``_dates``/``_datetimes``)."""

    _dates: ClassVar[tuple[str, ...]] = ()
    _datetimes: ClassVar[tuple[str, ...]] = ()
    _enums: ClassVar[dict[str, type[enum.Enum]]] = {}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def values(self) -> dict[str, Any]:
        """The fields as Python values (no copies: the values are immutable)."""
        return {name: getattr(self, name) for name in _names(type(self))}

    def to_json(self) -> dict[str, Any]:
        return {name: to_json_value(getattr(self, name)) for name in _names(type(self))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for name in _names(cls):
            if name not in data:
                continue
            value = data[name]
            if value is not None:
                if name in cls._dates and isinstance(value, str):
                    value = date.fromisoformat(value)
                elif name in cls._datetimes and isinstance(value, str):
                    value = datetime.fromisoformat(value)
                elif name in cls._enums:
                    value = cls._enums[name](value)
                if isinstance(value, datetime):
                    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
                    value = value.astimezone(UTC)
            values[name] = value
        return cls(**values)


_NAMES: dict[type[Record], tuple[str, ...]] = {}


def _names(cls: type[Record]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = cls.field_names()
    return names


@dataclass(frozen=True, kw_only=True, slots=True)
class Customer(Record):
    id: str
    name: str
    region: str
    industry: str
    status: CustomerStatus = CustomerStatus.PROSPECT
    status_changed_at: datetime | None = None
    created_on: date

    _dates: ClassVar[tuple[str, ...]] = ("created_on",)
    _datetimes: ClassVar[tuple[str, ...]] = ("status_changed_at",)
    _enums: ClassVar[dict[str, type[enum.Enum]]] = {"status": CustomerStatus}


@dataclass(frozen=True, kw_only=True, slots=True)
class Contract(Record):
    """A power-purchase contract: execution period, price (元/MWh), contracted monthly
    volume (MWh). Optional fields are optional because real data has gaps; the contract
    check reports them."""

    id: str
    customer_id: str
    start_date: date | None
    end_date: date | None
    price: float | None
    monthly_volume: float | None
    auto_renew: bool = False
    renewed_from: str | None = None
    renewed_to: str | None = None
    signed_on: date | None = None

    _dates: ClassVar[tuple[str, ...]] = ("start_date", "end_date", "signed_on")

    def covers(self, day: date) -> bool:
        return (
            self.start_date is not None
            and self.end_date is not None
            and self.start_date <= day <= self.end_date
        )

    def require_period(self) -> tuple[date, date]:
        """(start, end) or InvalidContractError saying what is wrong."""
        if self.start_date is None or self.end_date is None:
            missing = "start_date" if self.start_date is None else "end_date"
            raise InvalidContractError(f"contract {self.id} has no {missing}")
        if self.end_date < self.start_date:
            raise InvalidContractError(
                f"contract {self.id} ends ({self.end_date}) before it starts ({self.start_date})"
            )
        return self.start_date, self.end_date


@dataclass(frozen=True, kw_only=True, slots=True)
class Settlement(Record):
    """One customer's settled energy of one day (volume MWh, price 元/MWh, amount 元)."""

    id: str
    customer_id: str
    contract_id: str
    day: date
    volume: float
    price: float
    amount: float

    _dates: ClassVar[tuple[str, ...]] = ("day",)


@dataclass(frozen=True, kw_only=True, slots=True)
class Renewal(Record):
    """The record that a contract was renewed for the period starting ``new_start``.

    (contract_id, new_start) is unique in every backend: a retry or a second run cannot
    renew the same contract for the same period twice.
    """

    contract_id: str
    new_start: date
    new_contract_id: str
    renewed_at: datetime
    run_id: str | None = None

    _dates: ClassVar[tuple[str, ...]] = ("new_start",)
    _datetimes: ClassVar[tuple[str, ...]] = ("renewed_at",)


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusChange(Record):
    """History of customer status changes (kept for ``data_cleanup``'s retention)."""

    id: str
    customer_id: str
    old_status: str | None
    new_status: str
    reason: str
    changed_at: datetime

    _datetimes: ClassVar[tuple[str, ...]] = ("changed_at",)


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def renewal_period(contract: Contract) -> tuple[date, date]:
    """The period of the contract renewing ``contract``: it starts the day after the end
    and lasts as long (whole months when the period is whole months)."""
    start, end = contract.require_period()
    new_start = end + timedelta(days=1)
    months = (new_start.year - start.year) * 12 + new_start.month - start.month
    if months > 0 and add_months(start, months) == new_start:
        return new_start, add_months(new_start, months) - timedelta(days=1)
    return new_start, new_start + (end - start)


def compute_customer_status(
    contracts: list[Contract], today: date, expiring_within_days: int = EXPIRING_WITHIN_DAYS
) -> CustomerStatus:
    """The status a customer should have today, given all of its contracts.

    * no contract → prospect
    * a contract in force: expiring if the supply in force (the contract covering today,
      extended by contracts that follow it without a gap) ends within
      ``expiring_within_days`` days, else active
    * no contract in force but one starting later → signed
    * otherwise → expired

    Raises InvalidContractError for a contract with missing dates or ending before it
    starts: the status cannot be trusted until the contract is fixed.
    """
    if not contracts:
        return CustomerStatus.PROSPECT
    periods = sorted(c.require_period() for c in contracts)
    current = [p for p in periods if p[0] <= today <= p[1]]
    if current:
        supply_end = max(end for _, end in current)
        extended = True
        while extended:
            extended = False
            for start, end in periods:
                if start <= supply_end + timedelta(days=1) and end > supply_end:
                    supply_end, extended = end, True
        if (supply_end - today).days <= expiring_within_days:
            return CustomerStatus.EXPIRING
        return CustomerStatus.ACTIVE
    if any(start > today for start, _ in periods):
        return CustomerStatus.SIGNED
    return CustomerStatus.EXPIRED
