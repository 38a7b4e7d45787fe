"""Whether a node is ready, and why not: what ``/ready`` answers (the API translates).

Ready takes the store answering and this node's loops working: on a node that fires, its
scheduler loop and lease; on a node that executes, its claim loop. A loop failing at
every pass (a table its database role may not write) left a node answering ready while
nothing fired (an audit, with the store answering its ping), and a node whose claims
were refused answered ready while its runs piled up pending; so did nodes whose SQLite
file's disk was full (every write refused, the ping a read), and a node whose SQLite file
was removed under it (firing into the removed file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schedkit.clock import zoned
from schedkit.errors import StoreError, StoreFileReplacedError

if TYPE_CHECKING:
    from schedkit.service import Scheduler


@dataclass(frozen=True, kw_only=True, slots=True)
class NotReady:
    #: "store" (it does not answer), "store-file" (its SQLite file was removed or
    #: replaced), "loop" (a loop of the node fails), "draining".
    kind: str
    #: For anyone (a load balancer): names no host, store or error text.
    public: str
    #: For an authenticated caller: what fails, since when, what to do.
    detail: str
    #: The store's error, when it does not answer.
    error: StoreError | None = None


async def not_ready(scheduler: Scheduler) -> NotReady | None:
    """Why the started ``scheduler`` is not ready; None when it is."""
    try:
        await scheduler.ping()
    except StoreFileReplacedError as exc:
        # Told with credentials as loops' failures are (naming the store), not as a
        # store error's 503: that one says only "see the node's log".
        return NotReady(
            kind="store-file",
            public="not ready: the store's file was removed or replaced (see the node's log)",
            detail=f"not ready: {exc}",
        )
    except StoreError as exc:
        return NotReady(
            kind="store", public="not ready: the store does not answer", detail=str(exc), error=exc
        )
    failing = scheduler.failing
    if failing:
        loops = " and the ".join(f.loop for f in failing)
        said = f"not ready: the {loops} {'fails' if len(failing) == 1 else 'fail'}"
        if any(f.refused for f in failing):
            said += ": the store refuses this node's role (see the node's log)"
        elif any(f.unwritable for f in failing):
            said += ": the store refuses writes (a full disk, a file not writable: see the log)"
        each = "; ".join(
            f"the {f.loop} fails since {zoned(f.since, scheduler.tz)}: {f.error}" for f in failing
        )
        return NotReady(kind="loop", public=said, detail=f"not ready: {each}")
    if scheduler.draining and scheduler.config.executor.enabled:
        return NotReady(
            kind="draining",
            public="not ready: the node is draining",
            detail=f"node {scheduler.node_id} is draining: it takes no new runs "
            f"(POST /nodes/{scheduler.node_id}/undrain undoes it)",
        )
    return None
