"""``schedkit run``, ``cancel`` and ``history`` (``purge`` is in :mod:`.purge`): runs and
their records.

``run TASK`` creates a manual run. Without ``--wait`` it returns at once (a running
service executes the run). With ``--wait`` it shows the run's progress and log lines
until it finishes, and exits 0 only on success. Where the run executes:

* ``--local``: here, in this process (no scheduler loop; the run it creates, and that
  run's retries, are the only runs it executes), whether or not a service is running;
* ``--remote``: by a running service; this command only watches;
* neither (default): by a service if a node with an executor is alive (its heartbeat is
  recent), else here, so a task can be run from the shell with nothing else started.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Coroutine
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from schedkit.errors import ConflictError
from schedkit.limits import MAX_CANCEL_REASON_CHARS, MAX_OFFSET, MAX_PAGE_SIZE
from schedkit.models import (
    LogLine,
    Node,
    Run,
    RunStatus,
    last_failure,
    time_across_attempts,
    to_json,
    utcnow,
)
from schedkit.readmodels import run_view
from schedkit.redaction import redact, redact_json, run_secrets
from schedkit.service import Scheduler
from schedkit.stopping import cancel_and_wait

from . import purge, render, words
from .errors import EXIT_FAILURE, CommandFailed, UsageProblem
from .loop import held, stopped_by
from .parsing import parse_params
from .render import visible
from .state import (
    CliState,
    JsonOpt,
    ParamOpt,
    ParamsOpt,
    WaitOpt,
    actor,
    executing,
    get_state,
    management,
    require_task,
    run_async,
    wants_json,
)
from .words import tr

#: Seconds between two reads of a watched run.
POLL_INTERVAL = 0.2
#: Node names of ``run --local`` processes start with this; they execute only their run.
LOCAL_NODE_PREFIX = "cli-run"
#: Longest sleep of a run's local execution between two reads of a run waiting for its
#: retry (a cancel meanwhile ends it).
RETRY_POLL = 1.0


def register(app: typer.Typer) -> None:
    app.command("run")(run_task)
    app.command("cancel")(cancel)
    app.command("history")(history)
    app.command("purge")(purge.purge)


# -- run ---------------------------------------------------------------------------------


def run_task(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", help="Task name.")],
    param: ParamOpt = None,
    params: ParamsOpt = None,
    wait: WaitOpt = False,
    local: Annotated[
        bool, typer.Option("--local", help="Execute here, in this process (implies --wait).")
    ] = False,
    remote: Annotated[
        bool,
        typer.Option(
            "--remote",
            help="Execute by a running service. Default: a service if one is alive, else here.",
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            metavar="SECONDS",
            help="Stop waiting after SECONDS (a run executing here is cancelled).",
        ),
    ] = None,
    logs: Annotated[
        bool, typer.Option("--logs/--no-logs", help="Show the run's log lines.")
    ] = True,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Create the run only once: run again with the same KEY, this command "
            "shows (or waits for) the run the first one created.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Run a task now, optionally waiting for it with a live progress bar."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    if local and remote:
        raise UsageProblem("--local and --remote contradict each other: give one")
    wait = wait or local
    if timeout is not None and not wait:
        raise UsageProblem("--timeout needs --wait (or --local): it bounds the wait")
    kv = list(param or [])
    require_task(state, task_name)

    async def work() -> tuple[Run, bool | None]:
        here: bool | None = True if local else False if remote else None
        if wait and here is not False:
            # Checked before a node executes anything here: started first, it claims the
            # task's pending runs at once and, when -p (or the key's use with other
            # params) is then refused, hands them back with an attempt spent.
            async with management(state) as s:
                kwargs = _kwargs(s, task_name, kv, params)
                if idempotency_key is None:
                    s.check_run_kwargs(task_name, kwargs)
                else:  # the key's earlier run too: the node would claim it, pending
                    await s.check_run_key(task_name, kwargs, idempotency_key)
                if here is None:
                    here = not await alive_executors(s, state)
                if here:
                    _check_labels_here(s, task_name, local)
        if wait and here:
            # A second signal lets the run created here be cancelled and the node stop
            # first (bounded): cut short, the creation left the run running with nothing
            # executing it, and a service retried it as lost.
            with held(lambda: state.err.print(words.fill("exit held", state.lang))):
                async with executing(state, node_name=_local_node_name(task_name)) as s:
                    keyed = idempotency_key is not None
                    creating = _create(s, task_name, kv, params, idempotency_key)
                    run = await _create_here(s, creating, state, keyed)
                    attempts = asyncio.create_task(_execute_here(s, run), name="schedkit-cli-run")
                    try:
                        shown = logs and not as_json
                        watched = await _watch_here(s, run, state, timeout, shown, keyed)
                    finally:
                        await cancel_and_wait(attempts)
                    return watched, True
        async with management(state) as s:
            run = await _create(s, task_name, kv, params, idempotency_key)
            if not wait:
                return run, bool(await alive_executors(s, state))
            if not as_json and run.status is RunStatus.PENDING:
                # Not of a run an idempotency key found running or ended: it waits for
                # nothing (the outcome follows).
                state.err.print(words.fill("waits for service", state.lang, id=run.id))
            try:
                return await _watch(s, run, state, timeout, logs and not as_json), False
            except asyncio.CancelledError:
                state.err.print(f"stopped waiting; run {run.id} goes on in the service")
                raise

    run, flag = run_async(work())
    store = state.store_label()
    if as_json:
        render.emit_json({"store": store, **run_view(run, state.tz()).model_dump(mode="json")})
    elif not wait:
        lang = state.lang
        said = {"id": run.id, "task": visible(run.task_name), "status": tr(run.status.value, lang)}
        # With a key, the run may be the one an earlier command created.
        if idempotency_key is None:
            state.out.print(words.fill("run created", lang, **said))
        else:
            state.out.print(words.fill("run for key", lang, key=visible(idempotency_key), **said))
        render.store_line(state.out, store, lang)
        if not flag:
            note = words.fill("no service", lang, task=visible(task_name))
            state.err.print(f"[yellow]note:[/] {note}")
    else:
        _print_outcome(state, run, timeout)
        render.store_line(state.out, store, state.lang)
    if wait and run.status is not RunStatus.SUCCESS:
        raise typer.Exit(EXIT_FAILURE)


def _check_labels_here(s: Scheduler, task_name: str, local: bool) -> None:
    """A run requiring labels this process does not offer is never claimed here: it
    waited until ``--timeout`` (or for ever) rather than say so."""
    offered = s.config.executor.labels
    missing = [label for label in s.get_task(task_name).labels if label not in offered]
    if missing:
        elsewhere = (
            "drop --local so that a service offering them executes it"
            if local
            else "start a node that offers them (no service is running)"
        )
        raise CommandFailed(
            f"task {task_name!r} requires the node label(s) {', '.join(missing)}, which "
            f"this process does not offer (executor.labels = {list(offered)}): {elsewhere}, "
            "or set executor.labels (SCHEDKIT_EXECUTOR__LABELS) here"
        )


def _local_node_name(task_name: str) -> str:
    return f"{LOCAL_NODE_PREFIX}[{task_name}]@{socket.gethostname()}"


async def alive_executors(s: Scheduler, state: CliState) -> list[Node]:
    """Nodes that would execute a run created now: an executor, a heartbeat within
    ``lost_after``; never a ``run --wait`` process executing here (it executes only the
    run it created)."""
    nodes = await s.list_nodes()
    cut = utcnow() - timedelta(seconds=state.config().scheduler.lost_after)
    return [
        n
        for n in nodes
        if "executor" in n.roles
        and n.heartbeat_at >= cut
        and not n.id.startswith(f"{LOCAL_NODE_PREFIX}[")
    ]


def _kwargs(s: Scheduler, task_name: str, kv: list[str], params: str | None) -> dict[str, Any]:
    """``-p``/``--params`` read as the task declares its parameters (strings stay text)."""
    return parse_params(kv, params, s.get_task(task_name).parameters_schema())


async def _create(
    s: Scheduler, task_name: str, kv: list[str], params: str | None, key: str | None
) -> Run:
    kwargs = _kwargs(s, task_name, kv, params)
    return await s.run_now(task_name, kwargs, actor=actor(), idempotency_key=key)


async def _execute_here(s: Scheduler, run: Run) -> None:
    """Execute ``run`` here whenever it waits to be executed: a retry once it is due, an
    earlier run found by an idempotency key that no node has taken. Claimed by its id,
    as the node claims nothing by itself (see :func:`executing`), whatever its executor
    and labels: "here" is what was asked, and a run of a Celery task left to Celery
    waited for ever with no worker up (a migration audit). A service that takes it
    first executes it; the claim decides. Returns when the run has finished."""
    while True:
        run = await s.get_run(run.id)
        if run.status.finished:
            return
        pause = POLL_INTERVAL
        if run.status is RunStatus.PENDING and run.blocked_by is None:
            pause = min((run.not_before - s.clock.now()).total_seconds(), RETRY_POLL)
            if pause <= 0:
                await s.execute_handed_off(run.id, run.task_name)
                continue
        await asyncio.sleep(pause)


async def _create_here(
    s: Scheduler, creating: Coroutine[Any, Any, Run], state: CliState, keyed: bool
) -> Run:
    """The run ``creating`` makes, executing here from its insert on. Ctrl-C (SIGTERM)
    while it was stored, or started with its audit record still being written, cut the
    creation short outside :func:`_watch_here`: the node's stop then ended the run as
    "service shut down before the run finished", or, cut in its insert, nothing
    executed it and it stayed ``running``. The creation ends first, then the run is
    cancelled as at any Ctrl-C."""
    made = asyncio.ensure_future(creating)
    try:
        return await asyncio.shield(made)
    except asyncio.CancelledError:
        await asyncio.wait([made])
        if not made.cancelled() and made.exception() is None:
            await _interrupted(s, made.result(), state, keyed)
        raise


async def _watch_here(
    s: Scheduler, run: Run, state: CliState, timeout: float | None, logs: bool, keyed: bool
) -> Run:
    """Watch a run executing in this process; cancel it on Ctrl-C or ``--timeout``
    (unless it is not this command's to stop: see :func:`_cancel_if_ours`)."""
    try:
        run = await _watch(s, run, state, timeout, logs)
    except asyncio.CancelledError:
        await _interrupted(s, run, state, keyed)
        raise
    if not run.status.finished:
        reason = f"the CLI stopped waiting after {timeout}s"
        if await _cancel_if_ours(s, run, state, keyed, reason):
            run = await s.wait_for_run(run.id, timeout=10)
    return run


async def _interrupted(s: Scheduler, run: Run, state: CliState, keyed: bool) -> None:
    """Cancel ``run`` with the user's reason (if ours) and let it end as cancelled (a
    thread checks ctx.cancelled between its steps) before the node stops: its stop
    would cancel it with its own reason."""
    why = f"interrupted in the CLI ({stopped_by()})"
    if await _cancel_if_ours(s, run, state, keyed, why):
        await s.wait_for_run(run.id, timeout=s.config.scheduler.shutdown_grace)


async def _cancel_if_ours(
    s: Scheduler, run: Run, state: CliState, keyed: bool, reason: str
) -> bool:
    """Cancel ``run`` as this command stops waiting for it, if it is this command's to
    stop; whether it was. Without an idempotency key the run is this command's own. With
    one it may be an earlier request's, executing on a service (or waiting for one),
    which a repeat must not cancel: it is cancelled only if it executes in this process."""
    if keyed and (await s.get_run(run.id)).node_id != s.node_id:
        state.err.print(f"run {run.id} goes on (not executed here)")
        return False
    await _cancel_quietly(s, run.id, reason)
    return True


async def _cancel_quietly(s: Scheduler, run_id: str, reason: str) -> None:
    with contextlib.suppress(ConflictError):  # it finished meanwhile
        await s.cancel_run(run_id, actor=actor(), reason=reason)


async def _watch(s: Scheduler, run: Run, state: CliState, timeout: float | None, logs: bool) -> Run:
    """Poll the run until it finishes (or ``timeout``), showing progress and logs."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    console = state.err
    view = _ProgressView(console, run.task_name, enabled=console.is_terminal and not state.json)
    after = -1
    with view:
        while True:
            run = await s.get_run(run.id)
            if logs:
                lines = await s.get_logs(run.id, after_seq=after)
                for line in lines:
                    _print_log(view.console, line, state.tz())
                if lines:
                    after = lines[-1].seq
            view.update(run, state)
            if run.status.finished or (deadline is not None and loop.time() >= deadline):
                return run
            await asyncio.sleep(POLL_INTERVAL)


def _print_log(console: Console, line: LogLine, tz: ZoneInfo) -> None:
    stamp = line.ts.astimezone(tz).strftime("%H:%M:%S")
    style = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow"}.get(line.level, "dim")
    # A log line keeps its lines (a traceback is a block); its other controls are shown.
    text = visible(redact(line.message), lines=True)
    console.print(f"[{style}]{stamp} {line.level:<7}[/] {text}", soft_wrap=True)


class _ProgressView:
    """A live bar from the run's progress (``ctx.progress(done, total, note)``)."""

    def __init__(self, console: Console, task_name: str, *, enabled: bool) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self.console = console
        self.task_id = self.progress.add_task(task_name, total=None, note="pending")
        # Without a terminal (cron, CI) the bar is off: a retry is said as a line instead,
        # once per attempt (the command printed nothing for a minute of retries).
        self.lines = not enabled
        self._said: tuple[int, RunStatus] | None = None

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, run: Run, state: CliState) -> None:
        progress = run.progress or {}
        total = progress.get("total")
        done = progress.get("done") or 0
        note = redact(str(progress.get("note") or ""))
        status = tr(run.status.value, state.lang)
        if run.status is RunStatus.PENDING and run.attempt > 1:
            retry_at = render.when(run.not_before, state.tz())
            status = f"attempt {run.attempt}/{run.max_attempts} at {retry_at}"
            self._say_retry(run, status)
        label = f"{status} · {note}" if note and run.status is RunStatus.RUNNING else status
        if run.status.finished and total is None:
            total, done = 1, 1
        self.progress.update(
            self.task_id,
            total=float(total) if isinstance(total, int | float) else None,
            completed=float(done) if isinstance(done, int | float) else 0,
            note=visible(label),
        )

    def _say_retry(self, run: Run, status: str) -> None:
        if not self.lines or self._said == (run.attempt, run.status):
            return
        self._said = (run.attempt, run.status)
        failure = last_failure(run)
        why = f" ({failure.get('type')}: {failure.get('message')})" if failure else ""
        self.console.print(
            f"attempt {run.attempt - 1} ended{visible(redact(why))}; {status}", soft_wrap=True
        )


