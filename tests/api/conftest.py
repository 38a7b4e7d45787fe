"""API tests: a real uvicorn server on a free port, an httpx client per role.

One server per test module (``api`` fixture) on a fresh SQLite store; tokens for each
role are created in the store beforehand, the way ``schedkit token create`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedkit import TaskRegistry
from schedkit.api import create_app
from schedkit.models import ApiToken, new_id, utcnow
from schedkit.store import create_store
from schedkit.tokens import Role, create_token, hash_secret
from tests.api.server import LiveServer, fast_config
from tests.api.tasks import api_registry
from tests.pg_roles import NodeRole, current_store, node_role


async def _make_tokens(url: str, preset: Mapping[str, str]) -> dict[str, str]:
    """A token per role (``schedkit token create``'s way), plus tokens with ``preset``
    secrets (name -> secret, role admin) for tests that need the secret up front."""
    store = create_store(url)
    await store.open()
    try:
        secrets = {}
        for role in Role:
            issued = await create_token(store, name=f"{role.value}-bot", role=role, actor="test")
            secrets[role.value] = issued.secret
        for name, secret in preset.items():
            await store.put_token(
                ApiToken(
                    id=new_id(),
                    name=name,
                    role=Role.ADMIN.value,
                    token_hash=hash_secret(secret),
                    created_at=utcnow(),
                )
            )
            secrets[name] = secret
        return secrets
    finally:
        await store.close()


@dataclass
class Api:
    """A running server and a client for each role (``anon`` sends no token)."""

    server: LiveServer
    store_url: str
    secrets: dict[str, str]
    clients: dict[str, httpx.Client]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def viewer(self) -> httpx.Client:
        return self.clients["viewer"]

    @property
    def operator(self) -> httpx.Client:
        return self.clients["operator"]

    @property
    def admin(self) -> httpx.Client:
        return self.clients["admin"]

    @property
    def anon(self) -> httpx.Client:
        return self.clients["anon"]


PREFIX = "/api/v1/scheduler"


def open_api(
    store_url: str,
    preset: Mapping[str, str] | None = None,
    *,
    registry: TaskRegistry | None = None,
    grace: float = 2.0,
    **config: Any,
) -> Iterator[Api]:
    """A server on ``store_url`` (``config`` overrides the fast test config) with a
    client per role; ``grace``: how long stopping waits for open connections."""
    secrets = asyncio.run(_make_tokens(store_url, preset or {}))
    app = create_app(fast_config(store_url, **config), registry=registry or api_registry())
    with LiveServer(app, grace=grace) as server:
        base = server.url + PREFIX
        # X-Requested-With: what a client sends on a change without a body (see
        # schedkit.api.guards); bodies go as JSON.
        common = {"X-Requested-With": "tests"}
        clients = {
            role: httpx.Client(
                base_url=base,
                headers={**common, "Authorization": f"Bearer {secret}"},
                timeout=30,
            )
            for role, secret in secrets.items()
        }
        clients["anon"] = httpx.Client(base_url=base, headers=common, timeout=30)
        try:
            yield Api(server=server, store_url=store_url, secrets=secrets, clients=clients)
        finally:
            for client in clients.values():
                client.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("api") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}")


@pytest.fixture
def node() -> Iterator[NodeRole]:
    """A PostgreSQL database with the current store, and a node role of its own on it
    (tests/pg_roles.py): for tests of what a node may not do."""
    with node_role(current_store) as made:
        yield made
