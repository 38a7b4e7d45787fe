"""The ``schedkit`` command line (typer + rich): a thin adapter over the service façade.

``main()`` is the console script; ``app`` is the typer application (for ``CliRunner``).
See docs/cli.md for every command.
"""

from __future__ import annotations

import sys

#: The cli extra's packages (click comes with typer).
_CLI_PACKAGES = frozenset({"typer", "rich", "click"})

try:
    from schedkit.cli.app import app, main
except ModuleNotFoundError as exc:
    # `pip install schedkit` installs the `schedkit` script too (a wheel's scripts cannot
    # depend on an extra): without the cli extra it would die on a traceback.
    if (exc.name or "").partition(".")[0] not in _CLI_PACKAGES:
        raise
    _missing = exc.name

    def main() -> None:
        """Entry point of the ``schedkit`` script: says which extra to install."""
        sys.exit(
            f"error: the schedkit command needs the cli extra ({_missing} is not "
            "installed): pip install 'schedkit[cli]'"
        )


__all__ = ["app", "main"]