def _print_outcome(state: CliState, run: Run, timeout: float | None) -> None:
    lang = state.lang
    message = render.run_message(run, lang, state.tz())
    said: dict[str, Any] = {
        "id": run.id,
        "task": visible(run.task_name),
        "status": render.status_text(run.status, lang),
        "duration": render.seconds(run.duration),
    }
    tail = f": {visible(message)}" if message else ""
    if not run.status.finished:
        still = {**said, "status": tr(run.status.value, lang)}
        state.out.print(f"[yellow]…[/] {words.fill('run still', lang, timeout=timeout, **still)}")
        return
    ok = run.status is RunStatus.SUCCESS
    sentence = "run finished" if ok else "run ended"
    across = time_across_attempts(run)
    if across is not None:
        said.update(attempts=run.attempt, duration=render.seconds(across))
        sentence = "run after attempts"
    mark = "[green]✔[/]" if ok else "[red]✘[/]"
    state.out.print(f"{mark} {words.fill(sentence, lang, **said)}{tail}")
    statistics = to_json((run.result or {}).get("statistics"))
    stats = redact_json(statistics, run_secrets(run.task_name, run.kwargs)) if ok else None
    if isinstance(stats, dict) and stats:
        rows = [(visible(str(k)), visible(render.brief(v))) for k, v in stats.items()]
        render.print_kv(state.out, rows, lang)


