"""The store a URL names."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from schedkit.errors import ConfigError
from schedkit.store.base import Store
from schedkit.store.urls import mask_url

__all__ = ["create_store"]


def create_store(url: str, **options: Any) -> Store:
    """The store for ``url``: ``sqlite:///file.db``, ``postgresql://...``, ``mongodb://...``.

    ``options`` go to the backend (for MongoDB: ``database`` and collection names).
    """
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from schedkit.store.sql import SQLStore

        return SQLStore(url, **options)
    if scheme in ("mongodb", "mongodb+srv"):
        from schedkit.store.mongo import MongoStore

        return MongoStore(url, **options)
    raise ConfigError(
        f"unsupported store URL {mask_url(url)!r}: use sqlite:///FILE, postgresql://... or mongodb://..."
    )
