"""``python -m schedkit``: the command line (see ``schedkit --help``)."""

from __future__ import annotations

from schedkit.cli import main

main()
