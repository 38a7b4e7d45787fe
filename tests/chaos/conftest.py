"""The chaos test's figures are printed at the end of the session (so CI output shows
them) and, with SCHEDKIT_CHAOS_REPORT=PATH, written there as JSON lines."""

from __future__ import annotations

import json
import os
from typing import Any

FIGURES: list[dict[str, Any]] = []


def record(figures: dict[str, Any]) -> None:
    FIGURES.append(figures)
    path = os.environ.get("SCHEDKIT_CHAOS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(figures) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("chaos figures (issue #16)")
    for figures in FIGURES:
        terminalreporter.write_line(" ".join(f"{key}={value}" for key, value in figures.items()))
