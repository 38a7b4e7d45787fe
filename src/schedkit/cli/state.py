"""What every command shares: the global options, the configuration and the façade.

Commands reach the system through :class:`schedkit.Scheduler` started with its
scheduler loop and executor disabled (:func:`management`), so that ``pause``,
``history``, ``schedule`` ... work whether or not a service is running; a running
service picks the change up from the store. ``run --wait`` may start one with the
executor enabled (:func:`executing`).
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from schedkit._controls import escape_controls, traceback_text
from schedkit.config import SchedkitConfig, find_config_file
from schedkit.context import TASK_LOGGER
from schedkit.errors import StoreNotFoundError
from schedkit.logcapture import ABOUT_RUN, NODE_ATTR
from schedkit.registry import TaskRegistry
from schedkit.service import Scheduler
from schedkit.service.location import created_by_start, describe_store, sqlite_file
from schedkit.service.past_dates import ScheduleNote, noted

from . import loop
from .errors import CommandFailed
from .words import Lang

#: How the CLI writes its log lines to stderr.
LogFormat = Literal["text", "json"]
T = TypeVar("T")

#: ``--json`` on a command, same as the global option.
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]

#: ``--param KEY=VALUE`` (repeatable) and ``--params JSON``: a run's or workflow's values.
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", metavar="KEY=VALUE", help="A parameter (repeatable); JSON values."
    ),
]
ParamsOpt = Annotated[
    str | None, typer.Option("--params", metavar="JSON", help="Parameters as a JSON object.")
]

#: ``--wait``: follow a run or workflow run to its end.
WaitOpt = Annotated[
    bool, typer.Option("--wait", "-w", help="Wait for the end; exit 0 only on success.")
]

#: Width of tables written to a pipe or file.
PIPE_WIDTH = 140

#: Where ``schedkit demo`` keeps its database, files and the configuration it writes for
#: the CLI (relative to the working directory, unless ``--var-dir`` says otherwise).
DEMO_VAR_DIR = Path("var/demo")
DEMO_CONFIG_FILE = "schedkit.toml"


@dataclass
class CliState:
    """The global options (``schedkit [--config ...] COMMAND``) and what they load."""

    config_path: Path | None = None
    store_url: str | None = None
    json: bool = False
    debug: bool = False
    lang: Lang = "en"
    log_format: LogFormat = "text"
    log_handler: logging.Handler | None = field(default=None, repr=False)
    loaded_config: SchedkitConfig | None = field(default=None, repr=False)

    def config_file(self) -> str | None:
        """``--config``, else ``$SCHEDKIT_CONFIG``, else ``./schedkit.toml`` if present."""
        if self.config_path is not None:
            return str(self.config_path)
        return find_config_file()

    def config(self) -> SchedkitConfig:
        """The configuration (loaded once); ``--store`` overrides the store URL."""
        if self.loaded_config is None:
            overrides: dict[str, Any] = {}
            if self.store_url:
                overrides["store_url"] = self.store_url
            self.loaded_config = SchedkitConfig.load(self.config_file(), **overrides)
            self.loaded_config.say_warnings(self.err)
        return self.loaded_config

    def config_source(self) -> str:
        """The configuration in words: its file, or that there is none."""
        return self.config_file() or "none (defaults and SCHEDKIT_* variables)"

    def store_label(self) -> str:
        """The store the commands use: a SQLite file's absolute path, else the masked URL
        (with a MongoDB database from the store options)."""
        config = self.config()
        return describe_store(config.store_url, config.store_options)

    def where_to_look(self) -> str:
        """What to check when a command finds no tasks or the wrong store: the config in
        use, and the demo's configuration when a demo ran in this directory."""
        hint = f"config: {self.config_source()}"
        demo = DEMO_VAR_DIR / DEMO_CONFIG_FILE
        used = self.config_file()
        if demo.is_file() and (used is None or Path(used).resolve() != demo.resolve()):
            hint += f"; the demo's: export SCHEDKIT_CONFIG={demo}"
        return hint

    def relative_store_note(self) -> str | None:
        """Why a SQLite store is looked for in an unexpected place: a relative path from a
        config file in another folder resolves against the working directory, not the
        file's folder (creating a store there, as ``db upgrade`` would, makes a second,
        empty one). None when that is not the case."""
        url = self.config().store_url
        used = self.config_file()
        path = sqlite_file(url)
        if self.store_url or used is None or path is None or not _relative_sqlite(url):
            return None  # ``--store`` is typed where it is meant
        cwd, folder = Path.cwd().resolve(), Path(used).resolve().parent
        if folder == cwd:
            return None
        meant = (folder / unquote(urlsplit(url).path[1:])).resolve()
        return (
            f"store_url {url} is a relative path: SQLite paths resolve against the working "
            f"directory ({cwd}), not the config file's folder ({folder}); run schedkit from "
            f"{folder}, or make store_url absolute (sqlite:///{meant})"
        )

    def import_hint(self, missing: str) -> str | None:
        """What to do when the top-level package ``missing`` of a configured task package
        is not found: the CLI imports them from the working directory and PYTHONPATH.
        None when ``missing`` is no configured package's top (a module missing inside a
        package that was found is a wrong name, not a wrong folder)."""
        config = self.loaded_config
        packages = config.task_packages if config is not None else []
        if not any(p.split(".")[0] == missing for p in packages):
            return None
        top = missing
        hint = (
            f"task packages are imported from the working directory ({Path.cwd()}) and "
            f"PYTHONPATH: run schedkit from the folder that holds {top}/, or add that "
            "folder to PYTHONPATH"
        )
        used = self.config_file()
        if used is not None:
            folder = Path(used).resolve().parent
            found = [f for f in (folder, folder.parent) if (f / top).is_dir()]
            if found:
                hint += f" ({found[0]} holds one)"
        return hint

    def tz(self) -> ZoneInfo:
        """The configured timezone, in which times are shown."""
        return ZoneInfo(self.config().timezone)

    @property
    def out(self) -> Console:
        console = Console(highlight=False, soft_wrap=self.json)
        if not console.is_terminal and "COLUMNS" not in os.environ:
            # Piped output is not wrapped at 80 columns (use --json to parse it).
            console.width = PIPE_WIDTH
        return console

    @property
    def err(self) -> Console:
        return Console(stderr=True, highlight=False)

    @contextmanager
    def schedule_notes(self) -> Iterator[list[ScheduleNote]]:
        """The notes on the schedules saved meanwhile (:func:`noted`), kept out of the log
        lines: the command prints them as its own warnings, in its words and language."""

        def unlogged(record: logging.LogRecord) -> bool:
            return not hasattr(record, "schedule_note")

        handler = self.log_handler
        if handler is not None:
            handler.addFilter(unlogged)
        try:
            with noted() as notes:
                yield notes
        finally:
            if handler is not None:
                handler.removeFilter(unlogged)


