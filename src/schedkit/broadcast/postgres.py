"""The notify channel over PostgreSQL ``LISTEN``/``NOTIFY`` on the store's database: one
extra connection per node, no other service to run.

The connection is named (``application_name``, what ``pg_stat_activity`` shows) after
the node, and reports its loss (a server restart, ``pg_terminate_backend``) through the
``lost`` callback: :class:`~schedkit.broadcast.Broadcast` then polls and reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from schedkit.store.urls import mask_url

#: The channel name (channels are per database, so stores in other databases never meet).
CHANNEL = "schedkit_events"
#: PostgreSQL's limit on ``application_name`` (longer names are cut by the server).
MAX_APPLICATION_NAME = 63


class PostgresTransport:
    def __init__(self, store_url: str, client_name: str = "schedkit-events") -> None:
        self.name = f"PostgreSQL NOTIFY ({mask_url(store_url)})"
        url = sa.make_url(store_url)
        self._connect: dict[str, Any] = {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "database": url.database,
            "server_settings": {"application_name": client_name[:MAX_APPLICATION_NAME]},
        }
        self._conn: Any = None
        self._on_closed: Callable[[Any], None] | None = None
        self._lock = asyncio.Lock()

    async def open(self, receive: Callable[[str], None], lost: Callable[[str], None]) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(**self._connect)

        def on_closed(_conn: Any) -> None:
            lost("the connection was closed")

        # Called when the connection ends for any reason but close() below, which
        # removes it first.
        conn.add_termination_listener(on_closed)
        self._conn, self._on_closed = conn, on_closed
        try:
            await conn.add_listener(CHANNEL, lambda *args: receive(args[-1]))
        except BaseException:
            await self.close()
            raise

    async def send(self, payloads: Sequence[str]) -> None:
        if not payloads:
            return
        # One connection for both: asyncpg runs one query at a time on it. A
        # notification holds under 8,000 bytes, so a busy node sends several per round
        # trip (unnest keeps their order).
        async with self._lock:
            await self._conn.execute(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, list(payloads)
            )

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if self._on_closed is not None:
                conn.remove_termination_listener(self._on_closed)
            if conn.is_closed():
                return
            try:
                await conn.close(timeout=5)
            except Exception:  # a broken connection: dropped without the goodbye
                conn.terminate()