# -- cancel ------------------------------------------------------------------------------


def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id.")],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Why, stored as the run's reason [default: cancelled by cli:USER@HOST].",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Cancel a pending run, or stop a running one.

    A pending run is cancelled at once; a running one is asked to stop, and the node that
    runs it (any node) stops it. A run that has ended is a conflict (exit 1)."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    if reason is not None and len(reason) > MAX_CANCEL_REASON_CHARS:
        raise UsageProblem(
            f"--reason: at most {MAX_CANCEL_REASON_CHARS:,} characters, not {len(reason):,}"
        )

    async def work() -> Run:
        async with management(state) as s:
            return await s.cancel_run(run_id, actor=actor(), reason=reason)

    run = run_async(work())
    if run.status.finished and run.status is not RunStatus.CANCELLED:
        # It ended between the façade's check and its cancel: as refused as a run that
        # had ended before (the API's 409 message).
        raise CommandFailed(f"run {run.id} is already {run.status.value}")
    store = state.store_label()
    if as_json:
        render.emit_json({"store": store, **run_view(run, state.tz()).model_dump(mode="json")})
        return
    lang = state.lang
    said = {"id": run.id, "task": visible(run.task_name)}
    if run.status is RunStatus.CANCELLED:
        state.out.print(words.fill("run cancelled", lang, **said))
    else:
        # This process executes nothing: the node that runs it reads the request from
        # the store at its next heartbeat and stops it there.
        node = visible(run.node_id or "-")
        state.out.print(words.fill("cancel requested", lang, node=node, **said))
    render.store_line(state.out, store, lang)


