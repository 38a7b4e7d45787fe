"""The notify channel over Redis pub/sub (``cluster.redis_url``), for stores without one
of their own (SQLite on a shared disk, MongoDB) or to keep NOTIFY traffic off PostgreSQL.

The connections are named (``CLIENT SETNAME``, what ``CLIENT LIST`` shows) after the
node; the subscription's loss (a server restart, ``CLIENT KILL TYPE pubsub``) is
reported through the ``lost`` callback: :class:`~schedkit.broadcast.Broadcast` then
polls and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from schedkit.store.urls import mask_url


class RedisTransport:
    def __init__(
        self, url: str, client_name: str = "schedkit-events", channel: str = "schedkit:events"
    ) -> None:
        self.name = f"Redis pub/sub ({mask_url(url)})"
        self._url = url
        #: The store's (:mod:`schedkit.broadcast.channels`): pub/sub ignores db numbers.
        self.channel = channel
        # Redis client names may not contain spaces.
        self._client_name = client_name.replace(" ", "_")
        self._client: Any = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, receive: Callable[[str], None], lost: Callable[[str], None]) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.from_url(
            self._url, decode_responses=True, client_name=self._client_name
        )
        try:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self.channel)
        except BaseException:
            await self.close()
            raise
        self._task = asyncio.create_task(self._listen(receive, lost), name="schedkit-redis-events")

    async def _listen(self, receive: Callable[[str], None], lost: Callable[[str], None]) -> None:
        try:
            async for message in self._pubsub.listen():
                if message.get("type") == "message":
                    receive(message["data"])
        except Exception as exc:
            lost(f"{type(exc).__name__}: {exc}")
        else:
            lost("the subscription ended")

    async def send(self, payloads: Sequence[str]) -> None:
        for payload in payloads:  # a Redis message has no size limit: rarely several
            await self._client.publish(self.channel, payload)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
