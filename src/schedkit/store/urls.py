"""How a store URL is shown: with its password masked, and a MongoDB store with its
database when the URL does not name it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["describe_url", "mask_url", "mongo_database", "store_kind"]

MONGO_SCHEMES = ("mongodb", "mongodb+srv")


def store_kind(url: str) -> str | None:
    """``"SQL"`` (SQLite, PostgreSQL) or ``"MongoDB"``, by the URL's scheme (a driver
    suffix such as ``+asyncpg`` aside); None for a URL of neither."""
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        return "SQL"
    return "MongoDB" if scheme == "mongodb" else None


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def mongo_database(url: str, database: str | None = None) -> str:
    """The database a MongoDB store uses: the ``database`` option, else the URL's path,
    else ``schedkit``."""
    return database or _url_database(url) or "schedkit"


def describe_url(url: str, options: Mapping[str, Any] | None = None) -> str:
    """``url`` masked; for MongoDB followed by ``(database NAME)`` when the database comes
    from the store options or the default: two databases on one server would otherwise
    read the same."""
    masked = mask_url(url)
    if urlsplit(url).scheme not in MONGO_SCHEMES:
        return masked
    name = mongo_database(url, (options or {}).get("database"))
    return masked if name == _url_database(url) else f"{masked} (database {name})"


def _url_database(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))
