"""The store contract, versions: an opener upgrades an older store only when it says so
(nodes, ``schedkit db upgrade``); one that reads (``open(upgrade=False)``, every read
command) refuses an older store, changing nothing, and opens one newer than the code only
if it is compatible. On every backend (the ``store_url`` fixture of ``tests/conftest.py``).

An upgrade audit: ``schedkit check`` of a new release, run as a pre-flight or while
deciding whether to roll back, upgraded a schema-1 store to 8, past what the old release
can start on."""

from __future__ import annotations

import pytest

from schedkit.errors import StoreError, StoreOutdatedError
from schedkit.store import create_store
from tests.store._versions import code_version, create_older, is_mongo, make_newer, stored_version


async def test_open_without_upgrade_refuses_an_older_store_and_changes_nothing(
    store_url: str,
) -> None:
    old = await create_older(store_url)
    latest = code_version(store_url)
    kind = "index" if is_mongo(store_url) else "schema"
    for create in (False, True):  # a read never creates one; nor would it upgrade one
        with pytest.raises(StoreOutdatedError) as refused:
            await create_store(store_url).open(create=create, upgrade=False)
        message = str(refused.value)
        assert f"is at {kind} version {old}; this release uses {latest}: " in message
        assert "`schedkit db upgrade` upgrades it" in message
        assert "reading a store never upgrades it" in message
        assert await stored_version(store_url) == old

    store = create_store(store_url)
    await store.open()  # a node's start, `schedkit db upgrade`: upgrades
    try:
        assert (store.found_version, await store.schema_version()) == (old, latest)
    finally:
        await store.close()
    reader = create_store(store_url)
    await reader.open(create=False, upgrade=False)
    try:
        assert reader.found_version == reader.code_version == latest
        assert await reader.schema_version() == latest
    finally:
        await reader.close()


async def test_a_newer_store_that_older_code_cannot_work_with_is_refused_by_every_opener(
    store_url: str,
) -> None:
    async with create_store(store_url):
        pass
    newer = code_version(store_url) + 1
    await make_newer(store_url, newer, compatible_from=newer)
    for upgrade in (True, False):
        with pytest.raises(StoreError) as refused:
            await create_store(store_url).open(upgrade=upgrade)
        assert not isinstance(refused.value, StoreOutdatedError)
        message = str(refused.value)
        assert f"version {newer}, newer than this release's {newer - 1}" in message
        assert "this release refuses to run on it; upgrade schedkit" in message
        assert await stored_version(store_url) == newer
