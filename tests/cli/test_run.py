"""``schedkit run``: where a run executes, the live progress, the exit code."""

from __future__ import annotations

import json

import pytest

from schedkit import SyncScheduler
from tests.cli.conftest import Cli, one_error_line


def test_run_wait_executes_here_when_no_service_runs(cli: Cli) -> None:
    result = cli("run", "hello", "-p", "name=Ann", "-p", "times=3", "--wait")
    assert result.exit_code == 0, result.output
    assert "success" in result.stdout and "hello Ann x3" in result.stdout
    assert "greeted" in result.stdout  # the result's statistics
    assert "hello Ann" in result.stderr  # the run's log line, read back from the store

    page = json.loads(cli("--json", "history", "hello").stdout)
    (run,) = page["runs"]
    assert run["status"] == "success"
    assert run["kwargs"] == {"name": "Ann", "times": 3}
    assert run["node_id"].startswith("cli-run[hello]@")
    assert run["progress"]["done"] == 3 and run["progress"]["total"] == 3


def test_run_wait_json_and_failure_exit_code(cli: Cli) -> None:
    ok = cli("run", "hello", "--wait", "--json")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["result"]["message"] == "hello world x1"
    failed = cli("run", "boom", "--wait", "--json")
    assert failed.exit_code == 1
    run = json.loads(failed.stdout)
    assert run["status"] == "failed"
    assert run["error"]["type"] == "ValueError"
    human = cli("run", "boom", "--wait")
    assert human.exit_code == 1
    assert "failed" in human.stdout and "ValueError: boom on purpose" in human.stdout
    assert "error:" not in human.stderr  # the outcome is the message, not an error line


def test_run_without_wait_leaves_a_pending_run(cli: Cli) -> None:
    result = cli("run", "hello")
    assert result.exit_code == 0, result.output
    assert "created run" in result.stdout and "(pending)" in result.stdout
    assert "no schedkit service is running" in result.stderr
    page = json.loads(cli("--json", "history", "hello").stdout)
    assert [r["status"] for r in page["runs"]] == ["pending"]
    assert page["runs"][0]["created_by"].startswith("cli:")


def test_run_with_an_idempotency_key_runs_once(cli: Cli) -> None:
    """A cron wrapper started twice for the same day runs the task once; the second
    command shows the first one's run and exit code."""
    args = ("run", "hello", "-p", "name=Ann", "--idempotency-key", "hello-2026-12-05")
    first = cli(*args, "--wait", "--json")
    assert first.exit_code == 0, first.output
    run = json.loads(first.stdout)
    assert run["status"] == "success"
    again = cli(*args, "--wait", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == run["id"]
    shown = cli(*args)
    assert f"run {run['id']} of hello for key hello-2026-12-05 (success)" in shown.stdout
    assert json.loads(cli("--json", "history", "hello").stdout)["total"] == 1
    other = cli("run", "hello", "-p", "name=Bob", "--idempotency-key", "hello-2026-12-05")
    assert other.exit_code != 0
    assert "other kwargs" in one_error_line(other.stderr)
    assert json.loads(cli("--json", "history", "hello").stdout)["total"] == 1


BAD_RUNS = [
    (["hello", "-p", "times=lots"], "kwargs.times"),
    (["hello", "-p", "colour=blue"], "kwargs.colour"),
    (["hello", "-p", "novalue"], "--param: expected KEY=VALUE"),
    (["hello", "--params", "[1]"], "--params: must be a JSON object"),
    (["nope"], "unknown task 'nope'"),
]


def test_run_rejects_bad_input(cli: Cli) -> None:
    for args, message in BAD_RUNS:
        result = cli("run", *args, "--wait")
        assert result.exit_code == 2, (args, result.output)
        assert message in one_error_line(result.stderr), args
    assert json.loads(cli("--json", "history").stdout)["total"] == 0


def test_a_mistyped_param_names_the_parameter_meant(cli: Cli) -> None:
    """An audit: ``-p nmae=Ann`` was refused as ``kwargs.nmae: Extra inputs are not
    permitted``, where a mistyped task name gets "did you mean"."""
    result = cli("run", "hello", "-p", "nmae=Ann")
    assert result.exit_code == 2, result.output
    assert one_error_line(result.stderr) == (
        "error: kwargs.nmae: unknown key 'nmae' (did you mean 'name'?)"
    )


def test_a_mistyped_config_key_names_the_key_meant(cli: Cli) -> None:
    """An audit: ``max_wrokers`` in the config file stopped every command with
    ``executor.max_wrokers: Extra inputs are not permitted`` and no key meant."""
    text = cli.config.read_text(encoding="utf-8")
    cli.config.write_text(text.replace("max_workers", "max_wrokers"), encoding="utf-8")
    result = cli("tasks", "list")
    assert result.exit_code != 0, result.output
    assert one_error_line(result.stderr) == (
        "error: schedkit.toml: executor.max_wrokers: unknown key 'max_wrokers' (did you "
        "mean 'max_workers'?)"
    )


def test_run_local_with_bad_params_leaves_the_tasks_pending_runs_alone(cli: Cli) -> None:
    """``run --local`` started its executing node before it checked ``-p``: the node
    claimed a pending run of the task (a workflow's step, another request's), then, as
    the command exited 2, handed it back with an attempt spent ("HandedBack: the node
    drained before the run started")."""
    created = cli("--json", "run", "hello", "-p", "name=Ann")  # pending: no service runs
    assert created.exit_code == 0, created.output
    waiting = json.loads(created.stdout)["id"]
    result = cli("run", "hello", "-p", "times=lots", "--local")
    assert result.exit_code == 2, result.output
    assert "kwargs.times" in one_error_line(result.stderr)
    page = json.loads(cli("--json", "history", "hello").stdout)
    (run,) = page["runs"]
    assert run["id"] == waiting
    assert (run["status"], run["attempt"], run["max_attempts"]) == ("pending", 1, 1)
    assert run["node_id"] is None and run["started_at"] is None
    assert run["attempt_errors"] == []


def test_run_local_with_a_used_key_and_other_params_starts_no_node(cli: Cli) -> None:
    """An audit: ``run --local --idempotency-key K`` with params other than those of the
    run K made started its node first: the node claimed that pending run (another
    request's), and as the command then failed on the key, handed it back with an
    attempt spent. The conflict is found before, with the non-local path's exit code."""
    key = ("--idempotency-key", "hello-2026-12-05")
    created = cli("--json", "run", "hello", "-p", "name=Ann", *key)  # pending: no service
    assert created.exit_code == 0, created.output
    first = json.loads(created.stdout)["id"]
    remote = cli("run", "hello", "-p", "name=Bob", *key)
    local = cli("run", "hello", "-p", "name=Bob", "--local", *key)
    assert local.exit_code == remote.exit_code == 1, local.output
    assert one_error_line(local.stderr) == one_error_line(remote.stderr)
    assert "other kwargs" in one_error_line(local.stderr)
    page = json.loads(cli("--json", "history", "hello").stdout)
    (run,) = page["runs"]
    assert run["id"] == first
    assert (run["status"], run["attempt"], run["node_id"], run["started_at"]) == (
        "pending", 1, None, None,
    )  # fmt: skip
    assert run["attempt_errors"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--local", "--remote"], "--local and --remote contradict each other"),
        (["--remote", "--local"], "--local and --remote contradict each other"),
        (["--timeout", "5"], "--timeout needs --wait"),
    ],
)
def test_contradictory_run_options_are_refused(cli: Cli, args: list[str], message: str) -> None:
    result = cli("run", "hello", *args)
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result.stderr)
    assert result.stdout == ""
    assert not cli.db.exists()  # refused before anything was opened


