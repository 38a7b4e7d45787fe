"""The notify channel over PostgreSQL ``LISTEN``/``NOTIFY`` on the store's database: one
extra connection per node, no other service to run.

The connection is made as the store's pool connections are (ssl, timeouts, schema from
the URL and options), named (``application_name``, what ``pg_stat_activity`` shows) after
the node, on the store's channel (:mod:`schedkit.broadcast.channels`). It reports its
loss (a server restart, ``pg_terminate_backend``) through the ``lost`` callback:
:class:`~schedkit.broadcast.Broadcast` then polls and reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from schedkit.broadcast.channels import postgres_channel
from schedkit.stopping import stop_time_left
from schedkit.store.sql.engine import PostgresRunner, create_runner
from schedkit.store.sql.options import SQLOptions
from schedkit.store.urls import mask_url


class PostgresTransport:
    def __init__(
        self,
        store_url: str,
        client_name: str = "schedkit-events",
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = f"PostgreSQL NOTIFY ({mask_url(store_url)})"
        options = SQLOptions.parse(store_options or {})
        runner = create_runner(store_url, options)
        assert isinstance(runner, PostgresRunner), "a PostgreSQL store URL"
        # The pool's arguments (ssl, timeouts, schema), under this connection's name.
        self._connect = runner.connect_args(client_name)
        self._table_prefix = options.table_prefix
        #: Known once connected: it depends on the connection's schema.
        self.channel = ""
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
            self.channel = postgres_channel(
                await conn.fetchval("SELECT current_schema()"), self._table_prefix
            )
            await conn.add_listener(self.channel, lambda *args: receive(args[-1]))
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
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                self.channel,
                list(payloads),
            )

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if self._on_closed is not None:
                conn.remove_termination_listener(self._on_closed)
            if conn.is_closed():
                return
            try:
                await conn.close(timeout=stop_time_left(5))
            except Exception:  # a broken connection: dropped without the goodbye
                conn.terminate()
