"""A PostgreSQL database whose tables belong to the test's (owner) user, and a role of
its own for the node: the owner/runtime split of docs/deployment.md, made and dropped
per test."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from schedkit.store import create_store
from tests.conftest import POSTGRES_VAR, _postgres_database, _with_path, service_url


@dataclass(frozen=True)
class NodeRole:
    owner_url: str
    #: The same database, as the node's role.
    url: str
    role: str

    def sql(self, *statements: str) -> None:
        """Run ``statements`` as the owner."""
        asyncio.run(sql(self.owner_url, *statements))


async def sql(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def node_role(make_store: Callable[[str], Awaitable[object]]) -> Iterator[NodeRole]:
    """A new database where ``make_store(owner_url)`` makes the store, and a role with
    what a node needs on every table: SELECT, INSERT, UPDATE, DELETE (it owns nothing)."""
    base = service_url(POSTGRES_VAR)
    name = f"schedkit_test_{uuid.uuid4().hex[:12]}"
    role = f"schedkit_node_{uuid.uuid4().hex[:8]}"
    asyncio.run(_postgres_database(base, name, create=True))
    owner = _with_path(base, f"/{name}")
    parts = urlsplit(owner)
    node = urlunsplit(parts._replace(netloc=f"{role}:node@{parts.hostname}:{parts.port}"))
    try:
        asyncio.run(make_store(owner))
        asyncio.run(
            sql(
                owner,
                f"CREATE ROLE {role} LOGIN PASSWORD 'node'",
                f'GRANT CONNECT ON DATABASE "{name}" TO {role}',
                f"GRANT USAGE ON SCHEMA public TO {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            )
        )
        yield NodeRole(owner_url=owner, url=node, role=role)
    finally:
        asyncio.run(_postgres_database(base, name, create=False))
        asyncio.run(sql(base, f"DROP ROLE IF EXISTS {role}"))


async def current_store(owner_url: str) -> None:
    """The store of this version, made by the owner."""
    store = create_store(owner_url)
    await store.open()
    await store.close()


def until(what: Callable[[], bool], timeout: float, why: str) -> None:
    """Poll ``what`` every 0.1 s until true; fail with ``why`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.1)
