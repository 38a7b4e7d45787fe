"""``schedkit check`` and ``schedkit db upgrade``: is the installation sound?"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from schedkit.errors import SchedkitError
from schedkit.registry import TaskRegistry
from schedkit.store import Store, create_store
from schedkit.triggers import ScheduleSpec, trigger_from_json

from . import render
from .errors import EXIT_FAILURE, CommandFailed
from .render import tr
from .state import CliState, JsonOpt, get_state, run_async, wants_json

db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.add_typer(db_app, name="db")


@dataclass
class Report:
    """What ``check`` found: facts (``info``) and ``problems``."""

    info: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.problems.append((where, " ".join(message.split())))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "info": [{"check": c, "result": r} for c, r in self.info],
            "problems": [{"where": w, "problem": p} for w, p in self.problems],
        }


def _sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other stores and in-memory SQLite)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("sqlite"):
        return None
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        return None
    return Path(path)


async def _check(state: CliState, report: Report) -> None:
    try:
        config = state.config()
    except SchedkitError as exc:
        report.problem("config", str(exc))
        return
    report.info.append(("config", state.config_file() or "(defaults and environment)"))
    report.info.append(("timezone", config.timezone))

    store: Store | None = None
    try:
        store = create_store(config.store_url, **config.store_options)
    except SchedkitError as exc:
        report.problem("store", str(exc))
    sqlite_file = _sqlite_file(config.store_url)
    if store is not None and sqlite_file is not None and not sqlite_file.exists():
        report.info.append(
            ("store", f"{store.display_url} (does not exist yet; created on first use)")
        )
        store = None
    elif store is not None:
        try:
            await store.open()
            report.info.append(
                ("store", f"{store.display_url} (schema version {await store.schema_version()})")
            )
        except SchedkitError as exc:
            report.problem("store", str(exc))
            await store.close()
            store = None

    registry = TaskRegistry()
    try:
        registry.discover(config.task_packages)
        if config.entry_points:
            registry.discover_entry_points()
    except SchedkitError as exc:
        report.problem("discovery", str(exc))
    packages = ", ".join(config.task_packages) or "-"
    report.info.append(("tasks", f"{len(registry)} discovered in {packages}"))
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
        if store is not None:
            schedules = await store.list_schedules()
            report.info.append(("schedules", f"{len(schedules)} stored"))
            for s in schedules:
                where = f"schedule {s.id}"
                try:
                    trigger_from_json(s.trigger)
                except Exception as exc:
                    report.problem(where, f"invalid trigger: {exc}")
                owner = registry.get_task(s.task_name)
                if owner is None:
                    report.problem(where, f"task {s.task_name!r} is not registered")
                    continue
                try:
                    owner.validate_kwargs(s.kwargs)
                except SchedkitError as exc:
                    report.problem(where, str(exc))
    finally:
        if store is not None:
            await store.close()


def check(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Validate config, store, task discovery and every schedule; exit 1 on any problem."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    report = Report()
    run_async(_check(state, report))
    if as_json:
        render.emit_json(report.to_json())
    else:
        lang = state.lang
        render.print_kv(state.out, [(k, escape(v)) for k, v in report.info], lang)
        if report.problems:
            table = render.table(["check", "problem"], lang, title=tr("problem", lang))
            for where, problem in report.problems:
                table.add_row(escape(where), f"[red]{escape(problem)}[/]")
            state.out.print(table)
            state.out.print(f"[red]{len(report.problems)} problem(s)[/]")
        else:
            state.out.print("[green]ok[/]: no problem found")
    if report.problems:
        raise typer.Exit(EXIT_FAILURE)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Create the store's schema or upgrade it to this version's."""
    state = get_state(ctx)
    as_json = wants_json(ctx, json_)
    config = state.config()
    sqlite_file = _sqlite_file(config.store_url)
    created = sqlite_file is not None and not sqlite_file.exists()

    async def work() -> tuple[str, int]:
        store = create_store(config.store_url, **config.store_options)
        async with store:
            return store.display_url, await store.schema_version()

    if sqlite_file is not None and not sqlite_file.parent.exists():
        raise CommandFailed(f"directory {sqlite_file.parent} does not exist")
    url, version = run_async(work())
    if as_json:
        render.emit_json({"store": url, "schema_version": version, "created": created})
    elif created:
        state.out.print(f"created store {escape(url)} at schema version {version}")
    else:
        state.out.print(f"store {escape(url)} is at schema version {version} (up to date)")
