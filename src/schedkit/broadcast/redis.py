"""The notify channel over Redis pub/sub (``cluster.redis_url``), for stores without one
of their own (SQLite on a shared disk, MongoDB) or to keep NOTIFY traffic off PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from schedkit.store.urls import mask_url

CHANNEL = "schedkit:events"


class RedisTransport:
    def __init__(self, url: str) -> None:
        self.name = f"Redis pub/sub ({mask_url(url)})"
        self._url = url
        self._client: Any = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, receive: Callable[[str], None]) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.from_url(self._url, decode_responses=True)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(CHANNEL)
        self._task = asyncio.create_task(self._listen(receive), name="schedkit-redis-events")

    async def _listen(self, receive: Callable[[str], None]) -> None:
        async for message in self._pubsub.listen():
            if message.get("type") == "message":
                receive(message["data"])

    async def send(self, payload: str) -> None:
        await self._client.publish(CHANNEL, payload)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()
