"""``schedkit serve``: the API (and the web console, when installed) with a scheduler node.

The node is started before the HTTP server (a store that cannot be reached is one clear
error line, not a traceback from the ASGI lifespan) and stopped after it. Ctrl-C or
SIGTERM stops serving (open event streams end within a second), lets running runs
finish for ``scheduler.shutdown_grace`` seconds, cancels the rest, and exits 0; a
second Ctrl-C stops waiting for open HTTP connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler

from . import render
from .errors import CommandFailed, UsageProblem
from .state import CliState, get_state, run_async, show_info_logs, with_roles

if TYPE_CHECKING:
    import uvicorn

AuthMode = Literal["token", "none"]
OnReady = Callable[[str], Awaitable[None]]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option("--host", metavar="HOST", help="Interface [default: config api.host]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            min=0,
            max=65535,
            metavar="PORT",
            help="Port [default: config api.port].",
        ),
    ] = None,
    scheduler_loop: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler", help="Fire schedules (when this node holds the lease)."
        ),
    ] = True,
    executor: Annotated[
        bool, typer.Option("--executor/--no-executor", help="Execute runs on this node.")
    ] = True,
    auth: Annotated[
        AuthMode,
        typer.Option(
            "--auth",
            help="API authentication: tokens, or none (local development only: loopback "
            "--host only, and no token can be created through the API).",
        ),
    ] = "token",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every HTTP request.")
    ] = True,
) -> None:
    """Serve the management API (and console) with a scheduler node until Ctrl-C."""
    state = get_state(ctx)
    show_info_logs(state)
    base = state.config()
    config = with_roles(base, scheduler=scheduler_loop, executor=executor)
    scheduler = Scheduler(config, registry=TaskRegistry())
    bind_host = host or config.api.host
    bind_port = config.api.port if port is None else port

    async def on_ready(url: str) -> None:
        out = state.out
        out.print(f"schedkit is serving on [bold]{url}[/]")
        if config.api.docs:
            out.print(f"  API docs  {url}docs")
        out.print("Press Ctrl-C to stop.")

    run_async(
        serve_node(
            state,
            scheduler,
            bind_host,
            bind_port,
            auth=auth,
            access_log=access_log,
            on_ready=on_ready,
        )
    )


def public_url(host: str, port: int) -> str:
    """The URL to open for a server bound to ``host``:``port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_bind(auth: AuthMode, host: str) -> None:
    """``--auth none`` admits everyone as admin: refuse it on an address others reach."""
    if auth == "none" and not is_loopback(host):
        raise UsageProblem(
            f"--auth none serves without authentication, so it binds only to a loopback "
            f"address (127.0.0.1, ::1, localhost), not {host!r}; create a token instead: "
            "schedkit token create --name NAME --role admin"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; an unusable address is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise CommandFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _make_server(config: uvicorn.Config, on_stop: Callable[[], None]) -> uvicorn.Server:
    """A uvicorn server whose signal handler is installed by :func:`_signals` (uvicorn
    re-raises SIGINT after shutting down, which would interrupt stopping the node).
    SIGINT/SIGTERM: stop serving (``on_stop`` says so); a second one: stop waiting for
    connections."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - the api extra is missing
        raise CommandFailed("serving needs the api extra: pip install 'schedkit[api]'") from None

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True
                return
            self.should_exit = True
            on_stop()

    return _Server(config)


@contextlib.contextmanager
def _signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGINT/SIGTERM go to ``server.handle_exit`` while the block runs. The handler
    stays the server's own method: open event streams find the server through it and
    end as it stops (schedkit.api.shutdown)."""
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread (tests)
            previous[sig] = signal.signal(sig, server.handle_exit)
    try:
        yield
    finally:
        for known, handler in previous.items():
            signal.signal(known, handler)


def _exit_when_drained(scheduler: Scheduler, server: uvicorn.Server) -> None:
    async def watch() -> None:
        await scheduler.wait_drained()
        await scheduler.drain(stopping=True)  # drained already: it now ends in the stop
        server.should_exit = True

    task = asyncio.create_task(watch())
    _watchers.add(task)
    task.add_done_callback(_watchers.discard)


_watchers: set[asyncio.Task[None]] = set()


async def serve_node(
    state: CliState,
    scheduler: Scheduler,
    host: str,
    port: int,
    *,
    auth: AuthMode = "token",
    access_log: bool = True,
    on_ready: OnReady | None = None,
    before_serving: Callable[[Scheduler], Awaitable[None]] | None = None,
    drain: bool = False,
    metrics_only: bool = False,
) -> None:
    """Start ``scheduler``, serve the API on ``host``:``port`` until a signal, stop both.
    ``drain`` (a worker): a drain request also ends serving, and the node drains (runs
    left after the grace period are handed back, not cancelled) before it stops.
    ``metrics_only``: ``/metrics`` and the probes instead of the API (a worker's)."""
    import uvicorn

    from schedkit.api import create_app

    from .slow_clients import guarded_protocol

    check_auth_bind(auth, host)
    sock = bind_socket(host, port)
    try:
        if metrics_only:
            from schedkit.api.metrics_app import create_metrics_app

            app = create_metrics_app(scheduler)
        else:
            app = create_app(scheduler, auth=auth)
        uv_config = uvicorn.Config(
            app,
            log_level="debug" if state.debug else "info",
            # uvicorn's own formatters would write text lines among the JSON ones: its
            # loggers then go through ours.
            log_config=None if state.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            access_log=access_log,
            lifespan="on",
            timeout_graceful_shutdown=5,
            http=guarded_protocol(
                scheduler.config.api.header_timeout, scheduler.config.api.max_waiting_connections
            ),
        )
        grace = render.seconds(scheduler.config.scheduler.shutdown_grace)
        server = _make_server(
            uv_config, lambda: state.err.print(f"stopping (runs get {grace} to finish) ...")
        )
        # Signals are ours from here to the end of stop(): a Ctrl-C while stopping must
        # not interrupt recording the runs' ends.
        with _signals(server):
            await scheduler.start()
            try:
                if before_serving is not None:
                    await before_serving(scheduler)
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                if drain:
                    _exit_when_drained(scheduler, server)
                while not server.started:
                    done, _ = await asyncio.wait({serving}, timeout=0.05)
                    if done:
                        break
                if server.started and on_ready is not None:
                    await on_ready(public_url(host, sock.getsockname()[1]))
                await serving
                if not server.started and not server.should_exit:
                    raise CommandFailed("the server did not start (see the log above)")
            finally:
                if drain and scheduler.started:
                    await scheduler.drain(stopping=True)
                await scheduler.stop()
    finally:
        sock.close()
    state.err.print("stopped")
