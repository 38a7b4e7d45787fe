"""Counting the calls of a function wherever a module imported it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest


def calls_of(monkeypatch: pytest.MonkeyPatch, function: Callable[..., Any]) -> list[None]:
    """One entry per call of ``function`` from now on, through any module that holds it
    by its name (``from ... import function``), in any thread (a test server's)."""
    calls: list[None] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return function(*args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, function.__name__, None) is function:
            monkeypatch.setattr(module, function.__name__, counted)
    return calls
