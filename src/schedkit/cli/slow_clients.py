"""``schedkit serve``'s HTTP protocol: uvicorn's, with bounds on clients that are slow to
send a request's headers.

uvicorn sets no time limit on reading a request's headers: a connection trickling a
header every few seconds stays open for good, and an audit's 1,100 of them (systemd's
default 1,024 open files) made the server unreachable, its log flooded with "Too many
open files", until they closed. Here a connection must send its request headers within
``api.header_timeout`` seconds (of connecting, or of its previous answer when kept
alive), and at most ``api.max_waiting_connections`` connections (and half the process's
open-file limit) wait for theirs at once: one more is closed as it comes, so answered
requests and open event streams keep their descriptors. The open-file limit is raised to
the hard limit first (systemd's soft default is 1,024). A reverse proxy in front remains
the defence against a determined attacker (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("schedkit.api")

#: Seconds between two warnings that connections were refused.
_WARN_EVERY = 10.0


class GuardedProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` closing connections slow to send their headers."""

    header_timeout: ClassVar[float] = 10.0
    max_waiting: ClassVar[int] = 256
    #: The connections of this server waiting for a request's headers.
    waiting: ClassVar[set[GuardedProtocol]]
    refused: ClassVar[int] = 0
    warned_at: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.waiting) >= self.max_waiting:
            self._refuse()
            return
        self._wait_for_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Kept alive, and no request read already (pipelined): the next one's headers.
        if not self.transport.is_closing() and not self.pipeline:
            self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _wait_for_headers(self) -> None:
        self._stop_waiting()
        self.waiting.add(self)
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _stop_waiting(self) -> None:
        self.waiting.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self.waiting.discard(self)
        if not self.transport.is_closing():
            logger.debug("closed a connection sending no request within %gs", self.header_timeout)
            self.transport.close()

    def _refuse(self) -> None:
        cls = type(self)
        cls.refused += 1
        self.transport.close()
        now = time.monotonic()
        if now - cls.warned_at >= _WARN_EVERY:
            cls.warned_at = now
            logger.warning(
                "%d connection(s) closed at once: %d were already waiting for their request "
                "headers (api.max_waiting_connections); a reverse proxy bounds slow clients",
                cls.refused,
                self.max_waiting,
            )
            cls.refused = 0


#: The open-file limit a server raises its soft limit to, when the hard limit allows.
OPEN_FILES = 65536


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit towards :data:`OPEN_FILES` (as far as
    the hard limit allows); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            logger.debug("could not raise the open-file limit from %d", soft, exc_info=True)
            return soft
        logger.debug("open-file limit raised from %d to %d", soft, wanted)
        return wanted
    return soft


def guarded_protocol(header_timeout: float, max_waiting: int) -> type[GuardedProtocol]:
    """A protocol class for one server (its own set of waiting connections), after
    raising the open-file limit; at most half of it waits for headers."""
    files = raise_open_file_limit()
    waiting = max_waiting if files == resource.RLIM_INFINITY else min(max_waiting, files // 2)
    return type(
        "GuardedProtocol",
        (GuardedProtocol,),
        {"header_timeout": header_timeout, "max_waiting": max(waiting, 1), "waiting": set()},
    )
