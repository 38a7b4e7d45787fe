"""Each store has a channel of its own: two stores in one PostgreSQL database (two table
prefixes, two schemas) or two apps on one Redis server (two db numbers, two stores on
one db) never hear each other's events, and the nodes of one store still do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from schedkit import SchedkitConfig
from schedkit.broadcast import Transport, transport_for
from tests.conftest import REDIS_VAR, service_url

pytestmark = pytest.mark.external_service


def config(store_url: str, redis_url: str | None = None, **options: Any) -> SchedkitConfig:
    cluster = {"redis_url": redis_url} if redis_url else {}
    return SchedkitConfig(
        store_url=store_url,
        store_options=options,
        cluster=cluster,  # type: ignore[arg-type]
        entry_points=False,
    )


class Ear:
    """A transport opened on a channel, with what it heard."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.heard: list[str] = []

    async def open(self) -> Ear:
        await self.transport.open(self.heard.append, lambda _: None)
        return self


@pytest.fixture
async def ears() -> AsyncIterator[Callable[[SchedkitConfig], Any]]:
    opened: list[Ear] = []

    async def ear(cfg: SchedkitConfig) -> Ear:
        transport = transport_for(cfg, "test")
        assert transport is not None
        opened.append(await Ear(transport).open())
        return opened[-1]

    yield ear
    for e in opened:
        await e.transport.close()


async def heard_only_by_its_own(sender: Ear, same: Ear, others: list[Ear]) -> None:
    message = json.dumps({"n": f"sender-{id(sender)}", "p": "hello"})
    await sender.transport.send([message])
    for _ in range(200):
        if message in same.heard:
            break
        await asyncio.sleep(0.01)
    assert message in same.heard  # the nodes of one store hear each other
    await asyncio.sleep(0.2)  # time for a stray message to arrive
    assert [message in e.heard for e in others] == [False for _ in others]


async def _create_schema(store_url: str, name: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(store_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_two_postgres_stores_in_one_database_have_two_channels(
    store_url: str, ears: Callable[[SchedkitConfig], Any]
) -> None:
    await _create_schema(store_url, "app_a")
    default = config(store_url)
    prefixed = config(store_url, table_prefix="other_")
    in_schema = config(store_url, schema="app_a")
    long_name = config(store_url, schema="s" * 40, table_prefix="p" * 30)
    await _create_schema(store_url, "s" * 40)
    a, a2 = await ears(default), await ears(default)
    b, b2 = await ears(prefixed), await ears(prefixed)
    c, c2 = await ears(in_schema), await ears(in_schema)
    d, d2 = await ears(long_name), await ears(long_name)
    await heard_only_by_its_own(a, a2, [b, b2, c, c2, d, d2])
    await heard_only_by_its_own(b, b2, [a, a2, c, c2, d, d2])
    await heard_only_by_its_own(c, c2, [a, a2, b, b2, d, d2])
    await heard_only_by_its_own(d, d2, [a, a2, b, b2, c, c2])
    # The default store keeps the previous release's channel (rolling upgrades).
    assert a.transport.channel == "schedkit_events"  # type: ignore[attr-defined]
    assert len(d.transport.channel.encode()) <= 63  # type: ignore[attr-defined]


async def test_two_apps_on_one_redis_server_have_two_channels(
    tmp_path: Any, ears: Callable[[SchedkitConfig], Any]
) -> None:
    redis = service_url(REDIS_VAR)
    other_db = urlunsplit(urlsplit(redis)._replace(path="/11"))
    store = f"sqlite:///{tmp_path / 'a.db'}"
    db0 = config(store, redis)
    db11 = config(store, other_db)
    other_store = config(f"sqlite:///{tmp_path / 'b.db'}", redis)
    other_prefix = config(store, redis, table_prefix="b_")
    a, a2 = await ears(db0), await ears(db0)
    b = await ears(db11)
    c = await ears(other_store)
    d = await ears(other_prefix)
    await heard_only_by_its_own(a, a2, [b, c, d])
