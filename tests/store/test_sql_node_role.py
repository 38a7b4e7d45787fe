"""A node's database role that owns no table (the owner/runtime split): a store one
schema version behind says to upgrade it as the owner (an audit: ``must be owner of
index schedkit_runs_claim_ix`` was all a node said), and the ANALYZE it may not run is
a warning (docs/stores.md promised one; nothing was logged)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from schedkit.errors import StoreOutdatedError
from schedkit.models import TriggerSource
from schedkit.store import create_store
from tests.pg_roles import node_role
from tests.store._contract import T0, add_runs, make_run
from tests.store._versions import create_older

pytestmark = pytest.mark.external_service


async def _older(url: str) -> None:
    await create_older(url)


async def _current(url: str) -> None:
    async with create_store(url):
        pass


def test_a_node_role_on_an_older_store_is_told_to_upgrade_as_the_owner() -> None:
    with node_role(_older) as node:
        store = create_store(node.url)
        with pytest.raises(StoreOutdatedError) as raised:
            asyncio.run(store.open())
        said = str(raised.value)
        assert "is at schema version 1" in said, said
        assert "`schedkit db upgrade` with the URL of the tables' owner" in said, said


def test_an_analyze_a_node_role_may_not_run_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def claim_a_backlog(url: str) -> None:
        async with create_store(url) as store:
            backlog = [
                make_run(schedule_id=None, trigger_source=TriggerSource.MANUAL) for _ in range(5)
            ]
            await add_runs(store, *backlog)
            assert len(await store.claim_runs("n1", T0, 3)) == 3

    caplog.set_level(logging.INFO, logger="schedkit.store")
    with node_role(_current) as node:
        asyncio.run(claim_a_backlog(node.url))
    said = [r for r in caplog.records if "ANALYZE" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING], [r.getMessage() for r in said]
    assert "owner" in said[0].getMessage()
