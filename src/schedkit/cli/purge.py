"""``schedkit purge``: delete old history (finished runs with their log lines, the
workflow runs that ended, and with ``--audit-older-than`` the audit log).

The command says each cut-off in words and as a UTC date-time before anything else: an
operator who typed ``6m`` for six months (it is six minutes) deleted almost all history
unwarned. ``--dry-run`` counts and deletes nothing. At a terminal the command asks
before it deletes (``--yes`` does not ask); without one (cron, a pipe: stdin or stderr
not a TTY) it deletes at once, as it always did, so existing cron lines keep working.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

import typer

from schedkit.service.retention import (
    PurgeCounts,
    PurgePlan,
    duration_parts,
    duration_words,
    number,
    utc_stamp,
)

from . import render, words
from .errors import CommandFailed, options_named
from .parsing import parse_duration
from .state import JsonOpt, actor, get_state, management, run_async, wants_json
from .words import Lang

_ZH_UNITS = {"day": "天", "hour": "小时", "minute": "分钟", "second": "秒"}


def age_words(age: timedelta, lang: Lang) -> str:
    """``age`` in words of ``lang``: ``90 days``, ``90 天``."""
    if lang == "zh":
        return " ".join(f"{number(n)} {_ZH_UNITS[unit]}" for n, unit in duration_parts(age))
    return duration_words(age)


def interactive() -> bool:
    """Whether someone at a terminal can see a question and answer it: stdin and stderr
    (where it is asked) are TTYs. A program running the command with its stderr piped
    (a test, a wrapper script) would otherwise wait for an answer to a question unseen."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirmed(question: str) -> bool:
    """Ask ``question`` on stderr; True for an answer of y or yes. Not typer.confirm: it
    wrote a space to stdout after the answer, the first character of ``--json``'s."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def purge(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Age of finished runs to delete: 90d, 12h, 30m (m is minutes), 2w.",
        ),
    ],
    audit_older_than: Annotated[
        str | None,
        typer.Option(
            "--audit-older-than",
            metavar="DURATION",
            help="Also delete audit events older than this (e.g. 400d).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask at a terminal; delete at once.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Delete finished runs (and their logs) that finished longer ago than DURATION.

    Says the cut-off as a UTC date-time first; at a terminal it asks before deleting
    (--yes does not); without a terminal (cron) it deletes at once."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    age = parse_duration(older_than, "--older-than")
    audit_age = None
    if audit_older_than is not None:
        audit_age = parse_duration(audit_older_than, "--audit-older-than")
    lang = state.lang
    options = {"older_than": "--older-than", "audit_older_than": "--audit-older-than"}

    async def planned() -> PurgePlan:
        async with management(state, read_only=dry_run) as s:
            return await s.purge_plan(age, audit_age)

    with options_named(options):
        plan = run_async(planned())
    nothing = plan.runs == 0 and plan.workflow_runs == 0 and not plan.audit_events
    ask = not (dry_run or yes or nothing) and interactive()
    what = words.fill("purge and", lang).join(_described(plan, lang))
    question = words.fill("purge ask", lang, what=what)
    if ask and not confirmed(question):
        raise CommandFailed(words.fill("purge declined", lang))

    async def purged() -> tuple[PurgeCounts, int | None]:
        async with management(state) as s:
            runs = await s.purge_history(age, actor=actor(), as_of=plan.as_of)
            if audit_age is None:
                return runs, None
            return runs, await s.purge_audit(audit_age, actor=actor(), as_of=plan.as_of)

    nothing_done = PurgeCounts(runs=0, workflow_runs=0)
    deleted, audit_deleted = (nothing_done, None) if dry_run else run_async(purged())
    store = state.store_label()
    if as_json:
        render.emit_json(_json(store, plan, dry_run, deleted, audit_deleted))
        return
    if dry_run:
        described = _described(plan, lang)
        lines = [words.fill("purge would delete", lang, what=w) for w in described]
        lines.append(words.fill("purge dry run", lang))
    else:
        done = replace(
            plan,
            runs=deleted.runs,
            workflow_runs=deleted.workflow_runs,
            audit_events=audit_deleted,
        )
        lines = [words.fill("purge deleted", lang, what=what) for what in _described(done, lang)]
    for line in lines:
        state.out.print(line)
    render.store_line(state.out, store, lang)


def _described(plan: PurgePlan, lang: Lang) -> list[str]:
    """The runs (and audit events) of ``plan`` with their cut-offs in words and in UTC."""
    kinds = [("runs", plan.runs, plan.older_than, plan.finished_before)]
    if plan.workflow_runs:
        kinds.append(("workflow runs", plan.workflow_runs, plan.older_than, plan.finished_before))
    if plan.audit_older_than is not None and plan.audit_before is not None:
        kinds.append(("audit", plan.audit_events or 0, plan.audit_older_than, plan.audit_before))
    return [
        words.fill(
            f"purge {kind}", lang, n=f"{n:,}", age=age_words(age, lang), at=utc_stamp(before)
        )
        for kind, n, age, before in kinds
    ]


def _json(
    store: str, plan: PurgePlan, dry_run: bool, deleted: PurgeCounts, audit_deleted: int | None
) -> dict[str, Any]:
    """The JSON answer: the fields it always had (``store``, ``deleted``,
    ``older_than_seconds``) and, added, the cut-offs, the dry run's counts, the
    workflow runs' and the audit's."""
    data: dict[str, Any] = {
        "store": store,
        "deleted": deleted.runs,
        "workflow_runs_deleted": deleted.workflow_runs,
        "older_than_seconds": plan.older_than.total_seconds(),
        "older_than": age_words(plan.older_than, "en"),
        "finished_before": plan.finished_before,
        "dry_run": dry_run,
    }
    if dry_run:
        data["would_delete"] = plan.runs
        data["workflow_runs_would_delete"] = plan.workflow_runs
    if plan.audit_older_than is not None:
        data["audit_older_than_seconds"] = plan.audit_older_than.total_seconds()
        data["audit_older_than"] = age_words(plan.audit_older_than, "en")
        data["audit_before"] = plan.audit_before
        if dry_run:
            data["audit_would_delete"] = plan.audit_events
        else:
            data["audit_deleted"] = audit_deleted
    return data
