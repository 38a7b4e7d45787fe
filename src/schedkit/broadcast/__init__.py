"""Run events and wake-ups shared by the nodes of one store, through a notify channel.

Each node sends what it publishes on its own event bus (a slim copy of each run: no
kwargs, result or tracebacks) and a wake-up when runs became claimable; the others put
those events on their bus for live views only (the API's event stream), never for their
listeners (metrics and alerts count what each node observed), and wake their executors.
So a console connected to any node shows runs executing on every node, and a run created
on one node starts on another without waiting for its poll.

Channels: PostgreSQL ``LISTEN``/``NOTIFY`` on the store's own database, or Redis pub/sub
(``cluster.redis_url``), on a channel of the store's own
(:mod:`schedkit.broadcast.channels`); without either, nodes fall back to their store polls
(:mod:`schedkit.broadcast.poll` for live views). Sending never blocks a run: messages
queue in memory and go out in batches, one at a time, as fast as the channel takes them.

A node sends only while it knows another node listens, since the channel costs CPU on
both ends (a sixth of a run's on PostgreSQL, where a node hears its own messages too).
Nodes say who they are: a ``hello`` on connecting, which every listening node answers
with a ``here``, a ``here`` every :data:`PRESENCE_INTERVAL` seconds, and a ``bye`` on
stopping. Where the store lists other live nodes, starting waits (briefly) for the first
answer, so that the others send to this node once it has started. A peer silent for
:data:`PEER_EXPIRY` seconds (one that was killed) is forgotten. A node alone therefore
sends nothing but its presence.

A channel whose connection drops (a server restart, the connection killed) is not fatal:
the node logs one warning, polls the store for live views meanwhile (its executor polls
for runs anyway), reconnects with a capped backoff, logs when it is back, and then wakes
its executor and the other nodes, since wake-ups sent during the outage were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import TypeAdapter
from pydantic_core import to_json

from schedkit.config import SchedkitConfig
from schedkit.engine.executor import Executor
from schedkit.errors import ConfigError
from schedkit.events import EventBus, RunEvent
from schedkit.stopping import cancel_and_wait, stop_time_left, wait_for
from schedkit.store.base import Store

logger = logging.getLogger(__name__)

#: Largest message sent (PostgreSQL's NOTIFY payload limit is 8000 bytes).
MAX_PAYLOAD = 7800
#: Events waiting to be sent at most; past it the oldest are dropped (live views only).
MAX_QUEUED = 10_000
#: Longest error message carried in an event (the full one is in the store).
MAX_MESSAGE = 300
#: Seconds before the first reconnection attempt after a channel was lost; doubled after
#: each failed attempt, up to RECONNECT_MAX.
RECONNECT_FIRST = 0.2
RECONNECT_MAX = 10.0
#: Seconds between a node's ``here`` messages.
PRESENCE_INTERVAL = 10.0
#: A peer not heard from for this long is taken to be gone (it was killed: one that
#: stops says ``bye``).
PEER_EXPIRY = 3.5 * PRESENCE_INTERVAL
#: Seconds a starting node waits for the first answer to its ``hello``.
HELLO_WAIT = 0.25
#: What a presence message (``"p"``) says.
HELLO, HERE, BYE = "hello", "here", "bye"

_EVENT = TypeAdapter(RunEvent)


class Transport(Protocol):
    """A publish/subscribe channel shared by the nodes."""

    name: str

    async def open(self, receive: Callable[[str], None], lost: Callable[[str], None]) -> None:
        """Connect and call ``receive`` with every message sent by any node; call
        ``lost`` (with the reason) if the connection drops afterwards. After a loss the
        caller closes the transport and may open it again."""

    async def send(self, payloads: Sequence[str]) -> None:
        """Send messages, in order, in one round trip."""

    async def close(self) -> None: ...


class Fallback(Protocol):
    """What runs while the channel is down (the store poll for live views)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def client_name(node_id: str) -> str:
    """The name of a node's channel connection on the server (``pg_stat_activity``'s
    ``application_name``, Redis ``CLIENT LIST``): which node a connection is."""
    return f"schedkit-events-{node_id}"


