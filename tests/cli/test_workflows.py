"""``schedkit workflow``: list, show, start --wait against a running service, runs,
status, retry, in English and Chinese, and JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from schedkit import SchedkitConfig, SyncScheduler, TaskRegistry
from tests.cli.conftest import SAMPLE_PACKAGE, Cli, one_error_line, write_config


@pytest.fixture
def wf_cli(cli: Cli) -> Cli:
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.workflow_tasks"))
    return cli


@pytest.fixture
def service(wf_cli: Cli) -> Iterator[SyncScheduler]:
    node = SyncScheduler(SchedkitConfig.load(wf_cli.config), registry=TaskRegistry())
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_list_and_show(wf_cli: Cli) -> None:
    assert wf_cli("db", "upgrade").exit_code == 0
    listed = wf_cli("workflow", "list")
    assert listed.exit_code == 0, listed.output
    assert "greeting" in listed.output and "greet → explode → again, handler" in listed.output
    shown = wf_cli("--lang", "zh", "workflow", "show", "greeting")
    assert "前置步骤" in shown.output and "上游失败时" in shown.output
    data = json.loads(wf_cli("workflow", "show", "greeting", "--json").stdout)
    assert data["launcher_task"] == "workflow.greeting"
    missing = wf_cli("workflow", "show", "nope")
    assert missing.exit_code != 0
    assert "no workflow 'nope'" in one_error_line(missing.stderr)


def test_show_lists_the_declared_params(wf_cli: Cli) -> None:
    """``Workflow(params=Model)``: what ``workflow start -p`` takes was not shown."""
    assert wf_cli("db", "upgrade").exit_code == 0
    shown = wf_cli("workflow", "show", "daily_greeting")
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert ["day", "string", "(date)", "-", "yes"] in rows, shown.stdout
    assert ["times", "integer", "2", "no"] in rows, shown.stdout
    zh = wf_cli("--lang", "zh", "workflow", "show", "daily_greeting").stdout
    assert "参数" in zh and ["day", "字符串", "(日期)", "-", "是"] in [
        line.split() for line in zh.splitlines()
    ]
    data = json.loads(wf_cli("workflow", "show", "daily_greeting", "--json").stdout)
    schema = data["params_schema"]
    assert schema["required"] == ["day"]
    assert schema["properties"]["times"]["default"] == 2
    undeclared = json.loads(wf_cli("workflow", "show", "greeting", "--json").stdout)
    assert undeclared["params_schema"] is None
    assert "parameters" not in wf_cli("workflow", "show", "greeting").stdout


def test_start_refuses_params_a_step_cannot_take(wf_cli: Cli) -> None:
    """``-p`` values were stored as given: a run started with a param its steps could not
    use, and failed in them."""
    refused = wf_cli("workflow", "start", "greeting", "-p", "times=many")
    assert refused.exit_code == 2, refused.output
    error = one_error_line(refused.stderr)
    assert "params.times" in error and "as step greet (task hello) takes it" in error
    runs = json.loads(wf_cli("workflow", "runs", "greeting", "--json").stdout)["items"]
    assert runs == []


def test_start_wait_status_runs_and_retry(wf_cli: Cli, service: SyncScheduler) -> None:
    started = wf_cli("workflow", "start", "greeting", "-p", "day=1", "--wait", "--timeout", "30")
    assert started.exit_code == 1, started.output  # the workflow failed: boom
    assert "explode" in started.output and "boom on purpose" in started.output
    assert "the workflow stopped: step explode failed" in started.output
    runs = json.loads(wf_cli("workflow", "runs", "greeting", "--json").stdout)["items"]
    (run,) = runs
    assert run["status"] == "failed" and run["params"] == {"day": 1}
    status = json.loads(wf_cli("workflow", "status", run["id"], "--json").stdout)
    states = {s["name"]: s["state"] for s in status["steps"]}
    assert states == {
        "greet": "success",
        "explode": "failed",
        "again": "skipped",
        "handler": "success",
    }
    greet = next(s for s in status["steps"] if s["name"] == "greet")
    assert greet["run"]["message"] == "hello 华东 x1"
    # The table says what a finished step reported (an audit: shown nowhere).
    assert "hello 华东 x1" in wf_cli("workflow", "status", run["id"]).stdout
    zh = wf_cli("--lang", "zh", "workflow", "runs", "--status", "failed")
    assert "工作流" in zh.output and "失败" in zh.output
    retried = wf_cli("workflow", "retry", run["id"], "explode")
    assert retried.exit_code == 0, retried.output
    refused = wf_cli("workflow", "retry", run["id"], "greet")
    assert "only a failed step" in one_error_line(refused.stderr)
    none = wf_cli("workflow", "runs", "--status", "success")
    assert none.stdout.splitlines() == ["no workflow runs", f"store sqlite:///{wf_cli.db}"]


def test_start_without_a_service_says_the_run_waits_for_one(wf_cli: Cli) -> None:
    """An audit: ``workflow start --wait`` with no service running printed nothing for
    ten minutes, where ``run`` says what it waits for. Nothing executes the steps here
    (a workflow's steps are many tasks' runs): it says the run waits for a service and
    how to start one."""
    waited = wf_cli("workflow", "start", "greeting", "-p", "day=4", "--wait", "--timeout", "0.3")
    assert waited.exit_code == 1, waited.output
    note = waited.stderr
    assert "no schedkit service is running on this store" in note, note
    assert "waits for one to execute its steps" in note and "schedkit serve" in note, note
    assert "Ctrl-C" in note
    started = wf_cli("workflow", "start", "greeting", "-p", "day=5")
    assert started.exit_code == 0, started.output
    assert "no schedkit service is running" in started.stderr
    assert "Ctrl-C" not in started.stderr
    zh = wf_cli("--lang", "zh", "workflow", "start", "greeting", "-p", "day=6")
    assert "没有运行中的 schedkit 服务" in zh.stderr and "schedkit serve" in zh.stderr
    assert "no schedkit" not in zh.stderr
    quiet = wf_cli("--json", "workflow", "start", "greeting", "-p", "day=7")
    assert quiet.stderr == "" and json.loads(quiet.stdout)["status"] == "running"


def test_status_says_what_ended_a_cancelled_step(wf_cli: Cli) -> None:
    """An audit: a cancelled (or lost) step's message column was empty, its run having
    a reason but no error."""
    started = json.loads(wf_cli("--json", "workflow", "start", "greeting", "-p", "day=2").stdout)
    status = json.loads(wf_cli("workflow", "status", started["id"], "--json").stdout)
    (greet,) = [s for s in status["steps"] if s["name"] == "greet"]
    cancelled = wf_cli("cancel", greet["run"]["id"], "--reason", "wrong trading day")
    assert cancelled.exit_code == 0, cancelled.output
    shown = wf_cli("workflow", "status", started["id"])
    (row,) = [line for line in shown.stdout.splitlines() if line.split()[:1] == ["greet"]]
    assert "wrong trading day" in row, shown.stdout


def test_start_with_a_service_says_nothing_of_waiting(wf_cli: Cli, service: SyncScheduler) -> None:
    started = wf_cli("workflow", "start", "greeting", "-p", "day=8")
    assert started.exit_code == 0, started.output
    assert "no schedkit service" not in started.stderr


def test_start_with_an_idempotency_key_starts_once(wf_cli: Cli) -> None:
    args = ("workflow", "start", "greeting", "-p", "day=2", "--idempotency-key", "greet-2")
    first = wf_cli(*args, "--json")
    assert first.exit_code == 0, first.output
    again = wf_cli(*args, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == json.loads(first.stdout)["id"]
    assert len(json.loads(wf_cli("workflow", "runs", "greeting", "--json").stdout)["items"]) == 1


def test_no_workflows_and_the_group_alone_lists(stored: Cli, wf_cli: Cli) -> None:
    write_config(stored.config, stored.db)  # the sample tasks only
    assert stored("workflow").stdout.splitlines()[0] == "no workflows"
    write_config(stored.config, stored.db, (SAMPLE_PACKAGE, "tests.cli.workflow_tasks"))
    assert "greeting" in stored("workflow").output


def test_runs_of_an_unknown_workflow_is_an_error_with_close_names(wf_cli: Cli) -> None:
    """As ``history`` of an unknown task: a typo is not an empty list."""
    assert wf_cli("db", "upgrade").exit_code == 0
    result = wf_cli("workflow", "runs", "greetings")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert line == "error: no workflow 'greetings'; did you mean 'greeting'?", line
    assert wf_cli("workflow", "runs", "greeting").exit_code == 0


def test_start_timeout_needs_wait(wf_cli: Cli) -> None:
    result = wf_cli("workflow", "start", "greeting", "--timeout", "5")
    assert result.exit_code == 2, result.output
    assert "--timeout needs --wait" in one_error_line(result.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["workflow", "list"],
        ["workflow", "show", "greeting"],
        ["workflow", "runs"],
        ["workflow", "start", "greeting", "-p", "day=3"],
    ],
    ids=" ".join,
)
def test_workflow_commands_name_their_store(wf_cli: Cli, args: list[str]) -> None:
    assert wf_cli("db", "upgrade").exit_code == 0
    label = f"sqlite:///{wf_cli.db}"
    text = wf_cli(*args)
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[-1] == f"store {label}"
    assert json.loads(wf_cli("--json", *args).stdout)["store"] == label


def test_status_says_a_step_waits_for_its_retry(cli: Cli) -> None:
    """An audit: a step waiting for its retry showed as `pending 2 - -` with no message,
    where the console says "Waiting to retry", when, and what the last attempt failed
    with."""
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.retry_flow"))
    node = SyncScheduler(SchedkitConfig.load(cli.config), registry=TaskRegistry())
    node.start()
    try:
        started = json.loads(cli("--json", "workflow", "start", "flaky_close").stdout)
        for _ in range(100):
            status = json.loads(cli("workflow", "status", started["id"], "--json").stdout)
            (fetch,) = status["steps"]
            if fetch["run"] and fetch["run"]["failed_attempts"]:
                break
            time.sleep(0.1)
    finally:
        node.stop()
    shown = cli("workflow", "status", started["id"]).stdout
    (row,) = [line for line in shown.splitlines() if line.split()[:1] == ["fetch"]]
    assert "waiting to retry" in row and "retries at 20" in row, shown
    assert "last attempt failed: the market feed was late" in row, shown
    zh = cli("--lang", "zh", "workflow", "status", started["id"]).stdout
    (row,) = [line for line in zh.splitlines() if line.split()[:1] == ["fetch"]]
    assert "等待重试" in row and "上次尝试失败：the market feed was late" in row, zh
    assert "; " not in zh, zh  # full-width punctuation in Chinese


def test_status_says_skip_reasons_in_chinese(wf_cli: Cli) -> None:
    """An audit: `--lang zh` left the skip reasons of the steps in English."""
    started = json.loads(wf_cli("--json", "workflow", "start", "greeting", "-p", "day=3").stdout)
    status = json.loads(wf_cli("workflow", "status", started["id"], "--json").stdout)
    (greet,) = [s for s in status["steps"] if s["name"] == "greet"]
    assert wf_cli("cancel", greet["run"]["id"], "--reason", "wrong trading day").exit_code == 0
    zh = wf_cli("--lang", "zh", "workflow", "status", started["id"]).stdout
    (explode,) = [line for line in zh.splitlines() if line.split()[:1] == ["explode"]]
    assert "工作流已停止（步骤 greet：已取消）" in explode, zh
    assert "stopped" not in zh
