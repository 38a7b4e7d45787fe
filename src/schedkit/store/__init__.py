"""Stores: one contract (:class:`Store`), one backend per database family."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from schedkit.errors import ConfigError
from schedkit.store.base import MAX_RESULT_BYTES, Store
from schedkit.store.values import (
    FireRecord,
    LeaseFence,
    LostRun,
    RunFinish,
    RunRequeue,
    ScheduleAdvance,
)

__all__ = [
    "MAX_RESULT_BYTES",
    "FireRecord",
    "LeaseFence",
    "LostRun",
    "RunFinish",
    "RunRequeue",
    "ScheduleAdvance",
    "Store",
    "create_store",
    "mask_url",
]


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


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
