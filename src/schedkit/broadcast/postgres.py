"""The notify channel over PostgreSQL ``LISTEN``/``NOTIFY`` on the store's database: one
extra connection per node, no other service to run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from schedkit.store.urls import mask_url

#: The channel name (channels are per database, so stores in other databases never meet).
CHANNEL = "schedkit_events"


class PostgresTransport:
    def __init__(self, store_url: str) -> None:
        self.name = f"PostgreSQL NOTIFY ({mask_url(store_url)})"
        url = sa.make_url(store_url)
        self._connect: dict[str, Any] = {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "database": url.database,
        }
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def open(self, receive: Callable[[str], None]) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self._conn = await asyncpg.connect(**self._connect)
        await self._conn.add_listener(CHANNEL, lambda *args: receive(args[-1]))

    async def send(self, payload: str) -> None:
        # One connection for both: asyncpg runs one query at a time on it.
        async with self._lock:
            await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close(timeout=5)
