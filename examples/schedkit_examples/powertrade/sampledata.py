"""Deterministic sample data: about 200 customers, 300 contracts and a year of daily
settlements, as of a given ``today``.

The same ``seed`` and ``today`` always give the same data. It is realistic enough for
every task to have work:

* ~15 % prospects without contracts; the others have chains of consecutive whole-month
  contracts that ended already (expired), are in force (active), end within 30 days
  (expiring; half of them ``auto_renew``) or start later (signed);
* customer statuses are stale (as they were 45 days ago), so the status update changes
  some of them;
* a few contracts are wrong on purpose: overlapping their predecessor, a missing price
  or end date, an end before the start (the contract check finds them, the status
  update reports those customers as errors);
* one settlement per customer and day while a contract is in force.

Command line (fills the configured database, see :mod:`schedkit_examples.powertrade.settings`)::

    python -m schedkit_examples.powertrade.sampledata [--today 2025-06-30] [--reset]
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from schedkit_examples.powertrade.domain import PowertradeRepository, repository_for
from schedkit_examples.powertrade.domain.models import (
    Contract,
    Customer,
    CustomerStatus,
    InvalidContractError,
    Settlement,
    add_months,
    compute_customer_status,
)
from schedkit_examples.powertrade.settings import load_settings

__all__ = ["DEFAULT_SEED", "SampleData", "build", "generate"]

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20251111
#: Base market price (元/MWh) used for settlements of contracts without a price.
MARKET_PRICE = 400.0

_CITIES = ["华东", "华南", "江南", "岭南", "中原", "齐鲁", "巴蜀", "荆楚", "东海", "北辰"]
_WORDS = ["新材料", "精密", "能源", "重工", "纺织", "食品", "数据", "化工", "建材", "电子"]
_SUFFIX = ["有限公司", "股份有限公司", "集团有限公司", "科技有限公司"]
_REGIONS = ["广东", "江苏", "浙江", "山东", "四川", "湖北", "河南", "福建", "安徽", "湖南"]
_INDUSTRIES = ["钢铁", "化工", "数据中心", "纺织", "建材", "食品", "汽车零部件", "电子", "造纸"]


@dataclass
class SampleData:
    customers: list[Customer] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def build(
    today: date,
    *,
    seed: int = DEFAULT_SEED,
    customers: int = 200,
    contracts: int = 300,
    settlement_days: int = 365,
) -> SampleData:
    """The sample data as of ``today`` (nothing is written)."""
    rng = random.Random(seed)
    prospects = max(1, customers * 15 // 100)
    contracted = customers - prospects
    if contracted < 1 or contracts < contracted:
        raise ValueError("need at least one contract per contracted customer")

    # Chain lengths: one contract each, the rest spread (at most 3 per customer).
    lengths = [1] * contracted
    extra = contracts - contracted
    while extra:
        i = rng.randrange(contracted)
        if lengths[i] < 3:
            lengths[i] += 1
            extra -= 1
        elif all(n >= 3 for n in lengths):
            raise ValueError("too many contracts for the number of customers")

    ids = [f"C{n:04d}" for n in range(1, customers + 1)]
    rng.shuffle(ids)
    contracted_ids = sorted(ids[:contracted])
    data = SampleData()
    contract_no = 0
    scenarios = ["expired", "active", "active", "active", "expiring", "signed"]
    by_customer: dict[str, list[Contract]] = {}
    for customer_id, length in zip(contracted_ids, lengths, strict=True):
        scenario = rng.choice(scenarios)
        months = rng.choice([6, 12, 12])
        if scenario == "signed":
            first_start = add_months(_month_start(today), rng.randint(1, 2))
        else:
            if scenario == "expired":
                last_end = _month_end(add_months(today, -rng.randint(1, 10)))
            elif scenario == "expiring":
                last_end = _month_end(today)
                if (last_end - today).days < 3:
                    last_end = _month_end(add_months(today, 1))
                    if (last_end - today).days > 30:
                        last_end = _month_end(today)
            else:
                last_end = _month_end(add_months(today, rng.randint(2, 11)))
            first_start = add_months(last_end + timedelta(days=1), -months * length)
        price = round(rng.uniform(350, 480), 2)
        volume = float(rng.randrange(500, 20000, 10))
        chain: list[Contract] = []
        for k in range(length):
            start = add_months(first_start, months * k)
            end = add_months(start, months) - timedelta(days=1)
            contract_no += 1
            last = k == length - 1
            chain.append(
                Contract(
                    id=f"K{contract_no:05d}",
                    customer_id=customer_id,
                    start_date=start,
                    end_date=end,
                    price=round(price * rng.uniform(0.95, 1.05), 2),
                    monthly_volume=volume,
                    # Only the last contract of a chain may renew itself; expired
                    # customers let theirs lapse.
                    auto_renew=last and scenario != "expired" and rng.random() < 0.5,
                    signed_on=start - timedelta(days=rng.randint(10, 60)),
                )
            )
        by_customer[customer_id] = chain

    _spoil(rng, by_customer)
    for chain in by_customer.values():
        data.contracts.extend(chain)
    data.contracts.sort(key=lambda c: c.id)

    stale_day = today - timedelta(days=45)
    for n, customer_id in enumerate(sorted(ids)):
        chain = by_customer.get(customer_id, [])
        try:
            stale = compute_customer_status(chain, stale_day)
        except InvalidContractError:
            stale = CustomerStatus.ACTIVE
        first_signed = min((c.signed_on for c in chain if c.signed_on), default=None)
        created = (first_signed or today) - timedelta(days=rng.randint(5, 400))
        data.customers.append(
            Customer(
                id=customer_id,
                name=f"{_CITIES[n % 10]}{_WORDS[(n // 10) % 10]}{rng.choice(_SUFFIX)}",
                region=rng.choice(_REGIONS),
                industry=rng.choice(_INDUSTRIES),
                status=stale,
                status_changed_at=datetime.combine(created, datetime.min.time(), UTC),
                created_on=created,
            )
        )

    first_day = today - timedelta(days=settlement_days)
    for customer_id in contracted_ids:
        chain = sorted(by_customer[customer_id], key=lambda c: c.id)
        day = first_day
        while day < today:
            contract = next((c for c in chain if c.covers(day)), None)
            if contract is not None:
                days_in_month = calendar.monthrange(day.year, day.month)[1]
                volume = round(
                    (contract.monthly_volume or 0.0) / days_in_month * rng.uniform(0.85, 1.15), 3
                )
                price = round((contract.price or MARKET_PRICE) * rng.uniform(0.97, 1.03), 2)
                data.settlements.append(
                    Settlement(
                        id=f"{customer_id}-{day:%Y%m%d}",
                        customer_id=customer_id,
                        contract_id=contract.id,
                        day=day,
                        volume=volume,
                        price=price,
                        amount=round(volume * price, 2),
                    )
                )
            day += timedelta(days=1)
    data.settlements.sort(key=lambda s: s.id)
    return data


def _spoil(rng: random.Random, by_customer: dict[str, list[Contract]]) -> None:
    """Make a few contracts inconsistent on purpose (the contract check's findings)."""
    chained = sorted(cid for cid, chain in by_customer.items() if len(chain) >= 2)
    singles = sorted(cid for cid, chain in by_customer.items() if len(chain) == 1)
    rng.shuffle(chained)
    rng.shuffle(singles)
    # Overlaps: a follow-on contract starts a month before its predecessor ends.
    for cid in chained[:4]:
        chain = by_customer[cid]
        c = chain[1]
        assert c.start_date is not None
        chain[1] = replace(c, start_date=add_months(c.start_date, -1))
    # Missing price / end date; end before start.
    spoilers: list[Callable[[Contract], Contract]] = [
        lambda c: replace(c, price=None),
        lambda c: replace(c, price=None),
        lambda c: replace(c, end_date=None, auto_renew=False),
        lambda c: replace(c, start_date=c.end_date, end_date=c.start_date, auto_renew=False),
        lambda c: replace(c, start_date=c.end_date, end_date=c.start_date, auto_renew=False),
    ]
    for cid, spoil in zip(singles, spoilers, strict=False):
        by_customer[cid][0] = spoil(by_customer[cid][0])


async def generate(
    repo: PowertradeRepository,
    today: date | None = None,
    *,
    seed: int = DEFAULT_SEED,
    customers: int = 200,
    contracts: int = 300,
    settlement_days: int = 365,
    reset: bool = False,
) -> dict[str, int]:
    """Write the sample data into ``repo`` (opened); refuses a non-empty repository
    unless ``reset``. Returns the number of records per table."""
    today = today or datetime.now(ZoneInfo("Asia/Shanghai")).date()
    if reset:
        await repo.clear()
    elif not await repo.is_empty():
        raise ValueError(
            f"{repo.display_url} already holds powertrade data; pass reset=True (--reset)"
        )
    data = build(
        today,
        seed=seed,
        customers=customers,
        contracts=contracts,
        settlement_days=settlement_days,
    )
    await repo.insert_many("customers", data.customers)
    await repo.insert_many("contracts", data.contracts)
    await repo.insert_many("settlements", data.settlements)
    counts = {
        "customers": len(data.customers),
        "contracts": len(data.contracts),
        "settlements": len(data.settlements),
    }
    logger.info("sample data as of %s written to %s: %s", today, repo.display_url, counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schedkit_examples.powertrade.sampledata",
        description="Fill the powertrade database with deterministic sample data.",
    )
    parser.add_argument("--db-url", help="database URL (default: from settings)")
    parser.add_argument("--today", type=date.fromisoformat, help="as-of date (YYYY-MM-DD)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--reset", action="store_true", help="delete existing domain data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    settings = load_settings({"db_url": args.db_url} if args.db_url else None)

    async def run() -> None:
        async with repository_for(settings) as repo:
            await generate(repo, args.today, seed=args.seed, reset=args.reset)

    try:
        asyncio.run(run())
    except ValueError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
