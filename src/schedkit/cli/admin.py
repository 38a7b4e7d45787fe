"""``schedkit check``, ``schedkit db upgrade`` and ``schedkit db rebuild-rollups``: is
the installation sound?"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from schedkit.alerts.config import AlertsSettings, config_warnings
from schedkit.calendars import CalendarBook, CalendarSet, WarningCode, referenced_names
from schedkit.definitions import inherits_default_schedule
from schedkit.engine.stale_kwargs import kwargs_problem
from schedkit.errors import SchedkitError, StoreNotFoundError, TaskDefinitionError
from schedkit.registry import TaskRegistry
from schedkit.service.extensions import alerts_extra_missing
from schedkit.service.location import describe_store, sqlite_file
from schedkit.service.orphans import pending_orphans, schedule_problem
from schedkit.service.pending_defaults import default_trigger, default_triggers, inherited_note
from schedkit.store import RollupRebuild, Store, UpgradeCheck, create_store
from schedkit.store._upgrade import live_nodes
from schedkit.triggers import ScheduleSpec, trigger_from_json

from . import render, words
from .errors import EXIT_FAILURE, CommandFailed
from .render import visible
from .state import CliState, JsonOpt, actor, get_state, management, run_async, wants_json

db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.add_typer(db_app, name="db")


@dataclass
class Report:
    """What ``check`` found: facts (``info``), ``problems`` (exit 1) and ``warnings``
    (what works but should change)."""

    info: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    store: str | None = None

    def problem(self, where: str, message: str) -> None:
        self.problems.append((where, " ".join(message.split())))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "store": self.store,
            "info": [{"check": c, "result": r} for c, r in self.info],
            "problems": [{"where": w, "problem": p} for w, p in self.problems],
            "warnings": [{"where": w, "warning": m} for w, m in self.warnings],
        }


async def _check(state: CliState, report: Report, require_store: bool) -> None:
    try:
        config = state.config()
    except SchedkitError as exc:
        report.problem("config", str(exc))
        return
    lang = state.lang
    report.info.append(("config", state.config_file() or words.fill("no config", lang)))
    report.info.append(("timezone", config.timezone))
    report.warnings.extend(("config", w) for w in config.warnings)
    try:
        alerts = AlertsSettings.from_config(config, warn=False)
        report.warnings.extend(("alerts", w) for w in config_warnings(config))
        if alerts.active:
            # As a node's start checks them; apprise is imported only when alerts are on.
            from schedkit.alerts.channels import AlertSender
            from schedkit.monitor import Monitor  # noqa: F401  (a node needs it to send)

            AlertSender(alerts.channels, alerts.delivery).validate()
    except SchedkitError as exc:
        report.problem("alerts", str(exc))
    except ImportError as exc:
        report.problem("alerts", str(alerts_extra_missing(exc)))

    store: Store | None = None
    try:
        store = create_store(config.store_url, **config.store_options)
    except SchedkitError as exc:
        report.problem("store", str(exc))
    label = report.store = describe_store(config.store_url, config.store_options)
    path = sqlite_file(config.store_url)
    if store is not None and path is not None and not path.exists():
        # A read command never creates a store.
        _absent_sqlite(report, label, path, require_store)
        store = None
    elif store is not None:
        try:
            # A check never upgrades: run before a rollback, it upgraded the store past
            # what the release to roll back to can run on.
            await store.open(create=False, upgrade=False)
            version = await store.schema_version()
            kind = words.fill(version_kind(config.store_url), lang)
            report.info.append(
                (
                    "store",
                    words.fill("store version", lang, store=label, kind=kind, version=version),
                )
            )
            if store.code_version is not None and version > store.code_version:
                newer = words.fill(
                    "store newer", lang, store=label, kind=kind, version=version,
                    code=store.code_version,
                )  # fmt: skip
                report.warnings.append(("store", newer))
            missing = await store.missing_privileges()
            for sentence in missing:
                report.problem("store privileges", sentence)
            for refused in [] if missing else await store.write_problems():
                report.problem("store writes", refused)
        except StoreNotFoundError as exc:
            # Not yet created is a sound state before the first start; a mistyped
            # database name shows here all the same (a problem with --require-store).
            said = f"{exc}: not created yet"
            if require_store:
                report.problem("store", f"{said} (--require-store)")
            else:
                report.warnings.append(("store", f"{said}; {_CREATED_AT_START}"))
            store = None
        except SchedkitError as exc:
            report.problem("store", str(exc))
            await store.close()
            store = None

    registry = TaskRegistry()
    try:
        registry.discover(config.task_packages)
        if config.entry_points:
            registry.discover_entry_points()
    except TaskDefinitionError as exc:
        if exc.task is not None and exc.attribute is not None:
            report.problem(f"task {exc.task}: {exc.attribute}", exc.problem)
        else:
            report.problem("discovery", str(exc))
    except SchedkitError as exc:
        report.problem("discovery", str(exc))
    packages = ", ".join(config.task_packages) or "-"
    report.info.append(("tasks", words.fill("tasks found", lang, n=len(registry), where=packages)))
    if not config.task_packages and not len(registry):
        report.problem("discovery", "no task_packages configured and no task found")

    try:
        for task in registry:
            if task.default_schedule is None:
                continue
            try:
                spec = ScheduleSpec.parse(task.default_schedule, default_timezone=config.timezone)
                task.validate_kwargs(spec.kwargs)
            except SchedkitError as exc:
                report.problem(f"task {task.task_name}: default schedule", str(exc))
                continue
            if inherits_default_schedule(task):
                report.warnings.append((f"task {task.task_name}", inherited_note(spec)))
        if store is not None:
            schedules = await store.list_schedules()
            report.info.append(
                ("schedules", words.fill("schedules stored", lang, n=len(schedules)))
            )
            defaults = await default_triggers(store, registry, config.timezone, schedules)
            triggers = [*(s.trigger for s in schedules), *defaults]
            names = referenced_names(triggers)
            books = await CalendarBook(store).refresh(names) if names else CalendarSet()
            _check_calendars(books, names, config.timezone, report, state.lang)
            await _check_builds(store, config.scheduler.lost_after, report)
            for gone in await store.outlived_nodes():
                report.problem(f"node {gone.node.id}", gone.problem())
            for s in schedules:
                where = f"schedule {s.id}"
                try:
                    trigger_from_json(s.trigger)
                except Exception as exc:
                    report.problem(where, f"invalid trigger: {exc}")
                owner = registry.get_task(s.task_name)
                if owner is None:
                    report.problem(where, schedule_problem(s))
                    continue
                if (problem := kwargs_problem(owner, s)) is not None:
                    report.problem(where, problem)
            lost_after = config.scheduler.lost_after
            orphans = await pending_orphans(store, registry, datetime.now(UTC), lost_after)
            for where, problem in orphans.problems:
                report.problem(where, problem)
            if orphans.warning is not None:
                report.warnings.append(("pending runs", orphans.warning))
        else:
            # No store yet: a first start stores every default schedule, and only the
            # built-in calendars exist (a new project's check said "no problem found"
            # while its defaults used an unconfirmed 2027).
            pending = (default_trigger(task, config.timezone) for task in registry)
            names = referenced_names(t for t in pending if t is not None)
            _check_calendars(CalendarSet(), names, config.timezone, report, state.lang)
    finally:
        if store is not None:
            await store.close()


#: What ``check`` says of a store not created yet that a first start can create.
_CREATED_AT_START = (
    "it will be created at the first start (of a node, a write command or `schedkit db "
    "upgrade`); `schedkit check --require-store` makes a missing store a problem"
)


def _absent_sqlite(report: Report, label: str, path: Path, require: bool) -> None:
    """A SQLite file that does not exist: a warning in a new project, where the first
    start creates it (an audit: a new user's first ``schedkit check`` failed until a store
    existed); a problem where that start would fail (its directory missing or not
    writable) and, with ``--require-store``, in any case (CI checking a deployed store,
    where a mistyped path must not pass)."""
    folder = path.parent
    if not folder.is_dir():
        missing = "is not a directory" if folder.exists() else "does not exist"
        report.problem("store", f"{label}: directory {folder} {missing}; no start can create it")
    elif not os.access(folder, os.W_OK | os.X_OK):
        report.problem(
            "store",
            f"{label} does not exist and directory {folder} is not writable by this user; "
            "no start can create it",
        )
    elif require:
        report.problem(
            "store", f"{label} does not exist (--require-store; `schedkit db upgrade` creates it)"
        )
    else:
        report.warnings.append(("store", f"{label} does not exist yet; {_CREATED_AT_START}"))


def _check_calendars(
    books: CalendarSet, names: list[str], timezone: str, report: Report, lang: words.Lang
) -> None:
    """A warning for each coming year of the calendars ``names`` (of the stored schedules
    and of the default schedules a node's start will store) that no source confirms
    ("calendar cn_workdays for 2027 not confirmed"), and a problem for each of them that
    does not exist."""
    if not names:
        return
    today = datetime.now(ZoneInfo(timezone)).date()
    for warning in books.warnings(names, today=today):
        where = f"{words.tr('calendar', lang)} {warning.calendar}"
        # "calendar cn_workdays: 2027 is not confirmed; ..." under "calendar cn_workdays"
        # (in Chinese "日历 cn_workdays：…").
        text = warning.message(lang).removeprefix(f"{where}: ").removeprefix(f"{where}：")
        if warning.code is WarningCode.MISSING:
            report.problem(where, text)
        else:
            report.warnings.append((where, text))


async def _check_builds(store: Store, lost_after: float, report: Report) -> None:
    """A warning when the live nodes run different code: a rolling upgrade under way, or
    one left half done (the version string alone is the same between releases)."""
    builds: dict[str, list[str]] = {}
    for node in live_nodes(await store.list_nodes(), datetime.now(UTC), lost_after):
        builds.setdefault(node.version or "unknown", []).append(node.id)
    if len(builds) > 1:
        which = "; ".join(f"{v}: {', '.join(ids)}" for v, ids in sorted(builds.items()))
        report.warnings.append(
            ("nodes", f"live nodes run different builds ({which}); finish or undo the upgrade")
        )


def check(
    ctx: typer.Context,
    require_store: Annotated[
        bool,
        typer.Option(
            "--require-store",
            help="A store not created yet is a problem (CI checking a deployed store), "
            "not a warning.",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Validate config, store, task discovery and every schedule; exit 1 on any problem."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    report = Report()
    run_async(_check(state, report, require_store))
    if as_json:
        render.emit_json(report.to_json())
    else:
        lang = state.lang
        render.print_kv(state.out, [(k, visible(v)) for k, v in report.info], lang)
        for where, warning in report.warnings:
            state.out.print(
                f"[yellow]{words.tr('warning', lang)}[/] {visible(where)}: {visible(warning)}"
            )
        if report.problems:
            table = render.table(["check", "problem"], lang)
            for where, problem in report.problems:
                table.add_row(visible(where), f"[red]{visible(problem)}[/]")
            state.out.print(table)
            state.out.print(f"[red]{words.fill('check problems', lang, n=len(report.problems))}[/]")
        else:
            state.out.print(f"[green]{words.fill('check ok', lang)}[/]")
    if report.problems:
        raise typer.Exit(EXIT_FAILURE)


IgnoreLiveNodesOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-live-nodes",
        help="Upgrade even if node rows heartbeated within scheduler.lost_after: only for "
        "nodes known to be gone (killed without stopping).",
    ),
]


def version_kind(store_url: str) -> str:
    """What the store's version counts: MongoDB's indexes, the SQL stores' schema."""
    return "index version" if store_url.lower().startswith("mongodb") else "schema version"


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context, json_: JsonOpt = False, ignore_live_nodes: IgnoreLiveNodesOpt = False
) -> None:
    """Create the store's schema or upgrade it to this version's."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    config = state.config()
    path = sqlite_file(config.store_url)
    check = UpgradeCheck(
        lost_after=config.scheduler.lost_after, ignore_live_nodes=ignore_live_nodes
    )

    async def work() -> tuple[int, int, int]:
        store = create_store(config.store_url, **config.store_options)
        await store.open(upgrade=check)
        try:
            version = await store.schema_version()
            return store.found_version or 0, version, store.code_version or version
        finally:
            await store.close()

    if path is not None and not path.parent.exists():
        raise CommandFailed(f"directory {path.parent} does not exist")
    found, version, code = run_async(work())
    created, upgraded = found == 0, 0 < found < version
    url = describe_store(config.store_url, config.store_options)
    if as_json:
        render.emit_json(
            {
                "store": url,
                "schema_version": version,
                "release_schema_version": code,
                "created": created,
                "upgraded_from": found if upgraded else None,
            }
        )
        return
    if created:
        key = "store created"
    elif upgraded:
        key = "store upgraded"
    else:
        # A store newer than this release (and compatible, or it would not open) is no
        # "up to date" one: the operator may be rolling back onto it.
        key = "store newer" if version > code else "store current"
    kind = words.fill(version_kind(config.store_url), state.lang)
    said = words.fill(
        key, state.lang, store=visible(url), kind=kind, version=version, found=found, code=code
    )
    state.out.print(said)


@db_app.command("rebuild-rollups")
def db_rebuild_rollups(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Recount the run statistics' rollups from the runs (safe while nodes run).

    The repair when statistics from the rollups (GET /stats, the console, tasks show)
    differ from the exact query (GET /stats?exact=true): e.g. runs finished by a node of
    an older release during an upgrade. Reads every finished run; audited."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)

    async def work() -> RollupRebuild:
        async with management(state, read_only=True) as s:
            return await s.rebuild_rollups(actor=actor())

    done = run_async(work())
    store = state.store_label()
    if as_json:
        render.emit_json(
            {
                "store": store,
                "tasks": done.tasks,
                "hours": done.hours,
                "runs": done.runs,
                "runs_before": done.runs_before,
                "seconds": round(done.seconds, 3),
            }
        )
        return
    lang = state.lang
    state.out.print(
        words.fill(
            "rollups rebuilt",
            lang,
            runs=f"{done.runs:,}",
            tasks=f"{done.tasks:,}",
            hours=f"{done.hours:,}",
            seconds=f"{done.seconds:.1f}",
        )
    )
    change = done.runs - done.runs_before
    key = "rollups were right" if change == 0 else "rollups corrected"
    state.out.print(words.fill(key, lang, before=f"{done.runs_before:,}", change=f"{change:+,}"))
    render.store_line(state.out, store, lang)