def transport_for(config: SchedkitConfig, node_id: str = "") -> Transport | None:
    """The channel ``cluster.notify`` names (``auto``: Redis if ``cluster.redis_url`` is
    set, else PostgreSQL if the store is PostgreSQL, else none)."""
    mode = config.cluster.notify
    if mode == "none":
        return None
    name = client_name(node_id)
    if mode == "redis" or (mode == "auto" and config.cluster.redis_url):
        from schedkit.broadcast.channels import redis_channel
        from schedkit.broadcast.redis import RedisTransport

        url = config.cluster.redis_url or "redis://127.0.0.1:6379/0"
        channel = redis_channel(url, config.store_url, config.store_options)
        return RedisTransport(url, name, channel)
    if config.store_url.startswith("postgresql"):
        from schedkit.broadcast.postgres import PostgresTransport

        return PostgresTransport(config.store_url, name, config.store_options)
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
    the store poll when there is none. A channel that cannot be reached (now or later) is
    a warning, not an error, since every node still finds its runs by polling: the node
    polls the store until it connects."""
    from schedkit.broadcast.poll import StorePoll

    node_id = executor.node_id

    def store_poll() -> StorePoll:
        return StorePoll(
            store=store, events=events, node_id=node_id, interval=config.cluster.poll_interval
        )

    transport = transport_for(config, node_id)
    if transport is not None:
        others = await _live_nodes(store, config, exclude=node_id)
        shared = Broadcast(
            transport=transport,
            events=events,
            node_id=node_id,
            wake=executor.wake_here,
            fallback=store_poll,
        )
        await shared.start(expect_peers=others > 0)
        executor.announce = shared.announce_wake
        stack.push_async_callback(shared.stop)
        return
    poll = store_poll()
    await poll.start()
    stack.push_async_callback(poll.stop)


async def _live_nodes(store: Store, config: SchedkitConfig, *, exclude: str) -> int:
    """How many other nodes the store lists as beating (API-only processes and CLI
    commands are not listed; they learn of a starting node from its hello)."""
    since = datetime.now(UTC) - timedelta(seconds=config.scheduler.lost_after)
    return sum(n.id != exclude and n.heartbeat_at >= since for n in await store.list_nodes())


#: Run fields sent emptied (or, the error, cut short): they can be large.
_HEAVY = {"kwargs", "result", "error", "attempt_errors"}


def slim(event: RunEvent) -> str:
    """The event as sent (JSON): the run without kwargs, result, tracebacks or attempt
    records. Twice per run, so written by pydantic-core in one step, the heavy fields
    left out of it and appended emptied (a copy and ``json.dumps`` cost 2.5 times as
    much)."""
    error = event.run.error
    if error is not None:
        error = {"type": error.get("type"), "message": str(error.get("message", ""))[:MAX_MESSAGE]}
    run = to_json(event.run, exclude=_HEAVY).decode()[:-1]  # the object, still open
    emptied = f',"kwargs":{{}},"result":null,"attempt_errors":[],"error":{_text(error)}}}'
    return f'{{"kind":"{event.kind.value}","at":"{event.at.isoformat()}","run":{run}{emptied}}}'


def _text(value: object) -> str:
    return to_json(value).decode()


class Broadcast:
    """This node's side of the channel: sends its events and wake-ups, receives the
    others'."""

    def __init__(
        self,
        *,
        transport: Transport,
        events: EventBus,
        node_id: str,
        wake: Callable[[], None],
        fallback: Callable[[], Fallback] | None = None,
        hello_wait: float = HELLO_WAIT,
    ) -> None:
        self.transport = transport
        self.events = events
        self.node_id = node_id
        self._wake = wake
        #: Made and started while the channel is down, stopped when it is back.
        self._make_fallback = fallback
        self._queue: list[str] = []
        self._wake_pending = False
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._remove: Callable[[], None] | None = None
        #: Whether the channel is down (a reconnection is in progress).
        self._down = False
        self._reconnects: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._own = json.dumps({"n": node_id})[:-1] + ","
        #: The other nodes heard from, with when (loop time): sending waits for one.
        self._peers: dict[str, float] = {}
        #: The presence message to send next, if any.
        self._presence: str | None = None
        self._presence_at = 0.0
        self._hello_wait = hello_wait
        self._answered = asyncio.Event()

    @property
    def connected(self) -> bool:
        return not self._down

    async def start(self, *, expect_peers: bool = True) -> None:
        """Connect, or (the channel cannot be reached) poll and keep trying.
        ``expect_peers``: wait up to ``hello_wait`` for another node to answer."""
        self._remove = self.events.add_listener(self._on_event)
        self._task = asyncio.create_task(self._send_loop(), name="schedkit-broadcast")
        try:
            await self.transport.open(self._receive, self._lost)
        except Exception as exc:
            self._lost(f"cannot connect: {type(exc).__name__}: {exc}")
            return
        logger.info("node events shared through %s", self.transport.name)
        self._say(HELLO)
        if expect_peers:
            # The nodes already listening answer once they know this one: from then on
            # they send to it. None answering within the wait: this node is alone.
            with contextlib.suppress(TimeoutError):
                await wait_for(self._answered.wait(), self._hello_wait)

    @property
    def peers(self) -> list[str]:
        """The other nodes this one knows to listen (it sends only while there are)."""
        return sorted(self._peers)

    async def stop(self) -> None:
        self._stopping = True
        if self._remove is not None:
            self._remove()
        # Cancelled once, a send in flight can turn the cancel into a connection error
        # (redis-py does), which the send loop takes for an outage and goes on: the stop
        # waited for ever. cancel_and_wait cancels again until the task has ended.
        await cancel_and_wait(self._task, *self._reconnects)
        if self.connected:
            # The last runs' ends (this node stops after its executor): best effort.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(stop_time_left(2)):
                    await self.transport.send([*self._payloads(), self._presence_message(BYE)])
        await self.transport.close()

    def _lost(self, reason: str) -> None:
        """The channel's connection dropped: poll meanwhile, and reconnect."""
        if self._stopping or not self.connected:
            return
        logger.warning(
            "node events: %s unavailable (%s); polling the store until it is back",
            self.transport.name,
            reason,
        )
        self._down = True
        task = asyncio.create_task(self._reconnect_loop(), name="schedkit-broadcast-reconnect")
        self._reconnects.add(task)
        task.add_done_callback(self._reconnects.discard)

    async def _reconnect_loop(self) -> None:
        loop = asyncio.get_running_loop()
        down_since = loop.time()
        fallback = self._make_fallback() if self._make_fallback is not None else None
        try:
            if fallback is not None:
                await fallback.start()
            delay = RECONNECT_FIRST
            while True:
                await self.transport.close()
                await asyncio.sleep(delay)
                try:
                    await self.transport.open(self._receive, self._lost)
                except Exception as exc:
                    logger.debug(
                        "node events: reconnecting to %s failed: %s", self.transport.name, exc
                    )
                    delay = min(delay * 2, RECONNECT_MAX)
                    continue
                # Up from here on: a loss from now on (even while the fallback stops)
                # starts a reconnection of its own.
                self._down = False
                break
        finally:
            if fallback is not None:
                await fallback.stop()
        logger.info(
            "node events: %s back after %.1f s", self.transport.name, loop.time() - down_since
        )
        # Wake-ups sent while it was down were lost, both ways: claim now, and tell the
        # others to. Its peers may have forgotten it meanwhile: it says hello again.
        self._wake()
        self.announce_wake()
        self._say(HELLO)

    def announce_wake(self) -> None:
        """Runs became claimable: other nodes should claim now."""
        if self._peers:
            self._wake_pending = True
            self._kick.set()

    def _say(self, presence: str) -> None:
        self._presence = presence
        self._kick.set()

    def _on_event(self, event: RunEvent) -> None:
        if not self._peers:
            return  # nobody to tell (and the slim copy is most of the cost)
        if len(self._queue) >= MAX_QUEUED:
            del self._queue[0]
        self._queue.append(slim(event))
        self._kick.set()

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        self._presence_at = loop.time() + PRESENCE_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(self._presence_at):
                    await self._kick.wait()
            self._kick.clear()
            if loop.time() >= self._presence_at:
                self._presence_at = loop.time() + PRESENCE_INTERVAL
                self._presence = self._presence or HERE
                self._forget_silent(loop.time())
            if not self.connected:
                # Down: what happens meanwhile is left to the store (polls), and the
                # reconnection announces a wake-up.
                self._queue.clear()
                self._wake_pending = False
                self._presence = None
                continue
            try:
                await self.transport.send(self._payloads())
            except Exception as exc:  # a channel outage loses live updates only
                self._lost(f"sending failed: {type(exc).__name__}: {exc}")

    def _forget_silent(self, now: float) -> None:
        cutoff = now - PEER_EXPIRY
        for node in [n for n, heard in self._peers.items() if heard < cutoff]:
            logger.info("node events: no word from node %s for %.0f s", node, PEER_EXPIRY)
            del self._peers[node]

    def _payloads(self) -> list[str]:
        """What is queued as messages under :data:`MAX_PAYLOAD` (wake-up in the first),
        after the presence message if one is due."""
        events, self._queue = self._queue, []
        wake, self._wake_pending = self._wake_pending, False
        payloads: list[str] = []
        batch: list[str] = []
        size = 0
        for text in events:
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
        if self._presence is not None:
            payloads.insert(0, self._presence_message(self._presence))
            self._presence = None
        return payloads

    def _presence_message(self, presence: str) -> str:
        return json.dumps({"n": self.node_id, "p": presence})

    def _message(self, events: list[str], wake: bool) -> str:
        head = json.dumps({"n": self.node_id, "w": wake})  # starts with self._own
        return head[:-1] + ',"e":[' + ",".join(events) + "]}"

    def _receive(self, payload: str) -> None:
        # Its own messages come back too (PostgreSQL): recognised before parsing them.
        if payload.startswith(self._own):
            return
        try:
            message = json.loads(payload)
            sender = message.get("n")
            if sender == self.node_id:
                return
            self._heard(sender, message.get("p"))
            if message.get("w"):
                self._wake()
            for data in message.get("e", ()):
                self.events.publish_remote(_EVENT.validate_python(data))
        except Exception as exc:  # a message of another version: skipped, said once per kind
            logger.debug("node event message skipped: %s", exc)

    def _heard(self, sender: object, presence: object) -> None:
        """Any message shows its sender listens (a node of an older version, which says
        no hello, is known from its first event)."""
        if not isinstance(sender, str):
            return
        if presence == BYE:
            self._peers.pop(sender, None)
            return
        if sender not in self._peers:
            logger.debug("node events: node %s listens", sender)
        self._peers[sender] = asyncio.get_running_loop().time()
        if presence == HELLO:
            self._say(HERE)
        else:
            self._answered.set()
