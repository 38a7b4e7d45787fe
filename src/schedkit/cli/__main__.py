"""``python -m schedkit.cli``."""

from __future__ import annotations

from schedkit.cli import main

main()
