"""Starting a node whose store does not answer yet (``scheduler.store_wait = "retry"``).

An app that embeds schedkit would not start at all while its scheduler's store
(PostgreSQL, MongoDB) could not be reached: its lifespan raised, the business routes went
down with the scheduler. :class:`StoreWait` starts the node in a task of its own instead
and tries again, 1 s doubling to 30 s, until the store answers; meanwhile the node is not
started and says why (:meth:`StoreWait.not_started`, the API's 503). Only an unreachable
server is waited out: whatever retrying cannot fix (a store of another release, a task
package that does not import, a SQLite file that cannot be opened) still fails the
app's startup when the first attempt meets it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from schedkit.config import SchedkitConfig
from schedkit.engine.retries import Backoff
from schedkit.errors import NotRunningError, StoreUnavailableError
from schedkit.stopping import being_cancelled, cancel_and_wait, wait_for

__all__ = ["PATIENCE", "Startable", "StoreWait"]

logger = logging.getLogger(__name__)

#: Seconds an app's startup waits for the first attempt. A store that answers shows what
#: retrying cannot fix well within it, failing the startup as ``"fail"`` does; one that
#: does not answer would hold the app back for its connect timeout (10 s on PostgreSQL;
#: MongoDB's server selection waits 5 s even on a refused port).
PATIENCE = 1.0


class Startable(Protocol):
    """What is started: a :class:`~schedkit.Scheduler` (not imported: it imports this)."""

    config: SchedkitConfig
    store_wait: StoreWait | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StoreWait:
    """Starts ``scheduler`` (with :meth:`start`) and keeps trying while its store cannot
    be reached; :meth:`stop` ends the attempts and stops the node if it started."""

    def __init__(
        self, scheduler: Startable, *, backoff: Backoff | None = None, patience: float = PATIENCE
    ) -> None:
        self.scheduler = scheduler
        self._backoff = backoff or Backoff(first=1.0, cap=30.0)
        self._patience = patience
        self._task: asyncio.Task[None] | None = None
        #: How the first attempt went, for the startup waiting for it (cancelled once the
        #: startup stops waiting: the task then logs what it meets).
        self._first: asyncio.Future[None] | None = None
        self._failures = 0
        self._since: datetime | None = None
        self._cause = ""
        self._ref = ""
        self._next_at = 0.0
        self._gave_up = False

    async def start(self) -> None:
        """Start the node, or begin waiting for its store. Raises what the first attempt
        raised within :data:`PATIENCE`, unless retrying can fix it."""
        self.scheduler.store_wait = self
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._keep_trying(), name="schedkit store wait")
        try:
            await wait_for(self._first, self._patience)
        except TimeoutError:
            pass  # the attempt goes on in the background; it logs what it meets
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """End the attempts (one under way is undone) and stop the node if it started."""
        await cancel_and_wait(self._task)
        if self.scheduler.store_wait is self:
            self.scheduler.store_wait = None
        await self.scheduler.stop()

    def not_started(self) -> NotRunningError:
        """Why the node has not started, for a caller that needs it started."""
        if self._gave_up:
            why = (
                "it failed to start with an error retrying cannot fix, and will not retry: "
                f"restart the app once it is fixed (the node's log has the cause: ref {self._ref})"
            )
            return NotRunningError(f"the scheduler has not started: {why}")
        if self._since is None:
            return NotRunningError("the scheduler has not started yet: its start is under way")
        wait = math.ceil(max(0.0, self._next_at - time.monotonic()))
        return NotRunningError(
            f"the scheduler has not started: store unavailable ({self._cause}; the node's "
            f"log has the cause: ref {self._ref}); retrying since "
            f"{self._since.strftime('%Y-%m-%d %H:%M:%S')} UTC, "
            + (f"next in {wait} s" if wait else "trying again now"),
            retry_after=max(1, wait),
        )

    async def _keep_trying(self) -> None:
        while True:
            try:
                await self.scheduler.start()
            except Exception as exc:
                if being_cancelled():
                    return  # the app stops: its cancellation came out as a store error
                if not self._retries(exc):
                    self._give_up(exc)
                    return
                self._settle(None)
                await self._wait(exc)
            else:
                self._settle(None)
                self._started()
                return

    def _retries(self, exc: Exception) -> bool:
        # A SQLite file has no server to wait for: a file that cannot be opened is a
        # path to correct, not an outage.
        sqlite = urlsplit(self.scheduler.config.store_url).scheme.lower().startswith("sqlite")
        return isinstance(exc, StoreUnavailableError) and not sqlite

    async def _wait(self, exc: Exception) -> None:
        self._failures += 1
        if self._since is None:
            self._since = datetime.now(UTC)
        self._cause = _kind(exc)
        self._ref = secrets.token_hex(4)
        self._next_at = time.monotonic() + self._backoff.current
        # One line per attempt, no traceback: the cause says it all, and an outage of
        # an hour would otherwise fill the log with the same stack.
        await self._backoff.wait(
            f"the scheduler could not start (attempt {self._failures}, ref {self._ref}): {exc}"
        )

    def _give_up(self, exc: Exception) -> None:
        if self._settle(exc):
            return  # the app's startup raises it
        self._gave_up = True
        self._ref = secrets.token_hex(4)
        logger.error(
            "the scheduler will not start (ref %s): %s; the app serves on without it",
            self._ref,
            exc,
            exc_info=exc,
        )

    def _started(self) -> None:
        if self.scheduler.store_wait is self:
            self.scheduler.store_wait = None
        if self._since is not None:
            # A warning, as the failures were: a log kept at WARNING (a host app's
            # default) shows the outage's end beside its start.
            logger.warning(
                "the scheduler started: its store answered after %d failed attempt(s) since %s UTC",
                self._failures,
                self._since.strftime("%Y-%m-%d %H:%M:%S"),
            )

    def _settle(self, error: Exception | None) -> bool:
        """Tell the startup waiting for the first attempt how it went; False when the
        startup no longer waits."""
        first = self._first
        if first is None or first.done():
            return False
        if error is None:
            first.set_result(None)
        else:
            first.set_exception(error)
        return True


def _kind(exc: BaseException) -> str:
    """The innermost cause's type (``ConnectionRefusedError``, ``InvalidPasswordError``):
    what went wrong, naming no host, database or user."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__
