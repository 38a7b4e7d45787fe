"""``schedkit demo`` (what ``make demo`` runs): the powertrade example, served.

Uses ``examples/powertrade/schedkit.toml`` with a SQLite file under ``var/demo/``; on the
first start (no database yet) fills it with the example's sample data. Every start
creates a fresh admin API token (the previous demo token is revoked) and prints it once
with the URL. In demo mode a few tasks also run every minute (extra schedules with ids
``demo:<task>``, so the tasks' own schedules stay as they are). Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

import schedkit
from schedkit import tokens
from schedkit.config import SchedkitConfig
from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler

from .errors import CommandFailed
from .serve import serve_node
from .state import CliState, actor, get_state, run_async, show_info_logs

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


def example_dir() -> Path:
    """``examples/powertrade`` of this source checkout, made importable."""
    spec = importlib.util.find_spec("examples")
    if spec is None or not spec.submodule_search_locations:
        root = Path(schedkit.__file__).resolve().parents[2]
        if (root / "examples" / "powertrade" / "schedkit.toml").is_file():
            sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("examples.powertrade")
    except ImportError as exc:
        raise CommandFailed(
            "the demo needs the examples/ directory of a schedkit source checkout "
            f"(run it from the repository root): {exc}"
        ) from None
    assert module.__file__ is not None
    return Path(module.__file__).resolve().parent


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
    ] = Path("var/demo"),
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
    settings_module: Any = importlib.import_module("examples.powertrade.settings")

    var = var_dir.expanduser().resolve()
    var.mkdir(parents=True, exist_ok=True)
    db = var / DEMO_DB
    if reset:
        _remove_database(db)
    fresh = not db.exists()
    config = SchedkitConfig.load(here / "schedkit.toml", store_url=f"sqlite:///{db}")
    scheduler = Scheduler(config, registry=TaskRegistry())
    settings = settings_module.configure(scheduler, var_dir=str(var))
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
        out.print(f"  database     {escape(str(db))}")
        if every_minute:
            out.print(
                f"  every minute {', '.join(n for n in DEMO_TASKS if n in scheduler.registry)}"
            )
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
    domain: Any = importlib.import_module("examples.powertrade.domain")
    sampledata: Any = importlib.import_module("examples.powertrade.sampledata")
    async with domain.repository_for(settings) as repo:
        counts: dict[str, int] = await sampledata.generate(repo)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items())
    state.out.print(f"sample data generated: {summary}")
