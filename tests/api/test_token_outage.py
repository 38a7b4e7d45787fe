"""API tokens through a store outage (schedkit.token_trust, docs/api.md).

An audit: a node whose PostgreSQL went away answered ``/metrics`` 503 to a scraper with a
viewer token (as deployment.md's checklist says to scrape) for the whole outage, since
every request looked its token up in the store; the documented "no leader" alert got no
data. Real PostgreSQL behind a TCP proxy that is cut, then opened again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from schedkit.api import create_app
from schedkit.recent_outage import DOWN_FOR
from schedkit.store import create_store
from schedkit.tokens import create_token, revoke_token
from tests.api.server import LiveServer, fast_config
from tests.api.tasks import api_registry
from tests.store.proxy import Proxy

pytestmark = [
    pytest.mark.external_service,
    pytest.mark.parametrize("store_url", ["postgres"], indirect=True),
]

PREFIX = "/api/v1/scheduler"


def through(proxy: Proxy, url: str) -> str:
    parts = urlsplit(url)
    login = f"{parts.username}:{parts.password}@" if parts.password else ""
    return urlunsplit(parts._replace(netloc=f"{login}127.0.0.1:{proxy.port}"))


async def until(check, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_reads_with_a_verified_token_go_on_through_an_outage_writes_do_not(
    store_url: str, proxy: Proxy
) -> None:
    async with create_store(store_url) as store:
        viewer = (await create_token(store, name="prometheus", role="viewer")).secret
        leaving = (await create_token(store, name="leaving", role="viewer")).secret
        operator = (await create_token(store, name="ops", role="operator")).secret
        unseen = (await create_token(store, name="unseen", role="viewer")).secret
    # A short cache: the requests in the outage are past it, so only the grace admits them.
    config = fast_config(
        through(proxy, store_url),
        api={"token_cache": 0.2},
        store_options={"connect_timeout": 2.0},
    )
    server = LiveServer(create_app(config, registry=api_registry()))
    await asyncio.to_thread(server.__enter__)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

            def bearer(secret: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {secret}", "X-Requested-With": "tests"}

            async def metrics(secret: str | None) -> httpx.Response:
                return await client.get("/metrics", headers=bearer(secret) if secret else {})

            for secret in (viewer, leaving, operator):
                assert (await metrics(secret)).status_code == 200

            await proxy.cut()
            # Another node, which still reaches the store, revokes one of them.
            async with create_store(store_url) as store:
                await revoke_token(store, "leaving")
            await asyncio.sleep(0.3)

            scraped = await metrics(viewer)
            assert scraped.status_code == 200, scraped.text
            assert "schedkit_scheduler_is_leader" in scraped.text
            # What the node cannot know without its store: documented, bounded.
            assert (await metrics(leaving)).status_code == 200
            ready = await client.get(PREFIX + "/ready", headers=bearer(viewer))
            assert ready.status_code == 503
            assert ready.json()["type"] == "urn:schedkit:problem:store-unavailable"
            # Nobody new gets in: no token, or one the store never verified here.
            assert (await metrics(None)).status_code == 401
            refused = await metrics(unseen)
            assert refused.status_code == 503, refused.text
            assert refused.json()["type"] == "urn:schedkit:problem:store-unavailable"
            # A write asks the store, whatever the token: a clean 503, nothing done.
            run = await client.post(PREFIX + "/tasks/boom/execute", headers=bearer(operator))
            assert run.status_code == 503, run.text
            assert run.headers["content-type"] == "application/problem+json"
            assert run.json()["type"] == "urn:schedkit:problem:store-unavailable"

            await proxy.start()

            async def store_answers() -> bool:
                return (await client.get(PREFIX + "/ready")).status_code == 200

            await until(store_answers, "the store to answer again")
            gone = await metrics(leaving)
            assert gone.status_code == 401, gone.text
            assert (await metrics(viewer)).status_code == 200
            assert (await metrics(unseen)).status_code == 200
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


async def test_a_scrape_with_a_verified_token_answers_in_time_while_the_store_hangs(
    store_url: str, proxy: Proxy
) -> None:
    """Re-audit: with the store's packets dropped (a firewall, a partition: nothing
    refuses), the grace applied only once the lookup had failed, after the driver's
    timeouts: the first scrape took 72 s, the next ones 20 s, and a scraper's 10 s
    timeout failed every scrape of the partition."""
    async with create_store(store_url) as store:
        viewer = (await create_token(store, name="prometheus", role="viewer")).secret
    config = fast_config(through(proxy, store_url), api={"token_cache": 0.2})
    server = LiveServer(create_app(config, registry=api_registry()))
    await asyncio.to_thread(server.__enter__)
    try:
        headers = {"Authorization": f"Bearer {viewer}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            assert (await client.get("/metrics", headers=headers)).status_code == 200
            proxy.held = True
            await asyncio.sleep(0.3)  # past the cache: only the grace admits the scrapes
            # Scrapes 1.1 s apart (past the metrics' sample age), the last one past the
            # time a finding that the store hangs holds (recent_outage.DOWN_FOR).
            for pause in (1.1, 1.1, DOWN_FOR):
                began = time.monotonic()
                scraped = await client.get("/metrics", headers=headers)
                took = time.monotonic() - began
                assert scraped.status_code == 200, scraped.text
                assert "schedkit_scheduler_is_leader" in scraped.text
                # Under Prometheus' default scrape_timeout (10 s): the token's lookup
                # waits 2 s, its connection's closing up to 2 s more.
                assert took < 7, f"a scrape took {took:.1f} s"
                await asyncio.sleep(pause)
            # The partition ends with its connections reset: those held wait for answers
            # that were dropped, until command_timeout (60 s).
            await proxy.cut()
            proxy.held = False
            await proxy.start()
            await until(lambda: _ok(client.get(PREFIX + "/ready")), "the store to answer again")
            assert (await client.get("/metrics", headers=headers)).status_code == 200
    finally:
        if proxy.held:
            await proxy.cut()  # the node's stop ends at once, not after command_timeout
        await asyncio.to_thread(server.__exit__, None, None, None)


async def _ok(response: Awaitable[httpx.Response]) -> bool:
    return (await response).status_code == 200
