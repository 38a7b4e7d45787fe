"""The store a URL names."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from schedkit.errors import ConfigError
from schedkit.store.base import Store
from schedkit.store.options import foreign_options
from schedkit.store.urls import mask_url, store_kind

__all__ = ["create_store"]


def create_store(url: str, **options: Any) -> Store:
    """The store for ``url``: ``sqlite:///file.db``, ``postgresql://...``, ``mongodb://...``.

    ``options`` go to the backend (for MongoDB: ``database`` and collection names). A
    backend whose driver is not installed is a ConfigError naming the extra to install.
    """
    wrong = foreign_options(url, options)
    if wrong is not None:
        raise ConfigError(wrong)
    kind = store_kind(url)
    if kind == "SQL":
        from schedkit.store.sql import SQLStore

        # Built first: a URL it refuses (another PostgreSQL driver) says so, not this.
        store = SQLStore(url, **options)
        if not urlsplit(url).scheme.lower().startswith("sqlite"):
            # SQLAlchemy would import it only when the store opens, as an unexplained
            # ModuleNotFoundError.
            _require_driver("asyncpg", "postgres", url)
        return store
    if kind == "MongoDB":
        _require_driver("pymongo", "mongo", url)
        from schedkit.store.mongo import MongoStore

        return MongoStore(url, **options)
    raise ConfigError(
        f"unsupported store URL {mask_url(url)!r}: use sqlite:///FILE, postgresql://... or mongodb://..."
    )


def _require_driver(module: str, extra: str, url: str) -> None:
    """ConfigError unless ``module``, the driver of ``url``'s database, imports."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != module:
            raise  # the driver is there, one of its own imports fails: not a missing extra
        raise ConfigError(
            f"store URL {mask_url(url)!r} needs the {module} driver, which is not "
            f"installed: pip install 'schedkit[{extra}]'"
        ) from None
