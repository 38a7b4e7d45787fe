"""contract/: expiry check (with a real notification) and auto-renewal (idempotent under
retries, reruns and concurrent runs, on every backend)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from schedkit_examples.powertrade.domain import PowertradeRepository, repository_for
from schedkit_examples.powertrade.domain.models import CustomerStatus, Renewal
from schedkit_examples.powertrade.settings import PowertradeSettings
from schedkit_examples.powertrade.tasks.contract.auto_renewal import ContractAutoRenewalTask
from schedkit_examples.powertrade.tasks.contract.expire_check import ContractExpireCheckTask

from .conftest import AS_OF
from .test_customer_tasks import contract, customer


async def seed_renewal_cases(repo: PowertradeRepository) -> None:
    await repo.insert_many(
        "customers",
        [customer(c, CustomerStatus.ACTIVE) for c in ("R1", "R2", "R3", "R4", "N", "F")],
    )
    await repo.insert_many(
        "contracts",
        [
            # Ends today: renewed for another year.
            contract("K-R1", "R1", date(2024, 7, 1), date(2025, 6, 30), auto_renew=True),
            # Ended 15 days ago (the service was down): still renewed, same length.
            contract("K-R2", "R2", date(2025, 1, 1), date(2025, 6, 15), auto_renew=True),
            # Ended 61 days ago: lapsed.
            contract("K-R3", "R3", date(2024, 5, 1), date(2025, 4, 30), auto_renew=True),
            # Ends next month: not yet (unless renewing ahead with lead_days).
            contract("K-R4", "R4", date(2024, 8, 1), date(2025, 7, 31), auto_renew=True),
            # No auto_renew.
            contract("K-N", "N", date(2024, 7, 1), date(2025, 6, 30)),
            # auto_renew, but a follow-on contract was signed by hand.
            contract("K-F", "F", date(2024, 7, 1), date(2025, 6, 30), auto_renew=True),
            contract("K-F2", "F", date(2025, 7, 1), date(2026, 6, 30)),
        ],
    )


async def test_auto_renewal_renews_exactly_once(
    empty_url: str, empty_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    await seed_renewal_cases(empty_repo)
    task: ContractAutoRenewalTask = make_task(ContractAutoRenewalTask, empty_url)

    result = await task.execute(as_of=AS_OF)

    assert result["success"] is True
    assert result["statistics"] == {
        "candidates": 3,
        "renewed": 2,
        "already_renewed": 0,
        "skipped": 1,
    }
    assert {r["new_contract_id"] for r in result["data"]["renewed"]} == {
        "K-R1-R20250701",
        "K-R2-R20250616",
    }
    assert result["data"]["skipped"][0]["contract_id"] == "K-F"
    new1 = await empty_repo.get_contract("K-R1-R20250701")
    assert new1 is not None
    assert (new1.start_date, new1.end_date) == (date(2025, 7, 1), date(2026, 6, 30))
    assert (new1.renewed_from, new1.auto_renew, new1.price) == ("K-R1", True, 400.0)
    new2 = await empty_repo.get_contract("K-R2-R20250616")
    assert new2 is not None and new2.end_date == date(2025, 11, 28)  # 165 days, like K-R2
    old1 = await empty_repo.get_contract("K-R1")
    assert old1 is not None and old1.renewed_to == "K-R1-R20250701"

    # A second run the same day, and a run a day later: nothing renews twice.
    for as_of in (AS_OF, date(2025, 7, 1)):
        again = await task.execute(as_of=as_of)
        assert again["statistics"]["renewed"] == 0
    assert await empty_repo.count("contracts") == 9
    assert [(r.contract_id, r.new_start) for r in await empty_repo.list_renewals()] == [
        ("K-R1", date(2025, 7, 1)),
        ("K-R2", date(2025, 6, 16)),
    ]

    # Renewing ahead: K-R4 (ends 2025-07-31) with 31 days of lead time.
    ahead = await task.execute(as_of=AS_OF, lead_days=31)
    assert [r["contract_id"] for r in ahead["data"]["renewed"]] == ["K-R4"]


async def test_renewal_key_is_unique_in_the_database(
    empty_repo: PowertradeRepository,
) -> None:
    """Even when the caller does not know a renewal happened (the candidate filter is
    bypassed), the (contract, new start) key refuses a second one."""
    await seed_renewal_cases(empty_repo)
    old = await empty_repo.get_contract("K-R1")
    assert old is not None
    from dataclasses import replace

    new = replace(old, id="K-R1-R20250701", start_date=date(2025, 7, 1), end_date=date(2026, 6, 30))
    from datetime import UTC, datetime

    renewal = Renewal(
        contract_id="K-R1",
        new_start=date(2025, 7, 1),
        new_contract_id=new.id,
        renewed_at=datetime(2025, 6, 30, 17, tzinfo=UTC),
    )
    results = await asyncio.gather(
        *(empty_repo.renew_contract(old, new, renewal) for _ in range(3))
    )
    assert sorted(results) == [False, False, True]
    assert await empty_repo.count("contracts") == 8
    assert await empty_repo.count("contract_renewals") == 1


async def test_auto_renewal_retry_after_failure_renews_once(
    empty_url: str,
    empty_repo: PowertradeRepository,
    make_task: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worst case of a retry: the second renewal is written but its
    acknowledgement is lost (connection dropped after commit), so the attempt fails.
    The retry (another execute, as the engine does) must not renew anything again."""
    await seed_renewal_cases(empty_repo)
    real = repository_for
    calls = 0

    def flaky(settings: PowertradeSettings) -> PowertradeRepository:
        repo = real(settings)
        renew = repo.renew_contract

        async def renew_then_fail(*args: Any) -> bool:
            nonlocal calls
            done = await renew(*args)
            calls += 1
            if calls == 2:
                raise ConnectionError("connection lost after the write")
            return done

        repo.renew_contract = renew_then_fail  # type: ignore[method-assign, assignment]
        return repo

    monkeypatch.setattr("schedkit_examples.powertrade.tasks.base_task.repository_for", flaky)
    task: ContractAutoRenewalTask = make_task(ContractAutoRenewalTask, empty_url)
    with pytest.raises(ConnectionError):
        await task.execute(as_of=AS_OF)
    retry = await task.execute(as_of=AS_OF)  # attempt 2
    assert retry["statistics"]["renewed"] == 0
    assert await empty_repo.count("contract_renewals") == 2
    assert await empty_repo.count("contracts") == 9


