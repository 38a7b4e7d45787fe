"""``--auth none`` answers only requests addressed to a loopback name (DNS rebinding).

Without authentication the API binds to a loopback address only, but that alone does not
keep other sites out: a page on ``attacker.example`` whose name is then re-pointed to
127.0.0.1 (DNS rebinding) is, to the browser, still that site's origin, and its
requests reach the local server with ``Host: attacker.example``. A request whose
``Host`` is not a loopback name or address (``localhost``, ``127.0.0.1`` or any
127.x.y.z, ``[::1]``; any port) is therefore refused with a 400 problem before anything
else sees it. Servers with authentication need no such check: a rebound page has no
token.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from schedkit.api.problems import problem_response

__all__ = ["LoopbackHostOnly", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header value (with or without a port) names this machine's
    loopback interface."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8346
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return False
    else:
        name, _, _port = host.partition(":") if host.count(":") == 1 else (host, "", "")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoopbackHostOnly:
    """ASGI middleware: 400 for HTTP and WebSocket requests not addressed to loopback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if is_loopback_host(host):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            400,
            f"the Host header {host[:100]!r} is not a loopback name: without "
            "authentication (--auth none) this server answers only requests addressed to "
            "localhost, 127.0.0.1 or [::1] (any port)",
            slug="host-not-allowed",
            title="Host not allowed",
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)
