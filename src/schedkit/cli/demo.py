"""``schedkit demo`` (what ``make demo`` runs): the powertrade example, served.

Uses the example's ``schedkit.toml`` (package ``schedkit_examples.powertrade``, shipped
in the wheel) with a SQLite file under ``var/demo/``; on the first start (no database
yet) fills it with the example's sample data. Every start creates a fresh admin API
token (the previous demo token is revoked) and prints it once with the URL. In demo mode
a few tasks also run every minute (extra schedules with ids ``demo:<task>``, so the
tasks' own schedules stay as they are). Ctrl-C stops it cleanly.

So that the CLI works on the demo, it writes ``var/demo/schedkit.toml`` (the store, the
task packages, where result files are) and prints the line that points the CLI (and the
example's tasks run from it) there.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

import schedkit
from schedkit import tokens
from schedkit.config import SchedkitConfig
from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler

from .errors import CommandFailed
from .render import visible
from .serve import serve_node
from .state import (
    DEMO_CONFIG_FILE,
    DEMO_VAR_DIR,
    CliState,
    actor,
    get_state,
    run_async,
    show_info_logs,
)

#: Tasks that also run every minute in the demo, when the example defines them.
DEMO_TASKS = (
    "customer_status_auto_update",
    "customer_contract_check",
    "contract_expire_check",
    "report_daily",
)
DEMO_CRON = "* * * * *"
DEMO_SCHEDULE_PREFIX = "demo:"
DEMO_TOKEN_NAME = "demo-admin"
DEMO_DB = "demo.db"
EXAMPLE_PACKAGE = "schedkit_examples.powertrade"


def example_dir() -> Path:
    """The directory of the powertrade example package (its ``schedkit.toml``)."""
    try:
        module = importlib.import_module(EXAMPLE_PACKAGE)
    except ImportError as exc:
        raise CommandFailed(
            f"the demo needs schedkit's example package {EXAMPLE_PACKAGE} and its "
            f"dependencies: pip install 'schedkit[demo]' ({exc})"
        ) from None
    assert module.__file__ is not None
    return Path(module.__file__).resolve().parent


def cli_config(config: SchedkitConfig, result_files_dir: Path) -> str:
    """The TOML the CLI reads to work on the demo (what differs from the defaults)."""
    # JSON strings are valid TOML basic strings (same escapes).
    lines = [
        "# Written by `schedkit demo` on each start: the CLI's configuration for this demo.",
        f"timezone = {json.dumps(config.timezone)}",
        f"store_url = {json.dumps(config.store_url)}",
        f"task_packages = {json.dumps(config.task_packages)}",
        f"result_files_dir = {json.dumps(str(result_files_dir))}",
    ]
    return "\n".join(lines) + "\n"


def _command() -> str:
    """How to call this ``schedkit`` from a shell: its name when that is what PATH finds,
    else its path."""
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("schedkit")
    if (
        here is not None
        and here.name == "schedkit"
        and (found is None or Path(found).resolve() != here)
    ):
        with contextlib.suppress(ValueError):
            return str(here.relative_to(Path.cwd()))
        return str(here)
    return "schedkit"


def use_line(config_file: Path, var: Path) -> str:
    """The line that points the CLI and the example's tasks at the demo."""
    return f"export SCHEDKIT_CONFIG={config_file} POWERTRADE_VAR_DIR={var}"


def _remove_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, metavar="PORT", help="Port.")
    ] = 8000,
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="Interface.")] = "127.0.0.1",
    var_dir: Annotated[
        Path,
        typer.Option(
            "--var-dir", metavar="DIR", help="Demo database, reports and backups.", file_okay=False
        ),
    ] = DEMO_VAR_DIR,
    every_minute: Annotated[
        bool,
        typer.Option(
            "--every-minute/--own-schedules",
            help="Also run a few tasks every minute (something to watch).",
        ),
    ] = True,
    reset: Annotated[
        bool, typer.Option("--reset", help="Start over: delete the demo database first.")
    ] = False,
) -> None:
    """Run the power-trading demo: API, console and scheduler on SQLite, until Ctrl-C."""
    state = get_state(ctx)
    show_info_logs(state)
    here = example_dir()
    settings_module: Any = importlib.import_module(f"{EXAMPLE_PACKAGE}.settings")

    var = var_dir.expanduser().resolve()
    var.mkdir(parents=True, exist_ok=True)
    db = var / DEMO_DB
    if reset:
        _remove_database(db)
    fresh = not db.exists()
    config = SchedkitConfig.load(here / "schedkit.toml", store_url=f"sqlite:///{db}")
    scheduler = Scheduler(config, registry=TaskRegistry())
    settings = settings_module.configure(scheduler, var_dir=str(var))
    config_file = var / DEMO_CONFIG_FILE
    config_file.write_text(cli_config(config, settings.reports_dir), encoding="utf-8")
    secret: dict[str, str] = {}

    async def prepare(s: Scheduler) -> None:
        if fresh:
            await _sample_data(state, settings)
        if every_minute:
            for name in DEMO_TASKS:
                if name in s.registry:
                    await s.add_task(
                        name, DEMO_CRON, schedule_id=DEMO_SCHEDULE_PREFIX + name, actor=actor()
                    )
        with contextlib.suppress(tokens.TokenNotFoundError, schedkit.ConflictError):
            await s.revoke_token(DEMO_TOKEN_NAME, actor=actor())
        issued = await s.create_token(name=DEMO_TOKEN_NAME, role=tokens.Role.ADMIN, actor=actor())
        secret["value"] = issued.secret

    async def on_ready(url: str) -> None:
        out = state.out
        out.print()
        out.print("[bold green]schedkit demo is running[/] (power-trading example, SQLite)")
        out.print(f"  console      {url}")
        out.print(f"  API docs     {url}docs")
        out.print(f"  admin token  {secret['value']}   (shown once; paste it into the console)")
        out.print(f"  database     {visible(str(db))}")
        if every_minute:
            out.print(
                f"  every minute {', '.join(n for n in DEMO_TASKS if n in scheduler.registry)}"
            )
        out.print("Use the CLI on this demo (in another shell):")
        out.print(f"  {visible(use_line(config_file, var))}", soft_wrap=True)
        out.print(f"  {visible(_command())} tasks list", soft_wrap=True)
        out.print("Press Ctrl-C to stop.")
        out.file.flush()

    run_async(
        serve_node(
            state,
            scheduler,
            host,
            port,
            access_log=False,
            on_ready=on_ready,
            before_serving=prepare,
        )
    )


async def _sample_data(state: CliState, settings: Any) -> None:
    # Imported by name: the example is not part of the package (nor type-checked with it).
    domain: Any = importlib.import_module(f"{EXAMPLE_PACKAGE}.domain")
    sampledata: Any = importlib.import_module(f"{EXAMPLE_PACKAGE}.sampledata")
    async with domain.repository_for(settings) as repo:
        counts: dict[str, int] = await sampledata.generate(repo)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items())
    state.out.print(f"sample data generated: {summary}")