# -- history -----------------------------------------------------------------------------


def history(
    ctx: typer.Context,
    task_name: Annotated[
        str | None, typer.Argument(metavar="[TASK]", help="Task name (default: every task).")
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, max=MAX_PAGE_SIZE, metavar="N", help="Runs to show."),
    ] = 20,
    offset: Annotated[
        int, typer.Option("--offset", min=0, max=MAX_OFFSET, metavar="N", help="Runs to skip.")
    ] = 0,
    status: Annotated[
        list[RunStatus] | None,
        typer.Option(
            "--status",
            "-s",
            metavar="STATUS",
            help="Only this status (repeatable): pending, running, success, failed, timeout, "
            "cancelled, skipped, missed, lost.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Show a task's runs, newest first."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> tuple[list[Run], int]:
        async with management(state, read_only=True) as s:
            runs = await s.list_runs(task_name, status=status or None, limit=limit, offset=offset)
            total = await s.count_runs(task_name, status=status or None)
            if task_name is not None and total == 0:
                s.get_task(task_name)  # a typo is an error, not an empty history
            return runs, total

    runs, total = run_async(work())
    tz = state.tz()
    store = state.store_label()
    if as_json:
        page = [run_view(r, tz) for r in runs]
        render.emit_json(
            {"store": store, "total": total, "limit": limit, "offset": offset, "runs": page}
        )
        return
    out = state.out
    if not runs:
        out.print(tr("no runs", state.lang))
    else:
        table = render.runs_table(
            runs, tz, state.lang, with_task=task_name is None, width=out.width
        )
        out.print(table)
        out.print(f"{offset + 1}–{offset + len(runs)} / {total}", style="dim")
    render.store_line(out, store, state.lang)
