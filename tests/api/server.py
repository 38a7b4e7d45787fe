"""A real uvicorn server in a thread, on a free port, for the API tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import anyio
import uvicorn

# anyio imports its submodules on first use, and pytest rewrites them as it imports
# them (anyio is a pytest plugin), parsing their source. A console test failed when a
# server thread's first anyio.open_file parsed while another thread did: CPython 3.11
# raised "AST constructor recursion depth mismatch" (python/cpython#106905,
# pytest-dev/pytest#10763) and the page got a truncated file. So import them all here,
# in the thread that imports this module, before any server thread starts.
for _name in dir(anyio):
    getattr(anyio, _name)

FAST: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "entry_points": False,
    "executor": {"poll_interval": 0.05, "max_workers": 4},
    "scheduler": {
        "lease_ttl": 2.0,
        "lookahead": 1.0,
        "refresh_interval": 0.2,
        "heartbeat_interval": 0.2,
        "lost_after": 2.0,
        "shutdown_grace": 1.0,
    },
}


def fast_config(store_url: str, **overrides: Any) -> dict[str, Any]:
    return {**FAST, "store_url": store_url, **overrides}


class LiveServer:
    """``with LiveServer(app) as server: httpx.get(server.url + ...)``."""

    def __init__(self, app: Any, *, grace: float = 2.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=grace
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited while starting (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError("uvicorn did not stop within 15 s")
