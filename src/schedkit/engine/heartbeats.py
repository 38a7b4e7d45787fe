"""The executor's run heartbeats: every ``heartbeat_interval`` the node tells the store
which runs it still executes (invariant 4), and learns from the answer which of them it
must stop: a cancel asked for elsewhere, or a run the store no longer has running here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from schedkit.clock import Clock
from schedkit.config import SchedkitConfig
from schedkit.engine.active import Active
from schedkit.errors import StoreError
from schedkit.store.base import Store

logger = logging.getLogger("schedkit.engine.executor")

#: What a run cancelled elsewhere ends with when the store keeps no reason for it.
CANCELLED_ELSEWHERE = "cancel requested by another process"


class RunHeartbeats:
    """Part of :class:`~schedkit.engine.executor.Executor` (its attributes below)."""

    store: Store
    node_id: str
    clock: Clock
    config: SchedkitConfig
    _active: dict[str, Active]
    cancel_local: Callable[[str, str], bool]
    store_answered: Callable[[], None]

    async def _heartbeat_loop(self) -> None:
        interval = self.config.scheduler.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            ids = list(self._active)
            if not ids:
                continue
            try:
                held = await self.store.heartbeat_runs(self.node_id, ids, self.clock.now())
            except StoreError as exc:
                logger.warning("run heartbeat failed (will retry): %s", exc)
                continue
            self.store_answered()
            for run_id in ids:
                if run_id not in held:
                    self._taken(run_id)
                elif held[run_id]:
                    self.cancel_local(run_id, await self._cancel_reason(run_id))

    async def _cancel_reason(self, run_id: str) -> str:
        """The reason the canceller gave, kept with the request (an audit: "schedkit
        cancel RUN --reason …" of a run executing on a service ended it as "cancel
        requested on another node", the operator's words in the audit log alone)."""
        try:
            run = await self.store.get_run(run_id)
        except StoreError:
            return CANCELLED_ELSEWHERE
        return run.reason if run is not None and run.reason else CANCELLED_ELSEWHERE

    def _taken(self, run_id: str) -> None:
        """Stop a run the store no longer has running here: judged lost while this node
        could not reach the store (its retry may run elsewhere already), or ended by
        another node. Going on would run its code twice at once; its outcome is not
        recorded either way (the attempt is no longer this node's)."""
        active = self._active.get(run_id)
        if active is None or active.ending or active.ctx.cancelled:
            return
        logger.warning(
            "run %s of %s (attempt %d) is no longer this node's in the store (judged lost "
            "while the store was out of reach, or ended elsewhere): stopping it here",
            run_id,
            active.run.task_name,
            active.run.attempt,
        )
        self.cancel_local(run_id, "taken from this node")
