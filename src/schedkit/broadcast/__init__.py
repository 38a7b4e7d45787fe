"""Run events and wake-ups shared by the nodes of one store, through a notify channel.

Each node sends what it publishes on its own event bus (a slim copy of each run: no
kwargs, result or tracebacks) and a wake-up when runs became claimable; the others put
those events on their bus for live views only (the API's event stream), never for their
listeners (metrics and alerts count what each node observed), and wake their executors.
So a console connected to any node shows runs executing on every node, and a run created
on one node starts on another without waiting for its poll.

Channels: PostgreSQL ``LISTEN``/``NOTIFY`` on the store's own database, or Redis pub/sub
(``cluster.redis_url``); without either, nodes fall back to their store polls
(:mod:`schedkit.broadcast.poll` for live views). Sending never blocks a run: messages
queue in memory and go out in batches, one at a time, as fast as the channel takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import TypeAdapter

from schedkit.config import SchedkitConfig
from schedkit.engine.executor import Executor
from schedkit.errors import ConfigError
from schedkit.events import EventBus, RunEvent
from schedkit.models import to_json
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

#: Largest message sent (PostgreSQL's NOTIFY payload limit is 8000 bytes).
MAX_PAYLOAD = 7800
#: Events waiting to be sent at most; past it the oldest are dropped (live views only).
MAX_QUEUED = 10_000
#: Longest error message carried in an event (the full one is in the store).
MAX_MESSAGE = 300

_EVENT = TypeAdapter(RunEvent)


class Transport(Protocol):
    """A publish/subscribe channel shared by the nodes."""

    name: str

    async def open(self, receive: Callable[[str], None]) -> None:
        """Connect and call ``receive`` with every message sent by any node."""

    async def send(self, payload: str) -> None: ...

    async def close(self) -> None: ...


def transport_for(config: SchedkitConfig) -> Transport | None:
    """The channel ``cluster.notify`` names (``auto``: Redis if ``cluster.redis_url`` is
    set, else PostgreSQL if the store is PostgreSQL, else none)."""
    mode = config.cluster.notify
    if mode == "none":
        return None
    if mode == "redis" or (mode == "auto" and config.cluster.redis_url):
        from schedkit.broadcast.redis import RedisTransport

        return RedisTransport(config.cluster.redis_url or "redis://127.0.0.1:6379/0")
    if config.store_url.startswith("postgresql"):
        from schedkit.broadcast.postgres import PostgresTransport

        return PostgresTransport(config.store_url)
    if mode == "postgres":
        raise ConfigError("cluster.notify = 'postgres' needs a PostgreSQL store_url")
    return None


async def attach(
    stack: contextlib.AsyncExitStack,
    config: SchedkitConfig,
    store: Store,
    events: EventBus,
    executor: Executor,
) -> None:
    """Connect this node to the others for the life of ``stack``: the notify channel, or
    the store poll when there is none (or it cannot be reached: a warning, not an error,
    since every node still finds its runs by polling)."""
    node_id = executor.node_id
    transport = transport_for(config)
    if transport is not None:
        shared = Broadcast(
            transport=transport, events=events, node_id=node_id, wake=executor.wake_here
        )
        try:
            await shared.start()
        except Exception as exc:
            logger.warning("no notify channel (%s): %s; polling the store", transport.name, exc)
            with contextlib.suppress(Exception):
                await transport.close()
        else:
            executor.announce = shared.announce_wake
            stack.push_async_callback(shared.stop)
            return
    from schedkit.broadcast.poll import StorePoll

    poll = StorePoll(
        store=store, events=events, node_id=node_id, interval=config.cluster.poll_interval
    )
    await poll.start()
    stack.push_async_callback(poll.stop)


def slim(event: RunEvent) -> dict[str, Any]:
    """The event as sent: the run without kwargs, result, tracebacks or attempt records."""
    error = event.run.error
    if error is not None:
        error = {"type": error.get("type"), "message": str(error.get("message", ""))[:MAX_MESSAGE]}
    run = dataclasses.replace(event.run, kwargs={}, result=None, error=error, attempt_errors=[])
    return {"kind": event.kind, "run": to_json(run), "at": event.at.isoformat()}


class Broadcast:
    """This node's side of the channel: sends its events and wake-ups, receives the
    others'."""

    def __init__(
        self, *, transport: Transport, events: EventBus, node_id: str, wake: Callable[[], None]
    ) -> None:
        self.transport = transport
        self.events = events
        self.node_id = node_id
        self._wake = wake
        self._queue: list[dict[str, Any]] = []
        self._wake_pending = False
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._remove: Callable[[], None] | None = None

    async def start(self) -> None:
        await self.transport.open(self._receive)
        self._remove = self.events.add_listener(self._on_event)
        self._task = asyncio.create_task(self._send_loop(), name="schedkit-broadcast")
        logger.info("node events shared through %s", self.transport.name)

    async def stop(self) -> None:
        if self._remove is not None:
            self._remove()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # The last runs' ends (this node stops after its executor): best effort.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                for payload in self._payloads():
                    await self.transport.send(payload)
        await self.transport.close()

    def announce_wake(self) -> None:
        """Runs became claimable: other nodes should claim now."""
        self._wake_pending = True
        self._kick.set()

    def _on_event(self, event: RunEvent) -> None:
        if len(self._queue) >= MAX_QUEUED:
            del self._queue[0]
        self._queue.append(slim(event))
        self._kick.set()

    async def _send_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            for payload in self._payloads():
                try:
                    await self.transport.send(payload)
                except Exception as exc:  # a channel outage loses live updates only
                    logger.warning(
                        "sending node events through %s failed: %s", self.transport.name, exc
                    )

    def _payloads(self) -> list[str]:
        """What is queued as messages under :data:`MAX_PAYLOAD` (wake-up in the first)."""
        events, self._queue = self._queue, []
        wake, self._wake_pending = self._wake_pending, False
        payloads: list[str] = []
        batch: list[str] = []
        size = 0
        for event in events:
            text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            length = len(text.encode()) + 1
            if length > MAX_PAYLOAD - 100:
                continue  # a huge progress note: left to the store
            if batch and size + length > MAX_PAYLOAD - 100:
                payloads.append(self._message(batch, wake and not payloads))
                batch, size = [], 0
            batch.append(text)
            size += length
        if batch or (wake and not payloads):
            payloads.append(self._message(batch, wake and not payloads))
        return payloads

    def _message(self, events: list[str], wake: bool) -> str:
        head = json.dumps({"n": self.node_id, "w": wake})
        return head[:-1] + ',"e":[' + ",".join(events) + "]}"

    def _receive(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("n") == self.node_id:
                return
            if message.get("w"):
                self._wake()
            for data in message.get("e", ()):
                self.events.publish_remote(_EVENT.validate_python(data))
        except Exception as exc:  # a message of another version: skipped, said once per kind
            logger.debug("node event message skipped: %s", exc)
