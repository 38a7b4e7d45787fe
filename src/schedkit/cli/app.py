"""The ``schedkit`` command: global options and the command groups."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import (
    admin,
    alerts,
    backfill,
    calendars,
    cluster,
    demo,
    next_fires,
    runs,
    schedule_export,
    schedule_list,
    schedules,
    serve,
    tasks,
    tokens,
    workflows,
)
from .errors import SchedkitGroup
from .state import CliState, LogFormat, setup_logging
from .words import Lang

app = typer.Typer(
    name="schedkit",
    cls=SchedkitGroup,
    help="schedkit: scheduled tasks for Python business systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click output for usage errors: the error stays on one line, no panel.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from schedkit.version import __version__, build

        typer.echo(f"schedkit {__version__} (build {build()})")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="TOML config file [default: $SCHEDKIT_CONFIG, else ./schedkit.toml if present].",
            dir_okay=False,
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URL",
            help="Store URL, overriding the config (sqlite:///file.db ...).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON output.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="SCHEDKIT_DEBUG", help="Debug logs; tracebacks on errors."),
    ] = False,
    lang: Annotated[
        Lang, typer.Option("--lang", help="Language of the output (errors stay English).")
    ] = "en",
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="SCHEDKIT_LOG_FORMAT",
            help="Log lines on stderr as text or as one JSON object per line (services: "
            "run lines too, with their run id).",
        ),
    ] = "text",
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Run, schedule and inspect tasks; serve the API and console; run the demo."""
    # Task packages of the project in the working directory import like with `python -m`.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    state = CliState(
        config_path=config,
        store_url=store,
        json=json_output,
        debug=debug,
        lang=lang,
        log_format=log_format,
    )
    state.log_handler = setup_logging(ctx, logging.DEBUG if debug else logging.WARNING, log_format)
    ctx.obj = state
    # Tasks executing in this process (run --local, serve) that read the configuration
    # themselves see the same file and store as the command.
    _export_env(ctx, "SCHEDKIT_CONFIG", str(config) if config is not None else None)
    _export_env(ctx, "SCHEDKIT_STORE_URL", store)


def _export_env(ctx: typer.Context, name: str, value: str | None) -> None:
    """Set ``name`` for the duration of the command (restored when it ends)."""
    if value is None:
        return
    previous = os.environ.get(name)
    os.environ[name] = value

    def restore() -> None:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous

    ctx.call_on_close(restore)


tasks.register(app)
runs.register(app)
schedules.register(app)
schedule_export.register(app)
next_fires.register(app)
schedule_list.register(app)
backfill.register(app)
admin.register(app)
alerts.register(app)
tokens.register(app)
calendars.register(app)
serve.register(app)
cluster.register(app)
demo.register(app)
workflows.register(app)


def main() -> None:
    """Entry point of the ``schedkit`` script and ``python -m schedkit``."""
    app(prog_name="schedkit")
