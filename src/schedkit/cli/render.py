"""Output: rich tables for people, JSON for scripts, times in the configured zone."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schedkit import models
from schedkit._controls import escape_controls, json_safe
from schedkit.models import Run, RunStatus, attempt_failure, handed_back, to_json
from schedkit.readmodels import ScheduleView
from schedkit.redaction import mask_values, redact, run_secrets
from schedkit.service.past_dates import FireRecorded, PastEndDate, ScheduleNote

from .words import Lang, fill, run_reason, tr


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` safe to print through rich: markup escaped, and control characters
    (ESC, NUL, C1, bidi controls ... ; newlines too unless ``lines``) shown as escapes
    (``\\x1b``), so that a stored note, name or log line cannot move the cursor, recolour
    the terminal or fake a line of output. Every string a user or a task supplied goes
    through here before the CLI prints it."""
    return escape(escape_controls(text, lines=lines))


STATUS_STYLE: dict[RunStatus, str] = {
    RunStatus.PENDING: "cyan",
    RunStatus.RUNNING: "blue",
    RunStatus.SUCCESS: "green",
    RunStatus.FAILED: "red",
    RunStatus.TIMEOUT: "red",
    RunStatus.LOST: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.SKIPPED: "yellow",
    RunStatus.MISSED: "yellow",
}


def next_run(view: ScheduleView, lang: Lang) -> str:
    """A schedule's next run (the one its calendar allows), why its calendar allows none,
    or why it has ended (with its count when max_runs ended it)."""
    if view.ended is None:
        if view.next_fire_time_local is None and view.next_fire_note is not None:
            return view.next_fire_note
        return when(view.next_fire_time_local, None)
    why = tr(view.ended.replace("_", " "), lang) if lang == "en" else tr(view.ended, lang)
    if view.ended == "max_runs":
        why += f" {view.run_count}/{view.max_runs}"
    return fill("ended", lang, why=why)


def schedule_note(found: ScheduleNote, lang: Lang) -> str:
    """A note on a schedule saved, in the CLI's words and language."""
    if isinstance(found, PastEndDate):
        at = f"{when(found.end_date, None)} ({found.zone})"
        return fill("past end date", lang, id=found.schedule_id, at=at)
    if isinstance(found, FireRecorded):
        return fill(
            "fire recorded",
            lang,
            id=found.schedule_id,
            at=f"{when(found.fire, None)} ({found.zone})",
            run=found.run_id,
            status=tr(found.status.value, lang),
            then=fill("fire recorded once" if found.once else "fire recorded again", lang),
        )
    text = fill(
        "past run date",
        lang,
        id=found.schedule_id,
        at=f"{when(found.run_date, None)} ({found.zone})",
        late=_elapsed(found.late.total_seconds()),
        grace=seconds(found.misfire_grace_time),
    )
    if found.local_zone is not None:
        text += fill("naive zone", lang, zone=found.zone, local=found.local_zone)
    return text


def _elapsed(value: float) -> str:
    """:func:`seconds` with whole days first: years read as days, not 60,000 hours."""
    days, rest = divmod(value, 86400)
    return f"{int(days)}d{seconds(rest)}" if days else seconds(rest)


