"""``schedkit workflow list|show|start|runs|status|retry``: workflows and their runs.

``start`` creates a workflow run that a running schedkit service executes (its steps are
ordinary runs; with no service alive it says so); ``--wait`` follows it to the end and
exits 0 only on success.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from schedkit import readmodels
from schedkit.limits import MAX_PAGE_SIZE
from schedkit.models import RunStatus, WorkflowStatus, utcnow

from . import render, words
from .errors import EXIT_FAILURE, UsageProblem
from .parsing import parse_params
from .render import visible
from .runs import alive_executors
from .state import (
    CliState,
    JsonOpt,
    ParamOpt,
    ParamsOpt,
    WaitOpt,
    actor,
    get_state,
    management,
    run_async,
    wants_json,
)
from .tasks import parameters_table
from .words import tr

workflow_app = typer.Typer(help="Workflows: DAGs of task steps (`schedkit workflow` lists them).")

_STATUS_STYLE = {"waiting": "dim", "ready": "cyan", "skipped": "yellow"}


def register(app: typer.Typer) -> None:
    app.add_typer(workflow_app, name="workflow")


@workflow_app.callback(invoke_without_command=True)
def workflow_group(ctx: typer.Context) -> None:
    """Workflows: `list` (the default), `show`, `start`, `runs`, `status`, `retry`."""
    if ctx.invoked_subcommand is None:
        list_workflows(ctx)


def _state_text(state: str, lang: words.Lang) -> str:
    if state in _STATUS_STYLE:
        return f"[{_STATUS_STYLE[state]}]{visible(tr(state, lang))}[/]"
    return render.status_text(RunStatus(state), lang)


def _wf_status(status: WorkflowStatus, lang: words.Lang) -> str:
    return render.status_text(RunStatus(status.value), lang)


@workflow_app.command("list")
def list_workflows(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the workflows defined in the task packages."""
    state = get_state(ctx)

    async def work() -> list[readmodels.WorkflowView]:
        async with management(state, read_only=True) as s:
            return [readmodels.workflow_view(wf) for wf in s.workflows.definitions()]

    views = run_async(work())
    store = state.store_label()
    if wants_json(ctx, json_):
        render.emit_json({"store": store, "workflows": [v.model_dump(mode="json") for v in views]})
        return
    if not views:
        state.out.print(tr("no workflows", state.lang))
        render.store_line(state.out, store, state.lang)
        return
    table = render.table(["name", "steps", "policy", "task", "description"], state.lang)
    for v in views:
        table.add_row(
            visible(v.name),
            visible(" → ".join(", ".join(layer) for layer in v.layers)),
            tr(v.failure_policy, state.lang),
            visible(v.launcher_task),
            visible(v.description),
        )
    state.out.print(table)
    render.store_line(state.out, store, state.lang)


@workflow_app.command("show")
def show_workflow(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="WORKFLOW")],
    json_: JsonOpt = False,
) -> None:
    """A workflow's steps (task, upstream steps, condition) and the params it declares."""
    state = get_state(ctx)

    async def work() -> tuple[readmodels.WorkflowView, dict[str, Any] | None]:
        async with management(state, read_only=True) as s:
            view = readmodels.workflow_view(s.workflows.definition(name))
            # Its launcher task answers with the declared params' schema, as it does for
            # the API's and the console's forms.
            return view, s.get_task(view.launcher_task).parameters_schema()

    view, params = run_async(work())
    store = state.store_label()
    if wants_json(ctx, json_):
        render.emit_json({"store": store, **view.model_dump(mode="json"), "params_schema": params})
        return
    lang = state.lang
    table = render.table(["step", "task", "after", "on"], lang, title=f"{view.name}")
    for step in view.steps:
        table.add_row(
            visible(step.name),
            visible(step.task),
            visible(", ".join(step.after) or "-"),
            tr(step.on, lang),
        )
    state.out.print(table)
    declared = parameters_table(params, lang)
    if declared is not None:
        state.out.print(declared)
    state.out.print(f"{tr('policy', lang)}: {tr(view.failure_policy, lang)}")
    render.store_line(state.out, store, lang)


@workflow_app.command("start")
def start_workflow(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="WORKFLOW")],
    param: ParamOpt = None,
    params: ParamsOpt = None,
    wait: WaitOpt = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, metavar="SECONDS", help="Stop waiting.")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Start it only once: run again with the same KEY, this command shows "
            "(or waits for) the workflow run the first one started.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Start a workflow now (a running schedkit service executes its steps)."""
    state = get_state(ctx)
    if timeout is not None and not wait:
        raise UsageProblem("--timeout needs --wait: it bounds the wait")
    values = parse_params(list(param or []), params)

    as_json = wants_json(ctx, json_)

    async def work() -> readmodels.WorkflowRunView:
        async with management(state) as s:
            started = await s.workflows.start(
                name, values, actor=actor(), idempotency_key=idempotency_key
            )
            run_id = started.record.id
            # Unlike `run --wait`, nothing is executed here: the steps are runs of many
            # tasks, which a service executes. Without one the wait went on in silence.
            running = started.record.status is WorkflowStatus.RUNNING
            unattended = running and not await alive_executors(s, state)
            if unattended and not as_json:
                more = words.fill("workflow ctrl-c", state.lang) if wait else ""
                note = words.fill("workflow no service", state.lang, id=run_id, more=more)
                state.err.print(f"[yellow]note:[/] {note}", soft_wrap=True)
            if not wait:
                return readmodels.workflow_run_view(started, state.tz())
            try:
                done = await s.workflows.wait(run_id, timeout)
            except asyncio.CancelledError:
                if not as_json:
                    state.err.print(words.fill("workflow goes on", state.lang, id=run_id))
                raise
            return readmodels.workflow_run_view(done, state.tz())

    view = run_async(work())
    _print_run(ctx, state, view, json_)
    if wait and view.status is not WorkflowStatus.SUCCESS:
        raise typer.Exit(EXIT_FAILURE)


