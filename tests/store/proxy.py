"""A TCP proxy in front of a store's server, for tests of a server that goes away: cut
(connections dropped, port closed) or held (packets dropped silently, as by a firewall
or a partition: nothing is refused, nothing answers); or that comes up later
(:func:`store_later`)."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    """A TCP proxy to a server that can be cut (connections dropped, port closed) or
    hold its traffic (packets dropped silently, as by a firewall: nothing is refused)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.held = False
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        for pump in self.pumps:
            pump.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)
        await self.server.wait_closed()
        self.writers.clear()
        self.pumps.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            pump = asyncio.create_task(self._pump(src, dst))
            self.pumps.add(pump)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if not self.held:
                    dst.write(data)
                    await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.transport.abort()


def closed_port() -> int:
    """A port of 127.0.0.1 with nothing listening (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store_later(url: str) -> tuple[str, Proxy]:
    """``url`` moved to a port where nothing listens yet, and a proxy to ``url``'s server
    that, started, listens there: the store comes up."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    proxy = Proxy((parts.hostname, parts.port))
    proxy.port = closed_port()
    login = f"{parts.username}:{parts.password}@" if parts.password else ""
    moved = urlunsplit(parts._replace(netloc=f"{login}127.0.0.1:{proxy.port}"))
    return moved, proxy
