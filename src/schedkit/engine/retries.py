"""Whether and when an attempt is tried again, and how store errors are waited out.

The one owner of retry decisions: the executor (an attempt failed or timed out), the
reaper (an attempt's node died) and the monitor (is this outcome final) all ask here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from datetime import datetime, timedelta

from schedkit.errors import StoreRefusedError
from schedkit.limits import MAX_ERROR_MESSAGE_CHARS, MAX_TRACEBACK_CHARS, clip, clip_tail
from schedkit.models import JSON, Run, RunStatus
from schedkit.stopping import wait_for
from schedkit.task import RetryPolicy

logger = logging.getLogger(__name__)

#: Outcomes of an attempt that a retry policy may retry (never success or cancelled).
RETRYABLE: frozenset[RunStatus] = frozenset({RunStatus.FAILED, RunStatus.TIMEOUT, RunStatus.LOST})


def retry_at(
    policy: RetryPolicy | None, run: Run, status: RunStatus, now: datetime
) -> datetime | None:
    """When to retry ``run``'s current attempt, which ended in ``status``; None when the
    outcome is final (not retryable, attempts used up, or no policy: the task is not
    registered on this node)."""
    if policy is None or status not in RETRYABLE or run.attempt >= run.max_attempts:
        return None
    return now + timedelta(seconds=policy.delay(run.attempt))


def is_final(run: Run, status: RunStatus, *, registered: bool) -> bool:
    """Whether an attempt ending in ``status`` ends the run (no retry follows).

    The delay is left out: it is random (jitter) and only :func:`retry_at` needs it.
    """
    return not registered or status not in RETRYABLE or run.attempt >= run.max_attempts


def error_info(exc: BaseException) -> JSON:
    """How an exception is stored in a run's ``error`` (long texts cut, see limits)."""
    return {
        "type": type(exc).__name__,
        "message": clip(str(exc), MAX_ERROR_MESSAGE_CHARS),
        "traceback": clip_tail("".join(traceback.format_exception(exc)), MAX_TRACEBACK_CHARS),
    }


def attempt_error(
    run: Run,
    status: RunStatus,
    error: JSON | None,
    started_at: datetime | None,
    finished_at: datetime,
) -> JSON:
    """The record of a retried attempt kept in the run's ``attempt_errors`` (with the node
    that ran it: the one that died, for a lost attempt)."""
    return {
        "attempt": run.attempt,
        "node_id": run.node_id,
        "status": status.value,
        "error": error,
        "started_at": started_at.isoformat() if started_at is not None else None,
        "finished_at": finished_at.isoformat(),
    }


def retried_with(stored: Run, attempt: int, record: JSON) -> bool:
    """Whether ``stored`` has moved past ``attempt`` keeping ``record`` (made by
    :func:`attempt_error`) as that attempt's: a requeue applied, whether or not its
    answer arrived."""
    return stored.attempt > attempt and any(
        isinstance(e, dict)
        and e.get("attempt") == record["attempt"]
        and e.get("finished_at") == record["finished_at"]
        for e in stored.attempt_errors
    )


#: The first wait after a refusal (StoreRefusedError): no outage to ride out quickly.
REFUSED_FIRST = 5.0


class Backoff:
    """Exponential wait after store errors: 0.5 s doubling to 30 s; logs each failure,
    but a refusal (StoreRefusedError: waiting does not cure it) once, as an error, until
    a success: retried every few seconds, the same line each time hid what to do.

    A wait given a ``wake`` event ends early when it is set: a sign that the store is
    back (another operation of this node succeeded) or that work waits (a run was
    created). Without that, runs created just after an outage waited out the backoff
    (up to 30 s) while the node already said it was ready. The event is heeded only
    ``heed_after`` seconds into the wait, and only a success resets the doubling (see
    :meth:`reset`): wake-ups while the store is still down cost at most one attempt per
    ``heed_after``, never a tight loop.
    """

    def __init__(
        self, first: float = 0.5, cap: float = 30.0, heed_after: float | None = None
    ) -> None:
        self.first = first
        self.cap = cap
        self.heed_after = first if heed_after is None else heed_after
        self.current = first
        #: The refusals logged since the last success.
        self._refused: set[str] = set()

    def reset(self) -> None:
        self.current = self.first
        self._refused.clear()

    def after_refusal(self, message: str, error: StoreRefusedError) -> float:
        """The wait after a refusal (what ``message`` says: logged once, until a success),
        for a loop that waits in a way of its own."""
        self.current = max(self.current, min(REFUSED_FIRST, self.cap))
        delay = self.current
        self.current = min(self.current * 2, self.cap)
        if str(error) in self._refused:
            logger.debug("%s; retrying in %.1f s", message, delay)
        else:
            self._refused.add(str(error))
            logger.error("%s; retried every %.0f s at most until it works", message, self.cap)
        return delay

    async def wait(
        self,
        message: str,
        wake: asyncio.Event | None = None,
        *,
        error: BaseException | None = None,
    ) -> None:
        """Wait after ``error`` (what ``message`` says, logged)."""
        if isinstance(error, StoreRefusedError):
            await asyncio.sleep(self.after_refusal(message, error))
            return
        delay = self.current
        self.current = min(self.current * 2, self.cap)
        if wake is None:
            logger.warning("%s; retrying in %.1f s", message, delay)
            await asyncio.sleep(delay)
            return
        logger.warning("%s; retrying in %.1f s, or sooner when the store answers", message, delay)
        heed = min(self.heed_after, delay)
        await asyncio.sleep(heed)
        if delay > heed and not wake.is_set():
            with contextlib.suppress(TimeoutError):
                await wait_for(wake.wait(), delay - heed)
