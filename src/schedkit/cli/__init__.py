"""The ``schedkit`` command line (typer + rich): a thin adapter over the service façade.

``main()`` is the console script; ``app`` is the typer application (for ``CliRunner``).
See docs/cli.md for every command.
"""

from __future__ import annotations

from schedkit.cli.app import app, main

__all__ = ["app", "main"]
