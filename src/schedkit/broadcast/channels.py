"""The channel name of a store: the nodes of one store share it, and no other store's.

One name for all ("schedkit_events", "schedkit:events") let two stores in one database
(two schemas, two table prefixes) and every app on a Redis server (pub/sub ignores db
numbers) hear each other: an audit's console showed another app's task names, run ids
and error texts, and every one of its events woke the other app's executors.

* PostgreSQL: ``NOTIFY`` is per database already; the name adds the schema (the one the
  tables are in: the connection's ``current_schema()``, whether the ``schema`` option or
  the role's ``search_path`` chose it) and the table prefix. The default store (schema
  ``public``, prefix ``schedkit_``) keeps the previous release's name, so that a rolling
  upgrade of it loses no event. A name is an identifier (63 bytes): a longer one is a
  hash.
* Redis: the db number of ``cluster.redis_url`` and the store's location (URL without
  credentials or query, schema, table prefix; MongoDB: hosts, database, collections).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from schedkit.store.urls import mongo_database, store_kind

#: The default PostgreSQL store's channel (the only name before this release).
POSTGRES_DEFAULT = "schedkit_events"
_DEFAULT_SCHEMA, _DEFAULT_PREFIX = "public", "schedkit_"
#: PostgreSQL's limit on a channel name (an identifier).
_MAX_NAME = 63


def postgres_channel(schema: str | None, table_prefix: str) -> str:
    if schema == _DEFAULT_SCHEMA and table_prefix == _DEFAULT_PREFIX:
        return POSTGRES_DEFAULT
    # "@" separates: a table prefix holds letters, digits and "_" only.
    name = f"{POSTGRES_DEFAULT}:{table_prefix}@{schema or ''}"
    if len(name.encode()) <= _MAX_NAME:
        return name
    return f"{POSTGRES_DEFAULT}:{_digest(name)}"


def redis_channel(redis_url: str, store_url: str, store_options: Mapping[str, Any]) -> str:
    return f"schedkit:events:{_redis_db(redis_url)}:{store_location(store_url, store_options)}"


def store_location(url: str, options: Mapping[str, Any]) -> str:
    """Where a store is, the same for all its nodes (credentials and query left out)."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    if store_kind(url) == "MongoDB":
        where = f"mongodb://{hosts}/{mongo_database(url, options.get('database'))}"
        collections = options.get("collections")
        return where + (f"#{json.dumps(collections, sort_keys=True)}" if collections else "")
    from schedkit.store.sql.options import SQLOptions

    sql = SQLOptions.parse(options)
    if parts.scheme.startswith("sqlite"):
        # sqlite:///relative: relative to the working directory.
        where = "sqlite://" + os.path.abspath(parts.path[1:])
    else:
        where = f"postgresql://{hosts}{parts.path}"
    return f"{where}#{sql.schema or ''}.{sql.table_prefix}"


def _redis_db(url: str) -> int:
    parts = urlsplit(url)
    given = parse_qs(parts.query).get("db") or [parts.path.strip("/") or "0"]
    try:
        return int(given[0])
    except ValueError:
        return 0  # redis-py refuses such a URL when connecting, saying why


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
