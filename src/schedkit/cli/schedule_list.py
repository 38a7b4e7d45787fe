"""``schedkit schedules``: every stored schedule, a page at a time."""

from __future__ import annotations

from typing import Annotated

import typer

from schedkit.limits import MAX_OFFSET, MAX_PAGE_SIZE
from schedkit.readmodels import ScheduleView, schedule_page

from . import render, words
from .render import visible
from .state import JsonOpt, get_state, management, run_async, wants_json
from .words import tr


def register(app: typer.Typer) -> None:
    app.command("schedules")(list_schedules)


def schedule_cell(view: ScheduleView, lang: words.Lang) -> str:
    """A schedule in words; a default schedule no node stored yet says so."""
    return view.description + ("" if view.stored else words.fill("pending default", lang))


def paused_cell(view: ScheduleView, lang: words.Lang) -> str:
    """Whether a schedule is paused, with its pause note."""
    if not view.paused:
        return tr("no", lang)
    return tr("yes", lang) + (f" ({view.pause_note})" if view.pause_note else "")


def list_schedules(
    ctx: typer.Context,
    task_name: Annotated[
        str | None, typer.Option("--task", "-t", metavar="TASK", help="Only this task's.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", min=1, max=MAX_PAGE_SIZE, metavar="N", help="Schedules to show."
        ),
    ] = 50,
    offset: Annotated[
        int,
        typer.Option("--offset", min=0, max=MAX_OFFSET, metavar="N", help="Schedules to skip."),
    ] = 0,
    json_: JsonOpt = False,
) -> None:
    """List schedules in id order, with their task, trigger and next run.

    A page at a time (a store may hold 100,000): --offset for the next ones. The tasks'
    default schedules no node stored yet come first, marked.
    """
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    lang = state.lang

    async def work() -> tuple[list[ScheduleView], int]:
        async with management(state, read_only=True) as s:
            views, total = await schedule_page(s, task_name, limit, offset, lang)
            if task_name is not None and total == 0:
                s.get_task(task_name)  # a typo is an error, not an empty list
            return views, total

    views, total = run_async(work())
    store = state.store_label()
    if as_json:
        items = [v.model_dump(mode="json") for v in views]
        render.emit_json(
            {"store": store, "total": total, "limit": limit, "offset": offset, "schedules": items}
        )
        return
    out = state.out
    if not views:
        out.print(tr("no schedules", lang) if offset == 0 else f"{offset:,} / {total:,}")
    else:
        table = render.table(["id", "task", "schedule", "next run", "paused"], lang)
        for view in views:
            table.add_row(
                visible(view.id),
                visible(view.task_name),
                visible(schedule_cell(view, lang)),
                visible(render.next_run(view, lang)),
                visible(paused_cell(view, lang)),
            )
        out.print(table)
        shown = f"{offset + 1:,}–{offset + len(views):,} / {total:,}"
        more = offset + len(views) < total
        out.print(shown + (f"  (--offset {offset + len(views)})" if more else ""), style="dim")
    render.store_line(out, store, lang)
