"""schedkit.token_trust: a token the store verified is believed, for reads only, for
``api.token_cache`` seconds, and through a store outage for ``api.token_outage_grace``
seconds after its last verification. Real stores: SQLite for the cache, PostgreSQL
behind a TCP proxy that is cut for the outage."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from schedkit import tokens
from schedkit.errors import StoreUnavailableError
from schedkit.models import ApiToken
from schedkit.recent_outage import DOWN_FOR
from schedkit.store import Store, create_store
from schedkit.token_trust import LOOKUP_DEADLINE, TokenTrust
from schedkit.tokens import create_token, revoke_token
from tests.store.proxy import Proxy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_reads_reuse_a_recent_verification_writes_and_revocations_here_do_not(
    sqlite_url: str,
) -> None:
    clock = Clock()
    trust = TokenTrust(cache=5.0, outage_grace=900.0, clock=clock)
    async with create_store(sqlite_url) as store:
        issued = await create_token(store, name="grafana", role="viewer")
        token = await trust.verify(store, issued.secret, read_only=True)
        assert token is not None and token.name == "grafana"
        # Revoked elsewhere (another node, the CLI): reads here go on within the cache.
        await revoke_token(store, "grafana")
        clock.now += 4.9
        assert await trust.verify(store, issued.secret, read_only=True) == token
        # A write asks the store: refused at once.
        assert await trust.verify(store, issued.secret, read_only=False) is None
        # ... and the store's answer is kept: reads are refused too.
        assert await trust.verify(store, issued.secret, read_only=True) is None

        other = await create_token(store, name="other", role="viewer")
        assert await trust.verify(store, other.secret, read_only=True) is not None
        await revoke_token(store, "other")
        clock.now += 5.0
        assert await trust.verify(store, other.secret, read_only=True) is None

        # Revoked through this node: forgotten at once.
        third = await create_token(store, name="third", role="viewer")
        verified = await trust.verify(store, third.secret, read_only=True)
        assert verified is not None
        await revoke_token(store, "third")
        trust.forget(verified.id)
        assert await trust.verify(store, third.secret, read_only=True) is None


async def test_no_cache_asks_the_store_every_time(sqlite_url: str) -> None:
    trust = TokenTrust(cache=0.0, outage_grace=900.0, clock=Clock())
    async with create_store(sqlite_url) as store:
        issued = await create_token(store, name="grafana", role="viewer")
        assert await trust.verify(store, issued.secret, read_only=True) is not None
        await revoke_token(store, "grafana")
        assert await trust.verify(store, issued.secret, read_only=True) is None


def through(proxy: Proxy, url: str) -> str:
    parts = urlsplit(url)
    login = f"{parts.username}:{parts.password}@" if parts.password else ""
    return urlunsplit(parts._replace(netloc=f"{login}127.0.0.1:{proxy.port}"))


@pytest.mark.external_service
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_an_outage_lets_verified_tokens_read_within_the_grace_only(
    store_url: str, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    trust = TokenTrust(cache=5.0, outage_grace=900.0, clock=clock)
    async with create_store(store_url) as direct:
        scraper = await create_token(direct, name="prometheus", role="viewer")
        unseen = await create_token(direct, name="unseen", role="viewer")
    async with create_store(through(proxy, store_url), connect_timeout=2.0) as store:
        token = await trust.verify(store, scraper.secret, read_only=True)
        assert token is not None
        await proxy.cut()
        clock.now += 60
        caplog.set_level(logging.WARNING, logger="schedkit.token_trust")
        for _ in range(2):
            assert await trust.verify(store, scraper.secret, read_only=True) == token
        said = [r.getMessage() for r in caplog.records if r.name == "schedkit.token_trust"]
        assert len(said) == 1, said  # once per token and outage
        assert "'prometheus', verified 60 s ago" in said[0]
        assert "at most 840 s more (api.token_outage_grace)" in said[0]
        with pytest.raises(StoreUnavailableError):
            await trust.verify(store, scraper.secret, read_only=False)
        with pytest.raises(StoreUnavailableError):
            await trust.verify(store, unseen.secret, read_only=True)
        # The grace counts from the store's last verification, not from the last read.
        clock.now += 840
        with pytest.raises(StoreUnavailableError):
            await trust.verify(store, scraper.secret, read_only=True)

        await proxy.start()
        for _ in range(50):  # the pool's connections of before the cut fail first
            try:
                again = await trust.verify(store, scraper.secret, read_only=True)
                assert again is not None and again.id == token.id
                break
            except StoreUnavailableError:
                clock.now += 1
        else:
            pytest.fail("the store did not answer again")


async def test_a_lookup_in_flight_when_its_token_is_revoked_here_is_not_believed(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-audit: the store answered "live" to a lookup begun before the revocation through
    this node; kept after ``forget()``, that answer admitted the revoked token's reads for
    the cache, and through an outage for the grace."""
    trust = TokenTrust(cache=5.0, outage_grace=900.0, clock=Clock())
    store_lookup = tokens.verify_token
    answered = asyncio.Event()
    delivered = asyncio.Event()

    async def slow(store: Store, secret: str) -> ApiToken | None:
        found = await store_lookup(store, secret)
        answered.set()
        await delivered.wait()  # the answer travels back slowly
        return found

    async with create_store(sqlite_url) as store:
        issued = await create_token(store, name="grafana", role="viewer")
        monkeypatch.setattr(tokens, "verify_token", slow)
        in_flight = asyncio.create_task(trust.verify(store, issued.secret, read_only=True))
        await answered.wait()
        revoked = await revoke_token(store, "grafana")
        trust.forget(revoked.id)
        delivered.set()
        assert await in_flight is None
        monkeypatch.setattr(tokens, "verify_token", store_lookup)
        assert await trust.verify(store, issued.secret, read_only=True) is None