@workflow_app.command("runs")
def list_runs(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(metavar="[WORKFLOW]")] = None,
    status: Annotated[
        WorkflowStatus | None, typer.Option("--status", help="Only runs with this status.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_PAGE_SIZE)] = 20,
    json_: JsonOpt = False,
) -> None:
    """Workflow runs, newest first."""
    state = get_state(ctx)

    async def work() -> list[readmodels.WorkflowRunSummary]:
        async with management(state, read_only=True) as s:
            runs = await s.workflows.history(name, status, limit=limit)
            if name is not None and not runs and not await s.workflows.count(name):
                s.workflows.definition(name)  # a typo is an error, not an empty list
            return [readmodels.workflow_run_summary(r, state.tz()) for r in runs]

    views = run_async(work())
    store = state.store_label()
    if wants_json(ctx, json_):
        render.emit_json({"store": store, "items": [v.model_dump(mode="json") for v in views]})
        return
    lang = state.lang
    if not views:
        state.out.print(tr("no workflow runs", lang))
        render.store_line(state.out, store, lang)
        return
    table = render.table(
        ["id", "workflow", "status", "source", "created", "duration"],
        lang,
        zone=state.tz().key,
    )
    for v in views:
        table.add_row(
            v.id,
            visible(v.workflow),
            _wf_status(v.status, lang),
            tr(v.trigger_source, lang),
            render.when(v.created_at_local, None),
            render.seconds(v.duration),
        )
    state.out.print(table)
    render.store_line(state.out, store, lang)


@workflow_app.command("status")
def run_status(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A workflow run's id.")],
    json_: JsonOpt = False,
) -> None:
    """A workflow run step by step: state, attempt, start, duration, message."""
    state = get_state(ctx)

    async def work() -> readmodels.WorkflowRunView:
        async with management(state, read_only=True) as s:
            return readmodels.workflow_run_view(await s.workflows.get(run_id), state.tz())

    _print_run(ctx, state, run_async(work()), json_)


@workflow_app.command("retry")
def retry_step(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A workflow run's id.")],
    step: Annotated[str, typer.Argument(metavar="STEP", help="The failed step.")],
    json_: JsonOpt = False,
) -> None:
    """Run a failed step again; the steps waiting on it follow (a service executes them)."""
    state = get_state(ctx)

    async def work() -> readmodels.WorkflowRunView:
        async with management(state) as s:
            await s.workflows.retry_step(run_id, step, actor=actor())
            return readmodels.workflow_run_view(await s.workflows.get(run_id), state.tz())

    _print_run(ctx, state, run_async(work()), json_)


def _print_run(
    ctx: typer.Context, state: CliState, view: readmodels.WorkflowRunView, json_: bool
) -> None:
    store = state.store_label()
    if wants_json(ctx, json_):
        render.emit_json({"store": store, **view.model_dump(mode="json")})
        return
    lang = state.lang
    state.out.print(
        f"{tr('workflow', lang)} {visible(view.workflow)} {view.id}: "
        f"{_wf_status(view.status, lang)} ({render.seconds(view.duration)})"
    )
    table = render.table(
        ["step", "task", "status", "attempt", "started", "duration", "message"],
        lang,
        zone=state.tz().key,
    )
    for step in view.steps:
        run = step.run
        status = _state_text(step.state, lang)
        message = words.step_reason(step.reason, lang) if step.reason else ""
        if run is not None and run.status is RunStatus.PENDING and run.failed_attempts > 0:
            # Waiting for its retry: "pending 2" and no word of why read as stuck.
            status, message = _retry_words(run, state, lang)
        elif run is not None and (run.error or run.reason):
            # Cancelled and lost runs have no error: their reason says what ended them.
            message = str((run.error or {}).get("message") or run.reason or "")
        elif run is not None and run.message:
            message = run.message  # what a finished step reported it did
        table.add_row(
            visible(step.name),
            visible(step.task),
            status,
            str(run.attempt) if run else "-",
            render.when(run.started_at_local, None) if run else "-",
            render.seconds(run.duration) if run else "-",
            visible(message),
        )
    state.out.print(table)
    render.store_line(state.out, store, lang)


def _retry_words(run: readmodels.RunSummary, state: CliState, lang: words.Lang) -> tuple[str, str]:
    """A step run waiting for its retry, as the console says it: its status, and when it
    retries (once that time has come, it waits for a free slot) and what the last
    attempt failed with."""
    parts = []
    if run.not_before > utcnow():
        at = render.when(run.not_before, state.tz())
        parts.append(words.fill("step retries at", lang, time=at))
    failure = run.last_failure or {}
    if failure.get("message"):
        parts.append(words.fill("step last failure", lang, message=str(failure["message"])))
    joined = ("；" if lang == "zh" else "; ").join(parts)  # zh: full-width, as its "："
    return f"[yellow]{visible(words.fill('step waits retry', lang))}[/]", joined
