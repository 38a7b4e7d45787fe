"""The notify channel survives its connection being dropped, against the real servers: a
listening connection killed on the server (``pg_terminate_backend``, Redis ``CLIENT
KILL``) or a channel that cannot be reached for a while. Meanwhile runs still start
(the store poll); afterwards the nodes reconnect by themselves and a run created on one
node starts on another within 100 ms again."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from schedkit import RunStatus, Scheduler
from schedkit.broadcast import client_name
from schedkit.config_sections import ClusterConfig
from tests.conftest import REDIS_VAR, service_url

from .conftest import Worker, management
from .test_events import case, channel, cluster_config

pytestmark = pytest.mark.timeout(240)

#: A worker's own poll: slow enough that only the channel starts a run within 100 ms.
WORKER_POLL = "2"


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Listeners:
    """The channel connections of named nodes, as the server sees them; killed there."""

    def __init__(self, kind: str, store_url: str, redis_url: str | None) -> None:
        self.kind = kind
        self.store_url = store_url
        self.redis_url = redis_url

    async def ids(self, node_ids: list[str]) -> set[str]:
        names = [client_name(n) for n in node_ids]
        if self.kind == "notify":
            conn = await asyncpg.connect(self.store_url)
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1::text[])",
                    [name[:63] for name in names],
                )
            finally:
                await conn.close()
            return {str(row["pid"]) for row in rows}
        assert self.redis_url is not None
        client = aioredis.from_url(self.redis_url, decode_responses=True)
        try:
            clients = await client.client_list()
        finally:
            await client.aclose()
        # Only the subscribed connection of each node (its publishing pool shares the name).
        return {
            str(c["id"]) for c in clients if c.get("name") in names and int(c.get("sub", 0)) > 0
        }

    async def kill(self, ids: set[str]) -> None:
        if self.kind == "notify":
            conn = await asyncpg.connect(self.store_url)
            try:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
                    [int(i) for i in ids],
                )
            finally:
                await conn.close()
            return
        assert self.redis_url is not None
        client = aioredis.from_url(self.redis_url, decode_responses=True)
        try:
            for client_id in ids:
                # CLIENT KILL TYPE pubsub, limited to this test's nodes: the Redis server
                # is shared with other tests.
                await client.execute_command("CLIENT", "KILL", "ID", client_id)
        finally:
            await client.aclose()


async def start_delays(s: Scheduler, n: int) -> list[float]:
    """Seconds from creation to start of ``n`` runs created one after another here."""
    delays = []
    for _ in range(n):
        run = await s.run_now("plain")
        done = await s.wait_for_run(run.id, timeout=30)
        assert done.status is RunStatus.SUCCESS and done.started_at is not None
        delays.append((done.started_at - done.created_at).total_seconds())
        await asyncio.sleep(0.2)
    return delays


@pytest.mark.parametrize(
    ("store_url", "kind"),
    [case("postgres", "notify"), case("mongo", "redis")],
    indirect=["store_url"],
)
async def test_a_killed_listener_connection_reconnects_and_the_100_ms_bound_holds_again(
    cluster_config_path: Path, workers: list[Worker], store_url: str, kind: str
) -> None:
    worker = Worker(
        cluster_config_path, SCHEDKIT_EXECUTOR__POLL_INTERVAL=WORKER_POLL, **channel(kind)
    )
    workers.append(worker)
    worker_id = await asyncio.to_thread(worker.ready)
    redis_url = service_url(REDIS_VAR) if kind == "redis" else None
    server = Listeners(kind, store_url, redis_url)
    async with management(cluster_config_path, cluster=cluster_config(kind)) as s:
        nodes = [worker_id, s.node_id]
        killed: set[str] = set()

        async def both_listening() -> bool:
            current = await server.ids(nodes)
            return len(current) == 2 and not current & killed

        await until(both_listening, "both nodes listening")
        killed = await server.ids(nodes)
        await server.kill(killed)
        # What was sent during the outage is not needed: the run starts all the same.
        run = await s.run_now("plain")
        done = await s.wait_for_run(run.id, timeout=30)
        assert done.status is RunStatus.SUCCESS and done.node_id == worker_id
        await until(both_listening, "both nodes listening again (new connections)")
        await asyncio.sleep(float(WORKER_POLL) + 0.5)  # the worker idles on its poll timer
        delays = await start_delays(s, 10)
    assert statistics.median(delays) < 0.1, delays
    assert max(delays) < 1.0, delays  # never the worker's poll
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err
    # One warning for the outage, one line when it was over.
    assert err.count("polling the store until it is back") == 1, err
    assert "back after" in err, err


class Proxy:
    """A TCP proxy to a real server that can be cut: its connections closed and new ones
    refused (what a server restart looks like to the clients) until restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.pipes: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        if not self.up:  # cut while connecting: a pipe added now would never be closed
            up_writer.close()
            writer.close()
            return
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.pipes -= {writer, up_writer}

    def cut(self) -> None:
        self.up = False
        for pipe in list(self.pipes):
            pipe.close()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[Proxy]:
    url = urlsplit(service_url(REDIS_VAR))
    proxy = Proxy(url.hostname or "127.0.0.1", url.port or 6379)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.mark.parametrize(
    "store_url", [pytest.param("mongo", marks=pytest.mark.external_service)], indirect=True
)
@pytest.mark.parametrize("down_at_start", [False, True], ids=["dropped", "down-at-start"])
async def test_while_the_channel_is_down_runs_start_through_the_poll(
    cluster_config_path: Path,
    workers: list[Worker],
    store_url: str,
    redis_proxy: Proxy,
    down_at_start: bool,
) -> None:
    """The channel's server goes away and stays away for a while (``dropped``), or is
    already away when the nodes start (``down-at-start``)."""
    if down_at_start:
        redis_proxy.cut()
    url = urlsplit(service_url(REDIS_VAR))
    through_proxy = f"redis://127.0.0.1:{redis_proxy.port}{url.path or '/0'}"
    worker = Worker(
        cluster_config_path,
        SCHEDKIT_EXECUTOR__POLL_INTERVAL="1",
        SCHEDKIT_CLUSTER__REDIS_URL=through_proxy,
    )
    workers.append(worker)
    worker_id = await asyncio.to_thread(worker.ready)
    server = Listeners("redis", store_url, service_url(REDIS_VAR))
    cluster = ClusterConfig(notify="redis", redis_url=through_proxy, poll_interval=0.3)
    async with management(cluster_config_path, cluster=cluster) as s:
        nodes = [worker_id, s.node_id]

        async def both_listening() -> bool:
            return len(await server.ids(nodes)) == 2

        if not down_at_start:
            await until(both_listening, "both nodes listening")
            redis_proxy.cut()  # the channel's server is gone, and stays gone for now
        run = await s.run_now("plain")
        done = await s.wait_for_run(run.id, timeout=30)
        # Started on the worker while no channel could be reached: by its store poll.
        assert done.status is RunStatus.SUCCESS and done.node_id == worker_id
        assert not redis_proxy.up and await server.ids(nodes) == set()
        redis_proxy.restore()
        await until(both_listening, "both nodes listening again", timeout=90)
        delays = await start_delays(s, 5)
    # Back on the channel: well under the worker's 1 s poll.
    assert statistics.median(delays) < 0.1, delays
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err
    assert "polling the store until it is back" in err and "back after" in err, err
