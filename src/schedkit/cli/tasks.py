"""``schedkit tasks list|show``: the registered tasks, their schedules and last runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table

from schedkit import readmodels
from schedkit.limits import MAX_PAGE_SIZE
from schedkit.models import Run

from . import render, words
from .render import visible
from .schedule_list import paused_cell, schedule_cell
from .state import JsonOpt, get_state, management, run_async, wants_json
from .words import tr

tasks_app = typer.Typer(help="Registered tasks (`schedkit tasks` alone lists them).")


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")


@tasks_app.callback(invoke_without_command=True)
def tasks_group(ctx: typer.Context) -> None:
    """Registered tasks: `list` (the default) and `show TASK`."""
    if ctx.invoked_subcommand is None:
        list_tasks(ctx)


def _schedules_text(summary: readmodels.TaskSummary, lang: words.Lang) -> str:
    parts = [
        schedule_cell(s, lang)
        + (f" ({tr('paused', lang)})" if s.paused else "")
        + (f" [{render.next_run(s, lang)}]" if s.ended else "")
        for s in summary.schedules
    ]
    hidden = summary.schedule_count - len(summary.schedules)
    if hidden > 0:
        parts.append(words.fill("more schedules", lang, n=f"{hidden:,}"))
    return "; ".join(parts) if parts else tr("manual only", lang)


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only tasks with any of these tags.")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List tasks with their schedules, next run and last outcome."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    lang = state.lang

    async def work() -> tuple[list[readmodels.TaskSummary], str]:
        async with management(state, read_only=True) as s:
            summaries = await readmodels.task_summaries(s, s.list_tasks(category, tag), lang)
            return summaries, s.registry.searched()

    summaries, searched = run_async(work())
    store = state.store_label()
    if as_json:
        render.emit_json({"store": store, "tasks": [v.model_dump(mode="json") for v in summaries]})
        return
    if not summaries:
        filtered = category is not None or bool(tag)
        state.out.print(
            tr("no tasks", lang)
            + ("" if filtered else f" ({visible(searched)}; {visible(state.where_to_look())})")
        )
    else:
        headers = ["name", "category", "priority", "schedule", "next run", "last run"]
        # On a narrow screen the schedule keeps the room: category and priority go.
        drop = {"category", "priority"} if state.out.width < render.NARROW else set()
        table = render.table([h for h in headers if h not in drop], lang)
        for v in summaries:
            cells = {
                "name": visible(v.name),
                "category": visible(v.category),
                "priority": tr(v.priority_name.lower(), lang),
                "schedule": visible(_schedules_text(v, lang)),
                "next run": render.when(v.next_fire_time_local, None),
                "last run": render.status_text(v.last_run.status, lang) if v.last_run else "-",
            }
            table.add_row(*(cell for header, cell in cells.items() if header not in drop))
        state.out.print(table)
    render.store_line(state.out, store, lang)


@tasks_app.command("show")
def show_task(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", help="Task name.")],
    runs: Annotated[
        int, typer.Option("--runs", "-n", min=0, max=MAX_PAGE_SIZE, help="Recent runs to show.")
    ] = 5,
    json_: JsonOpt = False,
) -> None:
    """Show one task: description, parameters, schedules and recent runs."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    lang = state.lang

    async def work() -> tuple[readmodels.TaskDetail, list[Run]]:
        async with management(state, read_only=True) as s:
            detail = await readmodels.task_detail(s, task_name, lang)
            recent = await s.list_runs(task_name, limit=runs) if runs else []
            return detail, recent

    detail, recent = run_async(work())
    tz = state.tz()
    if as_json:
        data = detail.model_dump(mode="json")
        data["recent_runs"] = [readmodels.run_view(r, tz).model_dump(mode="json") for r in recent]
        render.emit_json({"store": state.store_label(), **data})
        return
    out = state.out
    retry = detail.retry
    render.print_kv(
        out,
        [
            ("name", f"[bold]{visible(detail.name)}[/]"),
            ("description", visible(detail.description or "-")),
            ("category", visible(detail.category)),
            ("tags", visible(", ".join(detail.tags) or "-")),
            ("priority", tr(detail.priority_name.lower(), lang)),
            (
                "retry",
                words.fill(
                    "retry",
                    lang,
                    n=retry.max_retries,
                    delay=render.seconds(retry.retry_delay),
                    factor=f"{retry.backoff_factor:g}",
                ),
            ),
            ("timeout", render.seconds(detail.timeout)),
        ],
        lang,
    )
    params = parameters_table(detail.parameters_schema, lang)
    if params is not None:
        out.print(params)
    if detail.schedules:
        table = render.table(
            ["id", "schedule", "parameters", "next run", "paused", "policies"],
            lang,
            title=tr("schedules", lang),
        )
        for s in detail.schedules:
            table.add_row(
                visible(s.id),
                visible(schedule_cell(s, lang)),
                visible(json.dumps(s.kwargs, ensure_ascii=False) if s.kwargs else "-"),
                visible(render.next_run(s, lang)),
                visible(paused_cell(s, lang)),
                visible(
                    words.fill(
                        "policies",
                        lang,
                        n=s.max_instances,
                        overlap=tr(s.overlap.value, lang),
                        grace=render.seconds(s.misfire_grace_time),
                        # The schedule's own, else the task's.
                        timeout=render.seconds(
                            s.timeout if s.timeout is not None else detail.timeout
                        ),
                    )
                ),
            )
        out.print(table)
        if detail.schedule_count > len(detail.schedules):
            shown, total = len(detail.schedules), f"{detail.schedule_count:,}"
            out.print(words.fill("schedules shown", lang, shown=shown, total=total))
    else:
        out.print(f"{tr('schedules', lang)}: {tr('manual only', lang)}")
    if runs:
        if recent:
            out.print(
                render.runs_table(
                    recent,
                    tz,
                    lang,
                    title=tr("recent runs", lang),
                    with_task=False,
                    width=out.width,
                )
            )
        else:
            out.print(tr("no runs", lang))
    render.store_line(out, state.store_label(), lang)


def parameters_table(schema: Mapping[str, Any] | None, lang: words.Lang) -> Table | None:
    """Declared parameters (a JSON Schema's properties): name, type, default, required;
    None when nothing is declared (a task or workflow that takes any)."""
    if schema is None or not isinstance(schema.get("properties"), dict):
        return None
    required = set(schema.get("required") or ())
    table = render.table(
        ["name", "type", "default", "required"], lang, title=tr("parameters", lang)
    )
    for name, prop in schema["properties"].items():
        default = "-"
        if isinstance(prop, dict) and "default" in prop:
            default = json.dumps(prop["default"], ensure_ascii=False)
        table.add_row(
            visible(name),
            visible(_schema_type(prop, lang)),
            visible(default),
            tr("yes", lang) if name in required else tr("no", lang),
        )
    return table


def _schema_type(prop: Any, lang: words.Lang) -> str:
    if not isinstance(prop, dict):
        return tr("any", lang)
    if "type" in prop:
        kind = tr(str(prop["type"]), lang)
        return f"{kind} ({tr(str(prop['format']), lang)})" if "format" in prop else kind
    if "anyOf" in prop:
        return " | ".join(_schema_type(p, lang) for p in prop["anyOf"])
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    return tr("any", lang)