def test_run_wait_is_executed_by_a_running_service(cli: Cli, service: SyncScheduler) -> None:
    result = cli("run", "hello", "-p", "name=Svc", "--wait", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["status"] == "success"
    assert run["node_id"] == service.node_id
    # An audit: with a service executing it, the run was said to "wait for a service".
    text = cli("run", "hello", "-p", "name=Svc", "--wait")
    assert "executed by the schedkit service on this store" in text.stderr, text.stderr
    assert "waits for" not in text.stderr


def test_run_local_executes_here_even_with_a_service(cli: Cli, service: SyncScheduler) -> None:
    result = cli("run", "hello", "--local", "--json")  # --local implies --wait
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["status"] == "success"
    assert run["node_id"] != service.node_id
    assert run["node_id"].startswith("cli-run[hello]@")


def test_run_without_wait_is_picked_up_by_the_service(cli: Cli, service: SyncScheduler) -> None:
    result = cli("run", "hello", "--json")
    assert result.exit_code == 0
    run_id = json.loads(result.stdout)["id"]
    assert "no schedkit service" not in result.stderr
    run = service.wait_for_run(run_id, timeout=10)
    assert run.status.value == "success"


def test_pause_from_the_cli_reaches_a_running_service(cli: Cli, service: SyncScheduler) -> None:
    assert cli("pause", "nightly_report", "--note", "freeze").exit_code == 0
    (schedule,) = service.list_schedules("nightly_report")
    assert schedule.paused and schedule.pause_note == "freeze"
    info = service.get_job_info("nightly_report")
    assert info[0]["next_run_time"] is None


def test_live_progress_bar_on_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws on stderr as on a terminal
    result = cli("run", "slow", "-p", "seconds=1.2", "--wait")
    assert result.exit_code == 0, result.output
    assert "sleeping" in result.stderr  # the run's progress note
    assert "━" in result.stderr  # the bar
    assert "/6" in result.stderr or "%" in result.stderr


def test_wait_timeout_cancels_a_local_run(cli: Cli) -> None:
    result = cli("run", "slow", "-p", "seconds=30", "--wait", "--timeout", "0.5", "--json")
    assert result.exit_code == 1
    run = json.loads(result.stdout)
    assert run["status"] == "cancelled"
    assert "stopped waiting" in (run["reason"] or "") or run["reason"]


def test_a_local_repeat_of_a_keyed_run_does_not_cancel_the_services_run(
    cli: Cli, service: SyncScheduler
) -> None:
    """``run --local`` repeated with the key of a run a service executes watches that
    run; stopping to wait (here ``--timeout``; Ctrl-C takes the same decision) must
    leave it running there, not cancel it as if it executed here."""
    key = "slow-2026-12-05"
    first = service.run_now("slow", {"seconds": 1.5}, idempotency_key=key)
    assert service.wait_for_run(first.id, timeout=0.3).status.value == "running"
    result = cli(
        "run", "slow", "-p", "seconds=1.5", "--local", "--idempotency-key", key,
        "--timeout", "0.2", "--json",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    shown = json.loads(result.stdout)
    assert (shown["id"], shown["status"], shown["node_id"]) == (
        first.id, "running", service.node_id,
    )  # fmt: skip
    assert f"run {first.id} goes on (not executed here)" in result.stderr
    assert service.wait_for_run(first.id, timeout=10).status.value == "success"