async def test_concurrent_auto_renewals_renew_once(
    empty_url: str, empty_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    await seed_renewal_cases(empty_repo)
    results = await asyncio.gather(
        *(make_task(ContractAutoRenewalTask, empty_url).execute(as_of=AS_OF) for _ in range(3))
    )
    assert sum(r["statistics"]["renewed"] for r in results) == 2
    assert await empty_repo.count("contract_renewals") == 2
    assert await empty_repo.count("contracts") == 9


async def test_auto_renewal_on_sample_data(
    sample_url: str, sample_repo: PowertradeRepository, make_task: Callable[..., Any]
) -> None:
    candidates = await sample_repo.renewal_candidates(date(2025, 5, 31), AS_OF)
    result = await make_task(ContractAutoRenewalTask, sample_url).execute(as_of=AS_OF)
    stats = result["statistics"]
    assert stats["candidates"] == len(candidates) > 0
    assert stats["renewed"] + stats["skipped"] == stats["candidates"]
    assert await sample_repo.count("contracts") == 300 + stats["renewed"]


# -- expiry check ------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint; an apprise ``json://`` URL pointing at it."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_port}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def seed_expiry_cases(repo: PowertradeRepository) -> None:
    await repo.insert_many(
        "customers", [customer(c, CustomerStatus.ACTIVE) for c in ("E1", "E2", "E3", "E4", "E5")]
    )
    await repo.insert_many(
        "contracts",
        [
            contract("K-E1", "E1", date(2024, 7, 11), date(2025, 7, 10)),  # needs action
            contract("K-E2", "E2", date(2024, 7, 21), date(2025, 7, 20), auto_renew=True),
            contract("K-E3", "E3", date(2024, 7, 16), date(2025, 7, 15)),
            contract("K-E3b", "E3", date(2025, 7, 16), date(2026, 7, 15)),  # follow-on
            contract("K-E4", "E4", date(2024, 8, 16), date(2025, 8, 15)),  # in 46 days
            contract("K-E5", "E5", date(2024, 6, 30), date(2025, 6, 29)),  # ended yesterday
        ],
    )


async def test_expire_check_lists_and_notifies(
    empty_url: str,
    empty_repo: PowertradeRepository,
    make_task: Callable[..., Any],
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    await seed_expiry_cases(empty_repo)
    url, received = webhook
    task: ContractExpireCheckTask = make_task(
        ContractExpireCheckTask, empty_url, alerts_enabled=True, alert_channels=[url]
    )

    result = await task.execute(as_of=AS_OF)

    assert result["success"] is True
    listed = {c["contract_id"]: c for c in result["data"]["contracts"]}
    assert set(listed) == {"K-E1", "K-E2", "K-E3"}
    assert listed["K-E1"]["days_left"] == 10
    assert listed["K-E2"]["auto_renew"] is True
    assert listed["K-E3"]["follow_on_contract"] == "K-E3b"
    assert result["statistics"] == {
        "expiring": 3,
        "auto_renew": 1,
        "needs_action": 1,
        "notified": True,
    }
    assert len(received) == 1
    assert received[0]["title"] == "合同到期提醒：3 份合同将在 30 天内到期"
    assert "K-E1 客户E1（E1） 到期 2025-07-10，剩余 10 天" in received[0]["message"]
    assert received[0]["type"] == "success"  # apprise's type for informational notices

    wider = await task.execute(as_of=AS_OF, within_days=60, notify=False)
    assert {c["contract_id"] for c in wider["data"]["contracts"]} == {
        "K-E1",
        "K-E2",
        "K-E3",
        "K-E4",
    }
    assert wider["data"]["notification"]["sent"] is False
    assert len(received) == 1


async def test_expire_check_without_channels_returns_the_list(
    sample_url: str, make_task: Callable[..., Any]
) -> None:
    result = await make_task(ContractExpireCheckTask, sample_url).execute(as_of=AS_OF)
    assert result["statistics"]["expiring"] >= 10
    assert result["statistics"]["notified"] is False
    assert "disabled" in result["data"]["notification"]["reason"]
    unset = await make_task(
        ContractExpireCheckTask,
        sample_url,
        alerts_enabled=True,
        alert_channels=["json://${POWERTRADE_TEST_UNSET_HOOK}/"],
    ).execute(as_of=AS_OF)
    assert "POWERTRADE_TEST_UNSET_HOOK" in unset["data"]["notification"]["reason"]
