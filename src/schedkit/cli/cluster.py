"""``schedkit worker``, ``schedkit nodes`` and ``schedkit drain [--undo]``: nodes sharing a
store.

A worker executes runs and fires nothing; it serves the API only with ``--api``, its
metrics and probes alone with ``--metrics-port`` (``api.metrics_port``). SIGTERM
or Ctrl-C drains it (no new runs; running runs get ``--grace`` seconds; the rest go back
to pending for other nodes) and it exits 0; so does a drain asked through the API, the
console or ``schedkit drain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
from typing import Annotated

import typer

from schedkit.readmodels import NodeView, node_views
from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler
from schedkit.service.cluster import MAX_DRAIN_GRACE

from . import render, words
from .errors import CommandFailed, UsageProblem
from .render import visible
from .serve import serve_node
from .state import (
    CliState,
    JsonOpt,
    actor,
    get_state,
    management,
    run_async,
    show_info_logs,
    wants_json,
    with_roles,
)
from .words import tr


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("nodes")(nodes)
    app.command("drain")(drain)


def worker(
    ctx: typer.Context,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            metavar="LABEL",
            help="A label this node offers (repeat, or comma-separated): it executes runs "
            "of tasks requiring any of its labels [default: config executor.labels].",
        ),
    ] = None,
    capacity: Annotated[
        int | None,
        typer.Option(
            "--capacity",
            "-c",
            min=1,
            metavar="N",
            help="Runs executing at once [default: config executor.max_concurrent_runs].",
        ),
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(
            "--grace",
            min=0,
            metavar="SECONDS",
            help="On SIGTERM, how long running runs may finish before they are handed "
            "back [default: config scheduler.shutdown_grace].",
        ),
    ] = None,
    api: Annotated[
        bool, typer.Option("--api", help="Also serve the API (and console) on --host:--port.")
    ] = False,
    host: Annotated[str | None, typer.Option("--host", metavar="HOST")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", min=0, max=65535)] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            metavar="PORT",
            help="Serve /metrics and the health and readiness probes (no API) on "
            "--host:PORT [default: config api.metrics_port; unset: nothing].",
        ),
    ] = None,
) -> None:
    """Execute runs (fire none) until SIGTERM, Ctrl-C or a drain request; then drain and
    exit 0."""
    if api and metrics_port is not None:
        raise UsageProblem("--metrics-port goes without --api (the API serves /metrics)")
    state = get_state(ctx)
    base = state.config()
    if not api and metrics_port is None:
        metrics_port = base.api.metrics_port
    if not api and (port is not None or (host is not None and metrics_port is None)):
        raise UsageProblem(
            "--host and --port go with --api (--host also with --metrics-port): "
            "a worker serves nothing else"
        )
    if metrics_port is not None and importlib.util.find_spec("prometheus_client") is None:
        raise CommandFailed("--metrics-port needs the alerts extra: pip install 'schedkit[alerts]'")
    show_info_logs(state)
    config = with_roles(base, scheduler=False, executor=True, max_concurrent_runs=capacity)
    if label:
        try:
            executor = config.executor.model_validate(
                {**config.executor.model_dump(), "labels": ",".join(label)}
            )
        except ValueError as exc:
            raise CommandFailed(f"--label: {exc}") from None
        config = config.model_copy(update={"executor": executor})
    if grace is not None:
        sched = config.scheduler.model_copy(update={"shutdown_grace": grace})
        config = config.model_copy(update={"scheduler": sched})
    scheduler = Scheduler(config, registry=TaskRegistry())
    if api:
        bind_host = host or config.api.host
        bind_port = config.api.port if port is None else port

        async def on_ready(url: str) -> None:
            state.out.print(f"schedkit worker {scheduler.node_id} serving on [bold]{url}[/]")

        run_async(serve_node(state, scheduler, bind_host, bind_port, on_ready=on_ready, drain=True))
    elif metrics_port is not None:

        async def on_listening(url: str) -> None:
            state.err.print(started_line(scheduler, metrics=f"{url}metrics"), soft_wrap=True)

        run_async(
            serve_node(
                state,
                scheduler,
                host or config.api.host,
                metrics_port,
                on_ready=on_listening,
                drain=True,
                metrics_only=True,
            )
        )
    else:
        run_async(run_worker(state, scheduler))


def started_line(scheduler: Scheduler, *, metrics: str | None = None) -> str:
    labels = ", ".join(scheduler.config.executor.labels) or "-"
    serving = "" if metrics is None else f", metrics at {visible(metrics)}"
    return (
        f"schedkit worker {visible(scheduler.node_id)} started (labels: {visible(labels)})"
        f"{serving}; SIGTERM or Ctrl-C drains it"
    )


async def run_worker(state: CliState, scheduler: Scheduler) -> None:
    """Start the node, wait for a signal or a drain request, drain, stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await scheduler.start()
        try:
            state.err.print(started_line(scheduler))
            signalled = asyncio.create_task(stop.wait())
            drained = asyncio.create_task(scheduler.wait_drained())
            await asyncio.wait({signalled, drained}, return_when=asyncio.FIRST_COMPLETED)
            signalled.cancel()
            drained.cancel()
            # The grace in force: --grace replaced the configured one.
            grace = render.seconds(scheduler.config.scheduler.shutdown_grace)
            state.err.print(f"draining (running runs get {grace}) ...")
            await scheduler.drain(stopping=True)
        finally:
            await scheduler.stop(grace=0)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
    state.err.print("drained and stopped")


