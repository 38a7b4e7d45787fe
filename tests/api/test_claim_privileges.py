"""A node whose database role may not update the runs table (its claims refused): every
claim failed while ``/ready`` answered 200 (the store answering its ping, the scheduler
loop working), ``/health`` said only ok, the node list showed it alive, and runs piled up
pending. Now the claim loop counts for ``/ready`` (503 with the reason), ``/health``
names it (still 200: a restart grants nothing), and the node's heartbeat carries it to
every node's list (API, ``schedkit nodes``) until a GRANT lets the claims through."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from schedkit import RunStatus, Scheduler, TaskRegistry
from schedkit.cli import app as cli_app
from schedkit.store import create_store
from tests.api.conftest import Api, open_api
from tests.api.server import FAST, fast_config
from tests.api.tasks import echo
from tests.pg_roles import NodeRole, until

pytestmark = pytest.mark.external_service

RUNS = "schedkit_runs"


async def _run_now(owner_url: str, registry: TaskRegistry) -> str:
    """A pending run, made by a client that executes nothing (as the owner)."""
    quiet = {**FAST["scheduler"], "enabled": False}
    async with Scheduler(
        fast_config(owner_url, scheduler=quiet, executor={"enabled": False}), registry=registry
    ) as client:
        return (await client.run_now("echo", kwargs={"count": 1})).id


async def _status(owner_url: str, run_id: str) -> RunStatus:
    async with create_store(owner_url) as store:
        run = await store.get_run(run_id)
    assert run is not None
    return run.status


def _cli(owner_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli_app, ["--store", owner_url, *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param({"scheduler": {**FAST["scheduler"], "enabled": False}}, id="worker"),
        pytest.param({}, id="scheduler-and-executor"),
    ],
)
def test_refused_claims_make_the_node_unready_and_show_in_the_node_list(
    node: NodeRole, roles: dict[str, Any]
) -> None:
    registry = TaskRegistry()
    registry.register_task(echo)
    for api in open_api(node.url, registry=registry, **roles):
        _refuse_and_grant(api, node, registry)


def _refuse_and_grant(api: Api, node: NodeRole, registry: TaskRegistry) -> None:
    assert api.anon.get("/ready").status_code == 200
    fine = api.anon.get("/health")
    assert (fine.status_code, fine.json()) == (200, {"status": "ok", "failing": []})

    node.sql(f"REVOKE UPDATE ON {RUNS} FROM {node.role}")
    run_id = asyncio.run(_run_now(node.owner_url, registry))
    until(lambda: api.anon.get("/ready").status_code == 503, 15, "unready once refused")
    anon = api.anon.get("/ready").json()["detail"]
    assert anon == (
        "not ready: the claim loop fails: the store refuses this node's role (see the node's log)"
    )
    known = api.viewer.get("/ready").json()["detail"]
    assert known.startswith("not ready: the claim loop fails since "), known
    assert f"permission denied for table {RUNS}" in known
    assert f"role {node.role} lacks a privilege" in known

    # Alive: a supervisor must not restart it for ever; the body says what fails.
    health = api.anon.get("/health")
    assert health.status_code == 200
    [failing] = health.json()["failing"]
    assert (failing["loop"], failing["refused"], failing["error"]) == ("claim loop", True, None)
    [told] = api.viewer.get("/health").json()["failing"]
    assert told["since"] == failing["since"]
    assert f"permission denied for table {RUNS}" in told["error"]

    # Every node's list shows it, through the node's heartbeat in the store.
    def listed() -> dict[str, Any]:
        [row] = api.viewer.get("/nodes").json()
        return row  # type: ignore[no-any-return]

    until(lambda: bool(listed()["failing"]), 10, "the heartbeat carries the failure")
    row = listed()
    assert row["alive"] is True
    [shown] = row["failing"]
    assert (shown["loop"], shown["refused"]) == ("claim loop", True)
    assert f"role {node.role} lacks a privilege" in shown["error"]
    [as_json] = json.loads(_cli(node.owner_url, "nodes", "--json"))["nodes"]
    assert as_json["failing"] == row["failing"]
    table = _cli(node.owner_url, "nodes")
    assert re.search(rf"{re.escape(row['id'])} .* failing\s*$", table, re.M), table
    said = f"node {row['id']}: the claim loop fails since "
    line = next(line for line in table.splitlines() if line.startswith(said))
    assert f"permission denied for table {RUNS}" in line, table
    zh = _cli(node.owner_url, "--lang", "zh", "nodes")
    assert "故障" in zh and f"节点 {row['id']}：运行领取循环自 " in zh, zh
    assert asyncio.run(_status(node.owner_url, run_id)) is RunStatus.PENDING

    node.sql(f"GRANT UPDATE ON {RUNS} TO {node.role}")
    until(lambda: api.anon.get("/ready").status_code == 200, 40, "ready once granted")
    until(
        lambda: asyncio.run(_status(node.owner_url, run_id)) is RunStatus.SUCCESS,
        15,
        "the pending run starts without a restart",
    )
    assert api.anon.get("/health").json()["failing"] == []
    until(lambda: listed()["failing"] == [], 10, "the node list clears")


def test_a_probe_with_a_token_the_store_refuses_to_look_up_is_told_the_node_lives(
    node: NodeRole,
) -> None:
    """Re-audit: with the claim loop failing and the token lookup refused too (the role
    may not UPDATE the tokens' table either), ``/health`` answered 503 to a caller with
    credentials (a liveness probe sending its token restarted the node); anonymously 200."""
    registry = TaskRegistry()
    registry.register_task(echo)
    worker = {"scheduler": {**FAST["scheduler"], "enabled": False}, "api": {"token_cache": 0}}
    for api in open_api(node.url, registry=registry, **worker):
        _probe_refused(api, node, registry)


def _probe_refused(api: Api, node: NodeRole, registry: TaskRegistry) -> None:
    node.sql(
        f"REVOKE UPDATE ON {RUNS} FROM {node.role}",
        f"REVOKE UPDATE ON schedkit_api_tokens FROM {node.role}",
    )
    asyncio.run(_run_now(node.owner_url, registry))
    until(lambda: api.anon.get("/ready").status_code == 503, 15, "unready once refused")
    probed = api.viewer.get("/health")
    assert probed.status_code == 200, probed.text
    [failing] = probed.json()["failing"]
    assert (failing["loop"], failing["error"]) == ("claim loop", None)
