"""The options each kind of store takes (``create_store(url, **options)``), known without
its driver: options meant for another kind of store than the URL's are named as such.

An audit: ``store_options = { database = "exds" }`` in schedkit.toml with the MongoDB URL
meant for the environment but not set there was answered "unknown SQL store option(s)
database" (the default ``sqlite:///schedkit.db`` was used), pointing away from the cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schedkit.store.urls import mask_url, store_kind

__all__ = ["MONGO_OPTIONS", "foreign_options"]

#: The MongoDB store's options (the keyword arguments of its constructor).
MONGO_OPTIONS = frozenset(
    {"collections", "database", "recover_after", "server_selection_timeout", "socket_timeout"}
)

#: What the URL of each kind of store looks like, for the message.
_URL_SHAPES = {"SQL": "sqlite:///FILE or postgresql://...", "MongoDB": "mongodb://HOST:27017"}


def _kinds() -> dict[str, frozenset[str]]:
    from schedkit.store.sql.options import SQLOptions  # SQLAlchemy: only when options are given

    return {"SQL": frozenset(SQLOptions.__dataclass_fields__), "MongoDB": MONGO_OPTIONS}


def foreign_options(url: str, options: Mapping[str, Any], origin: str | None = None) -> str | None:
    """What is wrong when the options that the store ``url`` names does not take are all
    options of one other kind of store: that kind, the URL and, when known, where the URL
    came from (``origin``: "the default: store_url is not set", "from environment
    variable SCHEDKIT_STORE_URL"...). None otherwise: an option no store takes is the
    store's own "unknown option" error, with the options it knows."""
    kind = store_kind(url)
    if kind is None or not options:
        return None
    kinds = _kinds()
    alien = set(options) - kinds[kind]
    other = next((k for k, names in kinds.items() if k != kind and alien <= names), None)
    if not alien or other is None:
        return None
    used = mask_url(url) + (f" ({origin})" if origin else "")
    return (
        f"store_options holds {other} store options ({', '.join(sorted(alien))}), but the "
        f"store URL {used} names a {kind} store: set SCHEDKIT_STORE_URL (or store_url) to "
        f"the {other} store's URL ({_URL_SHAPES[other]}), or leave these options out"
    )
