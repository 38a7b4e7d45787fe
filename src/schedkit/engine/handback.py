"""Runs a drain hands back whose code ignored its stop, held on their node until that
code returns: handed back while it still ran, another node started the run beside it.

Held without bound, a node that stops for good (a worker's SIGTERM) left them
``running`` behind it, to be judged lost once it was gone, the attempt counted against
the task's retries. When the node leaves, they are handed back at once instead, with
the code still running here: claimable only ``lost_after`` seconds later, when this
process is gone and the code with it, as long as the reaper would have waited.
"""

from __future__ import annotations

import asyncio
import logging

from schedkit.engine.work import Work
from schedkit.models import Run

logger = logging.getLogger(__name__)


class CodeHold:
    def __init__(self, lost_after: float) -> None:
        self.lost_after = lost_after
        #: Ids of the runs held now.
        self.runs: set[str] = set()
        self._leaving = asyncio.Event()

    def reset(self) -> None:
        """A node started again; the event may belong to the loop of its last start."""
        self._leaving = asyncio.Event()

    def leave(self) -> None:
        """The node stops for good: release every run held (see :meth:`hold`)."""
        self._leaving.set()

    async def hold(self, run: Run, work: Work) -> float:
        """Wait until ``work``'s code has ended, or the node leaves; the seconds after
        which the run handed back may be claimed (0: at once)."""
        logger.warning(
            "run %s of %s ignored the drain's stop: it is handed back once its code "
            "returns (never on two nodes at once)",
            run.id,
            run.task_name,
        )
        self.runs.add(run.id)
        ended = asyncio.ensure_future(work.ended())
        leaving = asyncio.ensure_future(self._leaving.wait())
        try:
            await asyncio.wait({ended, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.runs.discard(run.id)
            for waiter in (ended, leaving):
                waiter.cancel()
        if not work.still_running:
            return 0.0
        logger.warning(
            "run %s of %s: its code still runs as this node stops; handed back, claimable "
            "in %g s (scheduler.lost_after), once this process is gone",
            run.id,
            run.task_name,
            self.lost_after,
        )
        return self.lost_after
