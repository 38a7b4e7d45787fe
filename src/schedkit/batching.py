"""Group store writes that happen close together into one call.

Runs finishing at the same moment each want one atomic write; a store call per run caps
throughput at the store's round-trip rate. A :class:`Batcher` collects the items submitted
while the previous call is in flight (or within one loop iteration) and writes them with
a single call, then answers each submitter with its own result or the call's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[list[R]]],
        max_batch: int = 500,
        linger: float = 0.0,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._linger = linger
        self._last_write = -1e9
        self._items: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    def _busy(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether the previous write ended less than ``linger`` ago."""
        return loop.time() - self._last_write < self._linger

    async def _drain(self) -> None:
        try:
            # Yield once so that items submitted in this loop iteration join the batch;
            # under load (the previous write ended less than ``linger`` ago) wait that
            # long, so that items arriving one by one share a write too.
            loop = asyncio.get_running_loop()
            await asyncio.sleep(self._linger if self._busy(loop) else 0)
            while self._items:
                if len(self._items) < self._max_batch and self._busy(loop):
                    # What arrived during the last write waits to share the next one too
                    # (written at once, they went one or two per write: at 1,000 fires/s
                    # 3.4 fires per store write, 7.8 so).
                    await asyncio.sleep(self._linger)
                batch = self._items[: self._max_batch]
                del self._items[: self._max_batch]
                try:
                    results = await self._write([item for item, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                finally:
                    self._last_write = loop.time()
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._drainer = None
