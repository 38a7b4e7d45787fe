"""How the CLI fails: one clear line on stderr and a meaningful exit code.

Exit codes: 0 success, 1 the command could not do its job (a run failed, the store is
unreachable, ``check`` found problems, a conflict), 2 the command line is wrong (click's
usage errors, invalid values such as a bad cron expression or parameter, unknown task,
schedule or run names), 130 interrupted. ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from schedkit.errors import (
    RunNotFoundError,
    SchedkitError,
    TaskDefinitionError,
    TaskNotFoundError,
    ValidationError,
)
from schedkit.redaction import redact

from .render import visible

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Invalid values and unknown names (tasks, schedules, runs, tokens: LookupErrors).
_USAGE_ERRORS = (ValidationError, LookupError)


class UsageProblem(SchedkitError):
    """A command-line value the CLI itself rejects (bad ``--param``, duration ...)."""


class CommandFailed(SchedkitError):
    """The command ran but did not succeed; the message says why (exit code 1)."""


@contextmanager
def options_named(options: Mapping[str, str]) -> Iterator[None]:
    """The core's ValidationErrors on a field a command took from an option name the
    option instead (``timeout`` → ``--timeout``): the user typed the option."""
    try:
        yield
    except ValidationError as exc:
        option = options.get(exc.field or "")
        if option is None:
            raise
        raise UsageProblem(f"{option}: {exc.message}") from None


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, SchedkitError) and isinstance(exc, (UsageProblem, *_USAGE_ERRORS)):
        return EXIT_USAGE
    return EXIT_FAILURE


def one_line(text: str) -> str:
    """``text`` on one line (multi-line messages joined with ' | ')."""
    return " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _secrets(ctx: typer.Context) -> list[str]:
    """Passwords of store URLs in play, never to be shown in a message."""
    from urllib.parse import urlsplit

    urls = [os.environ.get("SCHEDKIT_STORE_URL") or ""]
    state = ctx.find_root().obj
    urls.append(getattr(state, "store_url", None) or "")
    config = getattr(state, "loaded_config", None)
    if config is not None:
        urls.append(config.store_url)
    found = []
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found


def report(ctx: typer.Context, exc: BaseException, *, debug: bool) -> int:
    """Print ``exc`` as one line on stderr (traceback first under ``--debug``)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if isinstance(exc, SchedkitError):
        message = str(exc)
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
        if not debug:
            message += " (run with --debug for the traceback)"
    where = getattr(ctx.find_root().obj, "where_to_look", None)
    if isinstance(exc, TaskNotFoundError) and callable(where):
        message += f"; {where()}"
    if isinstance(exc, RunNotFoundError) and re.fullmatch(r"[0-9a-f]{8}", exc.run_id):
        # The 8 digits history and the console show: the store knows runs by their id.
        message += (
            "; that is the short form history and the console show: give the whole id "
            "(schedkit history --json, or the run page's address)"
        )
    missing = exc.__cause__
    hint = getattr(ctx.find_root().obj, "import_hint", None)
    if isinstance(exc, TaskDefinitionError) and isinstance(missing, ModuleNotFoundError):
        # A task package not found is most often a command run from another folder.
        said = hint(missing.name or "") if callable(hint) else None
        message += f"; {said}" if said else ""
    # The API's redaction, not a plain replace: a password that is a word ("schedkit")
    # masked the word everywhere ("***.tasks", "***.toml"), the message no longer true.
    secrets = _secrets(ctx)
    message = redact(message, secrets)
    if debug:
        sys.stderr.write(redact("".join(traceback.format_exception(exc)), secrets))
        sys.stderr.flush()
    err.print(f"[bold red]error:[/] {visible(one_line(message))}")
    return exit_code_for(exc)


class SchedkitGroup(TyperGroup):
    """The root group: turns every exception of a command into one line + exit code."""

    #: Two-word commands: ``schedkit schedule import FILE`` runs ``schedule-import``
    #: (``schedule`` itself takes a task name first).
    SUBCOMMANDS: ClassVar[Mapping[str, str]] = {
        "schedule import": "schedule-import",
        "schedule export": "schedule-export",
    }

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        typed = " ".join(args[:2])
        name = self.SUBCOMMANDS.get(typed)
        if name is not None:
            # Named as typed: the name returned is the one its help and usage errors show.
            _, command, rest = super().resolve_command(ctx, [name, *args[2:]])
            return typed, command, rest
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own exits and usage errors
        except KeyboardInterrupt:
            Console(stderr=True).print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            debug = bool(getattr(ctx.obj, "debug", False))
            raise typer.Exit(report(ctx, exc, debug=debug)) from None