def nodes(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """The nodes sharing the store: roles, labels, capacity, running runs, lease, drain,
    and the loops of a node that fail (with why)."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> list[NodeView]:
        async with management(state, read_only=True) as s:
            return await node_views(s)

    found = run_async(work())
    store = state.store_label()
    if as_json:
        render.emit_json({"store": store, "nodes": [n.model_dump(mode="json") for n in found]})
        return
    lang, tz = state.lang, state.tz()
    if not found:
        # An empty table read as a failed query, not as "nothing runs here".
        state.out.print(words.fill("no live node", lang))
        render.store_line(state.out, store, lang)
        return
    headers = ["node", "host", "pid", "version", "roles", "labels", "capacity", "running"]
    table = render.table([*headers, "leader", "heartbeat", "clock", "state"], lang, zone=tz.key)
    for n in found:
        table.add_row(
            visible(n.id),
            visible(n.hostname),
            str(n.pid),
            visible(n.version),
            ", ".join(tr(r, lang) for r in n.roles),
            visible(", ".join(n.labels)) or "-",
            str(n.capacity),
            # A silent node's count is of its last heartbeat: its runs are being judged
            # lost and retried elsewhere, not running there.
            str(n.running) if n.alive else "-",
            tr("yes", lang) if n.leader else "",
            render.when(n.heartbeat_at, tz),
            clock_text(n, lang),
            tr(node_state(n), lang),
        )
    state.out.print(table)
    for n in found:
        for f in n.failing if n.alive else ():
            since = render.when(f.since, tz)
            loop = tr(f.loop, lang)
            said = words.fill(
                "loop failing", lang, node=n.id, loop=loop, since=since, error=f.error
            )
            state.out.print(visible(said), style="red", highlight=False, soft_wrap=True)
    if not any(n.alive for n in found):
        state.out.print(words.fill("no live node", lang))
    render.store_line(state.out, store, lang)


def node_state(node: NodeView) -> str:
    """outlived upgrade (older code working on the upgraded store: `schedkit check` says
    what to do), stopping (its drain cannot be undone), draining, failing (alive, but a
    loop of it fails: the lines under the table say which and why), alive or silent."""
    if node.outlived_upgrade:
        return "outlived upgrade"
    if node.stopping:
        return "stopping"
    if node.draining:
        return "draining"
    if not node.alive:
        return "silent"
    return "failing" if node.failing else "alive"


def clock_text(node: NodeView, lang: words.Lang) -> str:
    """``+0.003 s``: how far the node's clock is behind the store's; with ``store time``
    when it is off by more than a second and goes by the store's."""
    if node.clock_offset is None:
        return "-"
    text = f"{node.clock_offset:+.3f} s"
    return f"{text} ({tr('store time', lang)})" if node.store_time else text


def drain(
    ctx: typer.Context,
    node_id: Annotated[str, typer.Argument(metavar="NODE", help="Node id (schedkit nodes).")],
    grace: Annotated[
        float | None,
        typer.Option(
            "--grace",
            min=0,
            max=MAX_DRAIN_GRACE,
            metavar="SECONDS",
            help="Seconds running runs get to finish before they are handed back (and "
            "start over elsewhere) [default: the node's scheduler.shutdown_grace].",
        ),
    ] = None,
    undo: Annotated[
        bool,
        typer.Option(
            "--undo",
            help="Undo the node's drain: it takes runs again (refused while it stops).",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Ask a node to drain: it takes no new runs, lets running ones finish within its
    grace period (or --grace), hands the rest back, and (a worker) exits. --undo takes
    it back, unless the node is stopping."""
    if undo and grace is not None:
        raise UsageProblem("--grace goes with a drain, not with --undo")
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> None:
        async with management(state) as s:
            if undo:
                await s.request_undrain(node_id, actor=actor())
            else:
                await s.request_drain(node_id, actor=actor(), grace=grace)

    run_async(work())
    if as_json:
        render.emit_json(
            {"store": state.store_label(), "node": node_id, "draining": not undo, "grace": grace}
        )
        return
    if undo:
        state.out.print(f"node {visible(node_id)} drain undone: it takes runs again")
    else:
        within = "" if grace is None else f" (running runs get {render.seconds(grace)})"
        state.out.print(f"node {visible(node_id)} asked to drain{within}")
    render.store_line(state.out, state.store_label(), state.lang)
