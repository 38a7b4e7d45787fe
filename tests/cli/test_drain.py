"""``schedkit drain NODE --undo`` (a design audit: a drain asked of a serve node could be
undone only by restarting it): the node takes runs again; a node not draining, or
``--undo`` with ``--grace``, is refused."""

from __future__ import annotations

import json
import time

from schedkit.sync import SyncScheduler
from tests.cli.conftest import Cli, one_error_line


def draining(cli: Cli, node_id: str) -> bool:
    result = cli("nodes", "--json")
    assert result.exit_code == 0, result.output
    [node] = [n for n in json.loads(result.output)["nodes"] if n["id"] == node_id]
    return bool(node["draining"])


def wait_draining(cli: Cli, node_id: str, wanted: bool) -> None:
    deadline = time.monotonic() + 20
    while draining(cli, node_id) is not wanted:
        assert time.monotonic() < deadline, f"draining never {wanted}"
        time.sleep(0.1)


def test_drain_undo_has_the_node_take_runs_again(cli: Cli, service: SyncScheduler) -> None:
    node_id = service.node_id
    assert cli("drain", node_id).exit_code == 0
    wait_draining(cli, node_id, True)

    usage = cli("drain", node_id, "--undo", "--grace", "5")
    assert usage.exit_code == 2, usage.output
    undone = cli("drain", node_id, "--undo")
    assert undone.exit_code == 0, undone.output
    assert f"node {node_id} drain undone" in undone.output
    wait_draining(cli, node_id, False)
    done = cli("run", "hello", "-p", "name=again", "--wait")
    assert done.exit_code == 0, done.output

    refused = cli("drain", node_id, "--undo")
    assert refused.exit_code == 1
    assert "is not draining" in one_error_line(refused.output)
