"""``schedkit cancel RUN_ID``: a pending run at once, a running one on the node that runs
it; finished and unknown runs refused as the API refuses them; audited."""

from __future__ import annotations

import json

from schedkit import SyncScheduler
from tests.cli.conftest import Cli, one_error_line


def test_cancel_a_pending_run_at_once_and_audited(cli: Cli, manager: SyncScheduler) -> None:
    run = manager.run_now("hello", {"name": "Ann"})
    result = cli("cancel", run.id, "--reason", "wrong day")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"cancelled run {run.id} of hello",
        f"store sqlite:///{cli.db}",
    ]
    stored = manager.get_run(run.id)
    assert (stored.status.value, stored.reason) == ("cancelled", "wrong day")
    (event,) = manager.list_audit(action="run.cancel", target=run.id)
    assert event.actor.startswith("cli:") and event.detail == "wrong day"


def test_cancel_in_chinese_and_json(cli: Cli, manager: SyncScheduler) -> None:
    first, second = manager.run_now("hello"), manager.run_now("hello")
    zh = cli("--lang", "zh", "cancel", first.id)
    assert zh.exit_code == 0, zh.output
    assert zh.stdout.splitlines() == [f"已取消 hello 的运行 {first.id}", f"存储 sqlite:///{cli.db}"]
    data = json.loads(cli("cancel", second.id, "--json").stdout)
    assert (data["id"], data["status"], data["store"]) == (
        second.id,
        "cancelled",
        f"sqlite:///{cli.db}",
    )
    assert data["reason"].startswith("cancelled by cli:")


def test_cancel_a_running_run_asks_its_node_to_stop_it(cli: Cli, service: SyncScheduler) -> None:
    """The run executes on the service's node: the command only asks (the store's cancel
    flag), and says that node stops it; in English, Chinese and JSON."""
    runs = [service.run_now("slow", {"seconds": 12}) for _ in range(3)]
    for run in runs:
        assert service.wait_for_run(run.id, timeout=0.5).status.value == "running"
    en, zh, as_json = runs
    result = cli("cancel", en.id, "--reason", "prices republished")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"cancel requested for run {en.id} of slow: node {service.node_id} will stop it"
    )
    result = cli("--lang", "zh", "cancel", zh.id)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"已请求取消 slow 的运行 {zh.id}：节点 {service.node_id} 将停止它"
    )
    result = cli("cancel", as_json.id, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["status"], data["cancel_requested"]) == ("running", True)
    for run in runs:
        assert service.wait_for_run(run.id, timeout=10).status.value == "cancelled"
    # An audit: the operator's reason was dropped ("cancel requested on another node").
    assert service.get_run(en.id).reason == "prices republished"
    assert service.get_run(zh.id).reason.startswith("cancelled by cli:")
    again = cli("cancel", en.id)  # finished now: a conflict, as the API's 409
    assert again.exit_code == 1, again.output
    assert one_error_line(again.stderr) == f"error: run {en.id} is already cancelled"


def test_cancel_refuses_finished_and_unknown_runs(cli: Cli, manager: SyncScheduler) -> None:
    assert cli("run", "hello", "--local").exit_code == 0
    (done,) = manager.list_runs("hello")
    finished = cli("cancel", done.id)
    assert finished.exit_code == 1, finished.output
    assert one_error_line(finished.stderr) == f"error: run {done.id} is already success"
    unknown = cli("cancel", "nope")
    assert unknown.exit_code == 2, unknown.output
    assert one_error_line(unknown.stderr) == "error: unknown run 'nope'"
    # The 8 digits history shows (a first-hour audit: "unknown run", and no more).
    short = cli("cancel", done.id[-8:])
    assert short.exit_code == 2, short.output
    said = one_error_line(short.stderr)
    assert said.startswith(f"error: unknown run '{done.id[-8:]}'; that is the short form")
    assert "schedkit history --json" in said


def test_cancel_reason_is_bounded_as_the_apis(cli: Cli, manager: SyncScheduler) -> None:
    run = manager.run_now("hello")
    result = cli("cancel", run.id, "--reason", "x" * 1001)
    assert result.exit_code == 2, result.output
    assert "--reason" in one_error_line(result.stderr)
    assert manager.get_run(run.id).status.value == "pending"
