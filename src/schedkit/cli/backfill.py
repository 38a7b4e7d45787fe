"""``schedkit backfill``: run a schedule's past fires over a range, show progress, cancel."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from schedkit.backfill_bounds import parse_bound
from schedkit.readmodels import BackfillView, backfill_view

from . import render, words
from .errors import UsageProblem, options_named
from .render import visible
from .state import CliState, JsonOpt, actor, get_state, management, run_async, wants_json
from .words import tr

#: How often ``--wait`` reads the progress again.
POLL = 0.5
_OPTIONS = {"from": "--from", "to": "--to"}


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill)


def backfill(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id.")],
    start: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="DATE", help="First day (YYYY-MM-DD), or a date-time with offset."
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", metavar="DATE", help="Last day, included (a date-time with offset: excluded)."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, max=100, metavar="N", help="Runs at once.  [default: 1]"
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until every run has finished.")
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show the latest backfill's progress.")
    ] = False,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Cancel the latest backfill's unfinished runs.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Run a schedule's past fires from --from to --to (at most --concurrency at once).

    Each run is marked as a backfill; asking again for the same range creates nothing
    twice. The runs execute on the nodes serving the store (``schedkit serve``).
    """
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    asks = (start is not None or end is not None) + status + cancel
    if asks != 1 or (start is None) != (end is None):
        raise UsageProblem("give --from and --to, or --status, or --cancel")
    if concurrency is not None and start is None:
        raise UsageProblem("--concurrency goes with --from and --to (a new backfill)")
    window = None
    if start is not None and end is not None:
        # The API's and Python's reading of a bound (docs/backfill.md), checked before any
        # store opens; its errors, and the façade's on the range, name the option.
        with options_named(_OPTIONS):
            window = (parse_bound(start, field="from"), parse_bound(end, field="to"))

    async def work() -> list[BackfillView]:
        # --status only reads: it never creates a store (a typo would show "no backfill").
        async with management(state, read_only=status) as s:
            if window is not None:
                with options_named(_OPTIONS):
                    done = await s.backfill(
                        schedule_id, *window, concurrency=concurrency or 1, actor=actor()
                    )
            elif cancel:
                done = await s.cancel_backfill(schedule_id, actor=actor())
            else:
                found = await s.backfill_status(schedule_id)
                if found is None:
                    raise UsageProblem(f"schedule {schedule_id!r} has no backfill")
                done = found
            views = [backfill_view(done, state.tz())]
            while wait and views[-1].state == "running":
                await asyncio.sleep(POLL)
                current = await s.backfill_status(schedule_id)
                assert current is not None
                view = backfill_view(current, state.tz())
                if view.done != views[-1].done and not as_json:
                    _progress(state, view)
                views.append(view)
            return views

    views = run_async(work())
    final = views[-1]
    if as_json:
        render.emit_json({"store": state.store_label(), **final.model_dump(mode="json")})
        return
    lang = state.lang
    first = views[0]
    state.out.print(
        words.fill(
            "backfill",
            lang,
            id=visible(schedule_id),
            start=first.start_local.strftime("%Y-%m-%d %H:%M"),
            end=first.end_local.strftime("%Y-%m-%d %H:%M"),
            n=first.concurrency,
            state=tr(final.state, lang),
        )
        + (f" [dim]({first.created} new)[/]" if first.created is not None else "")
    )
    _progress(state, final)
    render.store_line(state.out, state.store_label(), lang)


def _progress(state: CliState, view: BackfillView) -> None:
    state.out.print(words.fill("backfill progress", state.lang, **view.model_dump()))