def get_state(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    if not isinstance(state, CliState):  # a command invoked without the root callback
        state = CliState()
        ctx.find_root().obj = state
    return state


def actor() -> str:
    """Who the audit log names for changes made from this shell."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on a fresh event loop (ended within a bound: see
    :mod:`schedkit.cli.loop`)."""
    return loop.run(coro)


def with_roles(
    config: SchedkitConfig,
    *,
    scheduler: bool,
    executor: bool,
    executor_tasks: list[str] | None = None,
    max_concurrent_runs: int | None = None,
) -> SchedkitConfig:
    """``config`` with the scheduler loop / executor switched as asked."""
    sched = config.scheduler.model_copy(update={"enabled": scheduler})
    exe_update: dict[str, Any] = {"enabled": executor}
    if executor_tasks is not None:
        exe_update["tasks"] = executor_tasks
    if max_concurrent_runs is not None:
        exe_update["max_concurrent_runs"] = max_concurrent_runs
    exe = config.executor.model_copy(update=exe_update)
    return config.model_copy(update={"scheduler": sched, "executor": exe})


def require_existing_store(state: CliState) -> None:
    """Read commands never create a store: a SQLite file that does not exist is an error
    (a mistyped path would otherwise show an empty, new store)."""
    path = sqlite_file(state.config().store_url)
    if path is None or path.exists():
        return
    said = f"store sqlite:///{path} does not exist: this command reads a store and never "
    relative = state.relative_store_note()
    if relative is not None:
        # Not `db upgrade`: it would create a second, empty store in the wrong folder.
        raise CommandFailed(f"{said}creates one; {relative}")
    raise CommandFailed(
        f"{said}creates one ({state.where_to_look()}; `schedkit db upgrade` creates a store)"
    )


def require_task(state: CliState, task_name: str) -> None:
    """TaskNotFoundError (close names, where tasks were looked for) unless a task is
    named ``task_name``, found from the configuration alone: checked once the store was
    open, a mistyped name left behind the SQLite file a write command created."""
    config = state.config()
    registry = TaskRegistry()
    registry.discover(config.task_packages)
    if config.entry_points:
        registry.discover_entry_points()
    registry.require(task_name)


def _relative_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite file by a relative path (``sqlite:///app.db``; an
    absolute one is ``sqlite:////abs/app.db``)."""
    path = urlsplit(url).path
    return path.startswith("/") and not path.startswith("//") and not path[1:].startswith("~")


@asynccontextmanager
async def management(
    state: CliState, *, read_only: bool = False, defaults: bool = True
) -> AsyncIterator[Scheduler]:
    """A started façade that neither fires schedules nor executes runs. ``read_only``:
    the store must exist already (see :func:`require_existing_store`) at this release's
    schema (an older one is not upgraded: `schedkit check` from a new release, run before
    deciding to roll back, upgraded the store past what the old release can run on), and
    the tasks' default schedules missing from it stay missing (a node's start stores
    them): run from a checkout against production, a read stored the schedule of a task
    no node had the code of yet, and it failed for a read-only database user. Not
    ``defaults``: a write that leaves them missing too (a schedule import, whose lines
    may be those defaults, copied from another store)."""
    if read_only:
        require_existing_store(state)
    config = with_roles(state.config(), scheduler=False, executor=False)
    scheduler = Scheduler(config, registry=TaskRegistry())
    async with _started(state, scheduler, read_only=read_only, defaults=defaults) as started:
        yield started


@asynccontextmanager
async def executing(state: CliState, *, node_name: str | None = None) -> AsyncIterator[Scheduler]:
    """A started façade that executes here the one run the command creates on it
    (created claimed by this node) and fires nothing. It claims no run
    by itself: its run's retries, and an earlier run found by an idempotency key, are
    claimed by their id (``execute_handed_off``). Claiming the task's runs, it executed
    runs created earlier, meant for a service, after its own or while it stopped."""
    config = with_roles(
        state.config(),
        scheduler=False,
        executor=True,
        executor_tasks=[],
        max_concurrent_runs=1,
    )
    if node_name is not None:
        config = config.model_copy(update={"node_name": node_name})
    async with _started(state, Scheduler(config, registry=TaskRegistry())) as scheduler:
        yield scheduler


@asynccontextmanager
async def _started(
    state: CliState, scheduler: Scheduler, *, read_only: bool = False, defaults: bool = True
) -> AsyncIterator[Scheduler]:
    writes = not read_only
    try:
        await scheduler.start(
            create_store=writes, store_defaults=writes and defaults, upgrade_store=writes
        )
    except StoreNotFoundError as error:
        if writes:
            # What a write cannot create (a PostgreSQL schema): the error says what to do.
            raise CommandFailed(str(error)) from None
        # A mistyped PostgreSQL or MongoDB database name got an empty store from a read.
        raise CommandFailed(
            f"{error}: this command reads a store and never creates one "
            f"({state.where_to_look()}; `schedkit db upgrade` creates a store)"
        ) from None
    if created_by_start(scheduler) and not state.json:
        # A new, empty store is rarely what a command on an existing system wants (and
        # an import refused after creating one said only "nothing was stored").
        path = sqlite_file(scheduler.config.store_url)
        where = path if path is not None else state.store_label()
        relative = state.relative_store_note()
        state.err.print(
            f"[yellow]note:[/] created a new store at {where} ({state.where_to_look()})"
            + (f"; {relative}" if relative else ""),
            soft_wrap=True,
        )
    try:
        yield scheduler
    finally:
        await scheduler.stop()


# -- logging ------------------------------------------------------------------------------


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to the *current* ``sys.stderr`` (test runners swap it per invocation)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _NotInRun(logging.Filter):
    """Lines logged inside runs are stored with the run (and ``run --wait`` shows them
    from there); with ``hide_task_loggers`` the task loggers' other lines (``run
    failed``...) are left out too, as ``run`` prints the outcome itself. A service
    logging JSON (``show_run_lines``) passes run lines on too: a log pipeline wants
    them, and each carries its run id."""

    def __init__(self) -> None:
        super().__init__()
        self.hide_task_loggers = True
        self.show_run_lines = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.show_run_lines:
            return True
        if self.hide_task_loggers and (
            record.name == TASK_LOGGER or record.name.startswith(f"{TASK_LOGGER}.")
        ):
            return False
        return getattr(record, ABOUT_RUN, False) or getattr(record, "run_id", None) is None


class _TextFormatter(logging.Formatter):
    """The text log: ``time LEVEL logger: message``; a line about a run (a failed
    attempt) names the node that ran it, ``... schedkit.task.settle [node host:41:x1y2z3]:
    run ... failed``: in a cluster's collected logs nothing else in the line tells.

    What comes from outside (the message with its arguments: a run's error message, a
    note; a logger named after a task; the node id) has its control characters escaped
    as the CLI's tables show them (``\\x1b``, ``\\n``, ``\\u202e``): one record is one
    line, and no ESC, BEL or bidi control reaches the terminal. A traceback keeps its
    lines, its exception messages escaped to one line each (see
    :func:`schedkit._controls.traceback_text`)."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        # Not through record.exc_text: that cache is shared with every other handler's
        # formatter (a run's stored log, the JSON log), which must get the plain text.
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + traceback_text(record.exc_info[1])
        elif record.exc_text:
            text += "\n" + escape_controls(record.exc_text, lines=True)
        if record.stack_info:
            text += "\n" + escape_controls(self.formatStack(record.stack_info), lines=True)
        return text

    def formatMessage(self, record: logging.LogRecord) -> str:
        head = f"{record.asctime} {record.levelname} {escape_controls(record.name)}"
        node = getattr(record, NODE_ATTR, None)
        if node is not None and getattr(record, "run_id", None) is not None:
            head += f" [node {escape_controls(str(node))}]"
        return f"{head}: {record.message}"


def setup_logging(
    ctx: typer.Context, level: int, log_format: LogFormat = "text"
) -> logging.Handler:
    """Log schedkit's messages at ``level`` to stderr for this invocation, as text lines
    or one JSON object per line (``log_format``).

    The root logger passes INFO so that lines logged inside runs are captured into the
    store; the handler shows ``level`` and above. Both are undone when the command ends.
    """
    handler = _StderrHandler()
    handler.setLevel(level)
    handler.addFilter(_NotInRun())
    if log_format == "json":
        from schedkit.tracing import JsonLogFormatter  # OpenTelemetry: only when asked

        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(_TextFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(previous)

    ctx.call_on_close(undo)
    return handler


def show_info_logs(state: CliState) -> None:
    """Long-running commands (serve, demo) show INFO lines (``--debug``: DEBUG), and the
    task loggers' lines outside runs (a run failed ...)."""
    handler = state.log_handler
    if handler is None:
        return
    if not state.debug:
        handler.setLevel(logging.INFO)
    for flt in handler.filters:
        if isinstance(flt, _NotInRun):
            flt.hide_task_loggers = False
            flt.show_run_lines = state.log_format == "json"


def wants_json(ctx: typer.Context, flag: bool) -> bool:
    """``--json`` given before the command (global) or after it (on the command)."""
    state = get_state(ctx)
    if flag:
        state.json = True
    return state.json
