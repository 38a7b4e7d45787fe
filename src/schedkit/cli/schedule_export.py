"""``schedkit schedule export``: the stored schedules as the JSON lines ``schedkit
schedule import`` takes, to move them to another store (docs/stores.md, "Moving to
another store"; what a line holds: :mod:`schedkit.service.schedule_copy`), and what an
import does with lines stored already as they say."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from schedkit.service import Scheduler
from schedkit.service.bulk import EntryError, ScheduleEntry, entry_id
from schedkit.service.schedule_copy import schedule_line, stored_alike

from . import render, words
from .render import visible
from .state import CliState, actor, get_state, management, run_async
from .words import tr

#: Schedules read per page of an export.
PAGE = 1000
#: Ids a message names at most.
SHOWN_IDS = 20


def register(app: typer.Typer) -> None:
    app.command("schedule-export", hidden=True)(export_schedules)


def export_schedules(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", dir_okay=False, help="[default: stdout]"),
    ] = None,
) -> None:
    """Write every stored schedule as JSON lines that `schedkit schedule import` takes.

    To move schedules to another store: definition, kwargs (unredacted), pause and note;
    fire times are computed again by the import. See docs/stores.md.
    """
    state = get_state(ctx)

    async def work() -> tuple[list[dict[str, Any]], list[str]]:
        lines: list[dict[str, Any]] = []
        ended: list[str] = []
        async with management(state, read_only=True) as s:
            while page := await s.list_schedules(limit=PAGE, offset=len(lines) + len(ended)):
                for schedule in page:
                    line = schedule_line(schedule)
                    if line is None:
                        ended.append(schedule.id)
                    else:
                        lines.append(line)
        return lines, ended

    lines, ended = run_async(work())
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if output is None:
        typer.echo(text, nl=False)
    else:
        _write_private(output, text)
    if ended:
        said = words.fill("export ended", state.lang, n=len(ended), ids=_ids(ended))
        state.err.print(f"[yellow]{tr('warning', state.lang)}[/] {visible(said)}", soft_wrap=True)
    if output is not None:
        said = words.fill("exported", state.lang, n=len(lines), file=visible(str(output)))
        state.out.print(said)
        render.store_line(state.out, state.store_label(), state.lang)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only: kwargs are written as
    stored, secrets included."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as file:
        file.write(text)


async def import_new(
    s: Scheduler, entries: Sequence[ScheduleEntry | EntryError]
) -> tuple[int, list[str]]:
    """Create the schedules of ``entries`` but those stored already as their line says
    (left as they are); how many were created, and the ids left."""
    alike = await stored_alike(s, entries)
    rest: list[ScheduleEntry | EntryError] = []
    left: list[str] = []
    for entry in entries:
        if isinstance(entry, ScheduleEntry) and entry.line in alike:
            left.append(entry_id(entry))
        else:
            rest.append(entry)
    created = len(await s.add_schedules(rest, actor=actor())) if rest else 0
    return created, sorted(left)


def say_unchanged(state: CliState, ids: list[str]) -> None:
    """The line an import prints for the schedules it found stored as the file has them."""
    if ids:
        said = words.fill("import unchanged", state.lang, n=len(ids), ids=_ids(ids))
        state.out.print(visible(said), soft_wrap=True)


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN_IDS])
    return shown + (f", … (+{len(ids) - SHOWN_IDS:,})" if len(ids) > SHOWN_IDS else "")