def store_line(console: Console, label: str, lang: Lang) -> None:
    """The store a command used, as the last line of its output."""
    console.print(f"{tr('store', lang)} {visible(label)}", style="dim", soft_wrap=True)


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (UTF-8 kept readable, datetimes ISO 8601)."""
    typer.echo(json_safe(json.dumps(to_json(data), ensure_ascii=False, indent=2)))


#: Below this console width, tables leave out secondary columns.
NARROW = 110

#: Columns that never wrap (times, ids, statuses); the others fold.
_NO_WRAP = frozenset(
    {
        "run",
        "id",
        "name",
        "status",
        "scheduled",
        "next run",
        "created",
        "last used",
        "duration",
        "attempt",
    }
)


def table(
    headers: Sequence[str], lang: Lang, *, title: str | None = None, zone: str | None = None
) -> Table:
    """A table of ``headers``; ``zone``: its times are in that zone, said under it (a bare
    ``2024-05-01 02:00:00`` read as the reader's own zone, or the server's)."""
    t = Table(
        title=title,
        title_justify="left",
        caption=fill("times in", lang, zone=zone) if zone else None,
        caption_justify="left",
        caption_style="dim",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in headers:
        # Fold, never cut: a cell's text all shows (Chinese text has no spaces to wrap
        # at, and rich's default ellipsis dropped the rest of a description).
        t.add_column(tr(header, lang), no_wrap=header in _NO_WRAP, overflow="fold")
    return t


def when(value: datetime | None, tz: ZoneInfo | None) -> str:
    """An aware datetime in ``tz`` (None: as it is) as ``YYYY-MM-DD HH:MM:SS``; '-' for None."""
    if value is None:
        return "-"
    local = value if tz is None else value.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def status_text(status: RunStatus, lang: Lang) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{visible(tr(status.value, lang))}[/]"


def short_id(run_id: str) -> str:
    """The last 8 hex digits: ids start with a timestamp, so the tail tells runs apart."""
    return run_id[-8:]


def run_message(run: Run, lang: Lang, tz: tzinfo) -> str:
    """What a person wants to know about a run's outcome, in one line, with credentials
    masked as the read models mask them (:func:`schedkit.redaction.redact`); a fire's
    time in its reason is said in ``tz``."""
    if run.error:
        text = _error_text(run.error)
    elif run.result:
        text = str(run.result.get("message") or "")
    else:
        text = run_reason(run.reason or "", lang, tz)
    if run.status is RunStatus.PENDING and run.attempt > 1 and run.attempt_errors:
        # The pending run's own fields were cleared by the requeue: the attempt before
        # says why it waits.
        last = run.attempt_errors[-1]
        error = attempt_failure(last) or {}
        if handed_back(last):
            text = fill("handed back", lang, error=error.get("message") or "")
        else:
            text = fill("retry pending after", lang, error=_error_text(error) or last.get("status"))
    return redact(" ".join(mask_values(text, run_secrets(run.task_name, run.kwargs)).split()))


def _error_text(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    message = str(error.get("message") or "")
    return f"{kind}: {message}" if kind else message


def brief(value: Any, limit: int = 100) -> str:
    """A value on one line: scalars as they are, the rest as JSON cut at ``limit``."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = str(value)
    else:
        text = json.dumps(to_json(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_text(progress: Mapping[str, Any] | None) -> str:
    """``done/total note``, the note redacted."""
    if not progress:
        return ""
    done, total, note = progress.get("done"), progress.get("total"), progress.get("note")
    amount = f"{_num(done)}/{_num(total)}" if total else _num(done)
    return f"{amount} {redact(str(note))}" if note else amount


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def runs_table(
    runs: Sequence[Run],
    tz: ZoneInfo,
    lang: Lang,
    *,
    title: str | None = None,
    with_task: bool = True,
    width: int = 140,
) -> Table:
    """Runs as a table; on a narrow screen (< 110 columns) source and attempt are left out."""
    headers = ["run", "task", "status", "source", "scheduled", "duration", "attempt", "message"]
    drop = set() if with_task else {"task"}
    if width < NARROW:
        drop |= {"source", "attempt"}
    t = table([h for h in headers if h not in drop], lang, title=title, zone=tz.key)
    for run in runs:
        message = run_message(run, lang, tz)
        if run.status is RunStatus.RUNNING and run.progress:
            message = progress_text(run.progress)
        cells = {
            "run": short_id(run.id),
            "task": visible(run.task_name),
            "status": status_text(run.status, lang),
            "source": tr(run.trigger_source.value, lang),
            "scheduled": when(run.scheduled_for, tz),
            # Across attempts, as `run --wait` says it (the last one's alone said 0.00s).
            "duration": seconds(models.time_across_attempts(run) or run.duration),
            "attempt": f"{run.attempt}/{run.max_attempts}",
            "message": visible(message),
        }
        t.add_row(*(cell for header, cell in cells.items() if header not in drop))
    return t


def print_kv(console: Console, rows: Sequence[tuple[str, str]], lang: Lang) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(tr(key, lang), value)
    console.print(grid)
