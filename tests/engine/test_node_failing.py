"""A node's failing loops travel in its heartbeat row (``info.failing``, no schema
change): every store keeps them as written, and the node list reads them back; a row of
an older node (without them) or one this release cannot read shows none. The error is
masked before it is stored: every viewer of the list reads it."""

from __future__ import annotations

from datetime import UTC, datetime

from schedkit.engine.health import LoopHealth
from schedkit.errors import StoreRefusedError
from schedkit.models import Node
from schedkit.readmodels import node_views

from .conftest import MakeScheduler

SINCE = datetime(2026, 12, 7, 3, 38, 27, 123456, tzinfo=UTC)
ERROR = "store postgresql://node:***@db/app refused: permission denied for table schedkit_runs"
#: What a node's heartbeat writes for its refused claims.
STORED = {
    "loop": "claim loop",
    "since": SINCE.isoformat(),
    "error": ERROR,
    "refused": True,
    "unwritable": False,
}


class Clock:
    def now(self) -> datetime:
        return SINCE


def row(node_id: str, info: dict[str, object]) -> Node:
    return Node(
        id=node_id,
        hostname="plant-a",
        pid=1,
        started_at=SINCE,
        heartbeat_at=datetime.now(UTC),
        roles=["executor"],
        version="1.0",
        info=info,
    )


async def test_the_node_list_shows_each_node_s_failing_loops_on_every_store(
    make_scheduler: MakeScheduler,
) -> None:
    viewer = await make_scheduler(scheduler={"enabled": False}, executor={"enabled": False})
    for node in (
        row("failing", {"capacity": 4, "failing": [STORED]}),
        row("older", {"capacity": 4}),
        row("unreadable", {"failing": ["claim loop", {**STORED, "since": "x"}, {"loop": 1}]}),
    ):
        await viewer.store.upsert_node(node)

    views = {v.id: v for v in await node_views(viewer)}
    [shown] = views["failing"].failing
    assert (shown.loop, shown.since, shown.refused, shown.error) == (
        "claim loop",
        SINCE,
        True,
        ERROR,
    )
    assert views["older"].failing == [] and views["unreadable"].failing == []


def test_a_loop_s_failure_is_stored_with_its_password_masked() -> None:
    claims = LoopHealth("claim loop", Clock())
    claims.failed(
        StoreRefusedError(
            "store postgresql://node:secret@db/app refused: permission denied for table "
            "schedkit_runs"
        )
    )
    assert claims.failing is not None and claims.failing.to_json() == STORED
