"""``schedkit nodes``: the node list as a table."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from schedkit.models import Node
from schedkit.store import create_store
from tests.cli.conftest import Cli


def test_a_silent_node_s_running_count_is_not_shown_as_running(stored: Cli) -> None:
    """An audit: a killed node's row kept ``running 1`` after its run was judged lost
    (and retried elsewhere), until node_expiry removed the row."""
    cli = stored
    now = datetime.now(UTC)

    async def rows() -> None:
        async with create_store(f"sqlite:///{cli.db}") as store:
            for node_id, beat in (("live-1", now), ("killed-1", now - timedelta(minutes=1))):
                info = {"capacity": 4, "running": 1}
                await store.upsert_node(
                    Node(id=node_id, hostname="box", pid=1, started_at=beat, heartbeat_at=beat,
                         roles=["executor"], version="1.0", info=info)
                )  # fmt: skip

    asyncio.run(rows())
    table = cli("nodes")
    assert table.exit_code == 0, table.output
    cells = {line.split()[0]: line.split() for line in table.stdout.splitlines() if "-1 " in line}
    assert cells["live-1"][6:8] == ["4", "1"], table.stdout
    assert cells["killed-1"][6:8] == ["4", "-"], table.stdout
    assert "silent" in cells["killed-1"]
    # The API's field (and --json) keeps the last heartbeat's count, with alive false.
    listed = {n["id"]: n for n in json.loads(cli("nodes", "--json").stdout)["nodes"]}
    assert (listed["killed-1"]["running"], listed["killed-1"]["alive"]) == (1, False)
    assert "no live node" not in table.stdout


def test_no_live_node_is_said_in_a_sentence(stored: Cli) -> None:
    """An audit: with nothing running, ``schedkit nodes`` printed an empty table."""
    cli = stored
    said = cli("nodes")
    assert said.exit_code == 0, said.output
    assert said.stdout.splitlines() == [
        "no live node on this store: a node is listed while a process runs one (schedkit "
        "serve, schedkit worker, or an app that starts a Scheduler)",
        f"store sqlite:///{cli.db}",
    ]
    zh = cli("--lang", "zh", "nodes").stdout
    assert zh.startswith("此存储上没有在线节点") and len(zh.splitlines()) == 2, zh
    assert json.loads(cli("nodes", "--json").stdout)["nodes"] == []
    # Nodes that all stopped heartbeating are listed, and said to be no live one.
    beat = datetime.now(UTC) - timedelta(minutes=1)

    async def silent() -> None:
        async with create_store(f"sqlite:///{cli.db}") as store:
            await store.upsert_node(
                Node(id="killed-1", hostname="box", pid=1, started_at=beat, heartbeat_at=beat,
                     roles=["executor"], version="1.0", info={"capacity": 4})
            )  # fmt: skip

    asyncio.run(silent())
    listed = cli("nodes").stdout
    assert "killed-1" in listed and "no live node on this store" in listed, listed
