"""Where a store URL points, said the same way by every tool: a SQLite file by its
absolute path, any other store as the store itself shows it (password masked, a MongoDB
database the URL does not name added); and whether a façade's start created it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from schedkit.store.urls import describe_url

if TYPE_CHECKING:
    from schedkit.service import Scheduler

__all__ = ["created_by_start", "describe_store", "sqlite_file"]


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, absolute (None for other stores and for an
    in-memory SQLite database)."""
    parts = urlsplit(url)
    if not parts.scheme.lower().startswith("sqlite"):
        return None
    # sqlite:///relative.db has the path "/relative.db", sqlite:////abs.db "//abs.db".
    path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return None
    return Path(path).expanduser().resolve()


def describe_store(url: str, options: Mapping[str, Any] | None = None) -> str:
    """``sqlite:////abs/path/file.db`` for a SQLite file, else the store's own label for
    ``url`` and its ``store_options``."""
    path = sqlite_file(url)
    return f"sqlite:///{path}" if path is not None else describe_url(url, options)


def created_by_start(scheduler: Scheduler) -> bool:
    """Whether ``scheduler``'s start created its store: a new SQLite file, or schedkit's
    tables or indexes in an empty database."""
    return scheduler.store.found_version == 0
