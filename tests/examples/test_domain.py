"""The powertrade domain rules and the sample data generator."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from schedkit_examples.powertrade.domain.models import (
    Contract,
    CustomerStatus,
    InvalidContractError,
    add_months,
    compute_customer_status,
    renewal_period,
)
from schedkit_examples.powertrade.sampledata import build
from schedkit_examples.powertrade.settings import load_settings
from schedkit_examples.powertrade.tasks.customer.contract_check import find_issues

from .conftest import AS_OF

TODAY = date(2025, 6, 30)


def contract(cid: str, start: date | None, end: date | None, **kw: object) -> Contract:
    values: dict[str, object] = {
        "customer_id": "C1",
        "price": 400.0,
        "monthly_volume": 1000.0,
        **kw,
    }
    return Contract(id=cid, start_date=start, end_date=end, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("contracts", "expected"),
    [
        pytest.param([], CustomerStatus.PROSPECT, id="prospect-no-contract"),
        pytest.param(
            [contract("K1", date(2025, 8, 1), date(2026, 7, 31))],
            CustomerStatus.SIGNED,
            id="signed-starts-later",
        ),
        pytest.param(
            [contract("K1", date(2025, 1, 1), date(2025, 12, 31))],
            CustomerStatus.ACTIVE,
            id="active",
        ),
        pytest.param(
            [contract("K1", date(2025, 1, 1), date(2025, 7, 30))],
            CustomerStatus.EXPIRING,
            id="expiring-in-30-days",
        ),
        pytest.param(
            [contract("K1", date(2025, 1, 1), date(2025, 7, 31))],
            CustomerStatus.ACTIVE,
            id="active-31-days-left",
        ),
        pytest.param(
            [contract("K1", date(2025, 1, 1), date(2025, 6, 30))],
            CustomerStatus.EXPIRING,
            id="expiring-last-day",
        ),
        pytest.param(
            [contract("K1", date(2024, 1, 1), date(2025, 6, 29))],
            CustomerStatus.EXPIRED,
            id="expired-yesterday",
        ),
        pytest.param(
            [
                contract("K1", date(2025, 1, 1), date(2025, 7, 15)),
                contract("K2", date(2025, 7, 16), date(2026, 7, 15)),
            ],
            CustomerStatus.ACTIVE,
            id="active-follow-on-without-gap",
        ),
        pytest.param(
            [
                contract("K1", date(2025, 1, 1), date(2025, 7, 15)),
                contract("K2", date(2025, 8, 1), date(2026, 7, 31)),
            ],
            CustomerStatus.EXPIRING,
            id="expiring-follow-on-after-gap",
        ),
        pytest.param(
            [
                contract("K1", date(2023, 1, 1), date(2023, 12, 31)),
                contract("K2", date(2025, 9, 1), date(2026, 8, 31)),
            ],
            CustomerStatus.SIGNED,
            id="signed-after-expired",
        ),
    ],
)
def test_customer_status_rules(contracts: list[Contract], expected: CustomerStatus) -> None:
    assert compute_customer_status(contracts, TODAY) is expected


def test_status_threshold_is_a_parameter() -> None:
    c = [contract("K1", date(2025, 1, 1), date(2025, 7, 20))]
    assert compute_customer_status(c, TODAY, expiring_within_days=10) is CustomerStatus.ACTIVE
    assert compute_customer_status(c, TODAY, expiring_within_days=20) is CustomerStatus.EXPIRING


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (contract("K9", date(2025, 1, 1), None), "K9 has no end_date"),
        (contract("K9", None, date(2025, 1, 1)), "K9 has no start_date"),
        (contract("K9", date(2025, 5, 1), date(2025, 4, 1)), "ends (2025-04-01) before"),
    ],
)
def test_unusable_contract_is_an_error(bad: Contract, message: str) -> None:
    with pytest.raises(InvalidContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compute_customer_status([contract("K1", date(2025, 1, 1), date(2025, 12, 31)), bad], TODAY)


def test_month_arithmetic_and_renewal_period() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 3, 15), -15) == date(2023, 12, 15)
    yearly = contract("K1", date(2025, 1, 1), date(2025, 12, 31))
    assert renewal_period(yearly) == (date(2026, 1, 1), date(2026, 12, 31))
    half = contract("K1", date(2024, 9, 1), date(2025, 2, 28))
    assert renewal_period(half) == (date(2025, 3, 1), date(2025, 8, 31))
    month = contract("K1", date(2025, 1, 10), date(2025, 2, 9))
    assert renewal_period(month) == (date(2025, 2, 10), date(2025, 3, 9))
    odd = contract("K1", date(2025, 1, 10), date(2025, 2, 20))  # 42 days, not whole months
    assert renewal_period(odd) == (date(2025, 2, 21), date(2025, 4, 3))


def test_find_issues_hand_made() -> None:
    contracts = [
        contract("K1", date(2025, 1, 1), date(2025, 6, 30)),
        contract("K2", date(2025, 6, 1), date(2025, 12, 31)),  # overlaps K1 in June
        contract("K3", date(2026, 1, 1), date(2026, 12, 31)),  # follows K2: fine
        contract("K4", date(2025, 5, 1), date(2025, 4, 1), customer_id="C2"),
        contract("K5", date(2025, 1, 1), None, customer_id="C2"),
        contract("K6", date(2025, 1, 1), date(2025, 12, 31), customer_id="C3", price=None),
        contract("K7", date(2025, 1, 1), date(2025, 12, 31), customer_id="C4", monthly_volume=0.0),
        contract("K8", date(2025, 1, 1), date(2025, 12, 31), customer_id="NOPE"),
    ]
    issues = find_issues(contracts, {"C1", "C2", "C3", "C4"})
    found = {(i["contract_id"], i["kind"]) for i in issues}
    assert found == {
        ("K2", "overlap"),
        ("K4", "end_before_start"),
        ("K5", "missing_field"),
        ("K6", "missing_field"),
        ("K7", "non_positive"),
        ("K8", "unknown_customer"),
    }
    overlap = next(i for i in issues if i["kind"] == "overlap")
    assert overlap["detail"] == "overlaps K1 from 2025-06-01 to 2025-06-30"


def test_sample_data_is_deterministic_and_realistic() -> None:
    first, second = build(AS_OF), build(AS_OF)
    assert first == second
    assert build(AS_OF, seed=1, settlement_days=1).contracts != first.contracts
    assert len(first.customers) == 200
    assert len(first.contracts) == 300
    assert len({c.id for c in first.contracts}) == 300
    # A year of daily settlements, one per customer and day at most.
    days = {s.day for s in first.settlements}
    assert min(days) == date(2024, 6, 30) and max(days) == date(2025, 6, 29)
    assert len({(s.customer_id, s.day) for s in first.settlements}) == len(first.settlements)
    for s in first.settlements[:500]:
        assert s.amount == round(s.volume * s.price, 2)

    by_customer: dict[str, list[Contract]] = {}
    for c in first.contracts:
        by_customer.setdefault(c.customer_id, []).append(c)
    statuses: Counter[str] = Counter()
    for customer in first.customers:
        try:
            statuses[compute_customer_status(by_customer.get(customer.id, []), AS_OF).value] += 1
        except InvalidContractError:
            statuses["error"] += 1
    # Every status occurs, some contracts expire soon, a few records are wrong on purpose.
    assert set(statuses) == {*(s.value for s in CustomerStatus), "error"}
    assert statuses["expiring"] >= 10
    kinds = Counter(i["kind"] for i in find_issues(first.contracts, set(by_customer)))
    assert kinds == {"overlap": 4, "missing_field": 3, "end_before_start": 2}
    # Stored statuses are stale (as of 45 days earlier): the status update has work.
    stale = sum(
        1
        for c in first.customers
        if _safe_status(by_customer.get(c.id, []), AS_OF) not in (None, c.status)
    )
    assert stale >= 10


def _safe_status(contracts: list[Contract], today: date) -> CustomerStatus | None:
    try:
        return compute_customer_status(contracts, today)
    except InvalidContractError:
        return None


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "POWERTRADE_VAR_DIR": "/srv/pt",
        "POWERTRADE_REPORTS_DIR": "/srv/reports",
        "SCHEDKIT_STORE_URL": "sqlite:///store.db",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SCHEDKIT_CONFIG", raising=False)
    monkeypatch.delenv("POWERTRADE_DB_URL", raising=False)
    settings = load_settings()
    # The domain data defaults to the scheduler store's database.
    assert settings.db_url == "sqlite:///store.db"
    assert str(settings.reports_dir) == "/srv/reports"
    assert str(settings.backup_dir) == "/srv/pt/backups"
    # Per-task config wins over the environment.
    over = load_settings({"db_url": "mongodb://db.internal:27017/exds", "var_dir": "/x"})
    assert over.backend == "mongodb" and over.database == "exds"
    assert str(over.temp_dir) == "/x/tmp"
    assert str(over.reports_dir) == "/srv/reports"
    # A MongoDB store's database option names the shared database.
    monkeypatch.setenv("SCHEDKIT_STORE_URL", "mongodb://127.0.0.1:27017")
    monkeypatch.setenv("SCHEDKIT_STORE_OPTIONS", '{"database": "exds2"}')
    assert load_settings().database == "exds2"
