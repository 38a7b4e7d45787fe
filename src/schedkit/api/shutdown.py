"""Whether the HTTP server of this process has begun to stop, for endless answers.

uvicorn begins a stop by setting ``should_exit`` on its ``Server`` (from its SIGINT /
SIGTERM handler), then waits up to ``timeout_graceful_shutdown`` (by default without
end) for the open answers to finish, telling them nothing, and only then runs the app's
lifespan shutdown, which stops the scheduler. An endless answer, the event stream,
would hold the stop that long and then be cancelled, with an error logged. So it asks
:func:`server_stopping` as it goes and ends by itself.

The server is found as the owner of the process's SIGTERM handler: while it serves,
uvicorn installs its ``Server.handle_exit`` there (``uvicorn app:app``, ``uvicorn.run``,
each process of ``--workers``), and ``schedkit serve`` installs its server's too. A
server that does not (uvicorn run in a thread, other ASGI servers) is not seen; the
stream then ends when the scheduler stops, or after its ``duration``.
"""

from __future__ import annotations

import signal

__all__ = ["server_stopping"]


def server_stopping() -> bool:
    """True once the uvicorn server handling this process's SIGTERM is stopping."""
    # SIGTERM: what process managers stop a server with; uvicorn handles SIGINT with
    # the same method.
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return getattr(server, "should_exit", False) is True