async def test_a_token_s_repr_holds_no_hash_of_its_secret(sqlite_url: str) -> None:
    async with create_store(sqlite_url) as store:
        issued = await create_token(store, name="grafana", role="viewer")
    assert issued.token.token_hash not in repr(issued.token)
    assert issued.secret not in repr(issued)
    assert "grafana" in repr(issued)


@pytest.mark.external_service
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_a_store_that_hangs_is_waited_for_briefly_then_not_until_it_may_answer(
    store_url: str, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-audit: with the store's packets dropped (nothing refuses), a read with a token
    in its grace waited for the driver's timeouts (20 to 72 s) before the grace let it
    through, and every following read waited as long again."""
    clock = Clock()
    trust = TokenTrust(cache=5.0, outage_grace=900.0, clock=clock)
    async with create_store(store_url) as direct:
        scraper = await create_token(direct, name="prometheus", role="viewer")
    async with create_store(through(proxy, store_url), connect_timeout=2.0) as store:
        token = await trust.verify(store, scraper.secret, read_only=True)
        assert token is not None
        proxy.held = True
        caplog.set_level(logging.WARNING, logger="schedkit.token_trust")
        clock.now += 60
        # Asked (the deadline, then up to 2 s while the driver closes the connection);
        # not asked while the finding holds; asked again once it no longer holds.
        for ask, most, then in ((True, 4.5, 0.0), (False, 0.1, DOWN_FOR), (True, 4.5, 0.0)):
            began = time.monotonic()
            assert await trust.verify(store, scraper.secret, read_only=True) == token
            took = time.monotonic() - began
            assert took < most, f"{took:.1f} s"
            assert (took >= LOOKUP_DEADLINE) is ask, f"{took:.1f} s"
            clock.now += then
        said = [r.getMessage() for r in caplog.records if r.name == "schedkit.token_trust"]
        assert len(said) == 1, said
        assert "(no answer to a token lookup in 2 s): API token 'prometheus'" in said[0]

        # The store answers again: the next read past the cache asks it (revoked
        # meanwhile on another node: refused).
        await proxy.cut()
        proxy.held = False
        await proxy.start()
        async with create_store(store_url) as direct:
            await revoke_token(direct, "prometheus")
        for _ in range(50):  # the pool's connections of before the cut fail first
            try:
                assert await trust.verify(store, scraper.secret, read_only=False) is None
                break
            except StoreUnavailableError:
                pass
        else:
            pytest.fail("the store did not answer again")
        assert trust.outage.why is None
        assert await trust.verify(store, scraper.secret, read_only=True) is None
