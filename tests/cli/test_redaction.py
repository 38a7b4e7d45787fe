"""What the CLI shows of a run (its error, result message, progress note, statistics, log
lines) is masked as the API masks it: an audit found ``history`` and ``run --wait``
printing credentials the API and ``--json`` hid."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from schedkit import SchedkitConfig, SyncScheduler, TaskRegistry
from schedkit.models import RunStatus
from tests.cli.conftest import SAMPLE_PACKAGE, Cli, one_error_line, write_config
from tests.cli.leaky_tasks import SECRETS

LEAKY_PACKAGE = "tests.cli.leaky_tasks"
#: Wide enough that no message is folded (a secret cut in two would pass unseen).
WIDE = {"COLUMNS": "400"}


@pytest.fixture
def leaky(cli: Cli) -> Cli:
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, LEAKY_PACKAGE))
    return cli


@pytest.fixture
def node(leaky: Cli) -> Iterator[SyncScheduler]:
    node = SyncScheduler(SchedkitConfig.load(leaky.config), registry=TaskRegistry())
    node.start()
    try:
        yield node
    finally:
        node.stop()


def _shown(result: object) -> str:
    """stdout and stderr of a CliRunner result."""
    return str(getattr(result, "stdout", "")) + str(getattr(result, "stderr", ""))


def _assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_history_masks_the_error_a_pending_retry_follows(leaky: Cli, node: SyncScheduler) -> None:
    run = node.run_now("leaky_retry")
    deadline = time.monotonic() + 20
    while (run := node.get_run(run.id)).attempt < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (run.status, run.attempt) == (RunStatus.PENDING, 2)
    history = leaky("history", "leaky_retry", env=WIDE)
    assert history.exit_code == 0, history.output
    assert "retry pending after: RuntimeError: could not log in to" in history.stdout
    assert "postgresql://app:***@db.internal/x" in history.stdout
    _assert_masked(_shown(history))
    as_json = leaky("--json", "history", "leaky_retry")
    _assert_masked(as_json.stdout)
    assert json.loads(as_json.stdout)["runs"][0]["failed_attempts"] == 1


def test_run_wait_masks_the_error_the_progress_and_the_log_lines(leaky: Cli) -> None:
    result = leaky("run", "leaky_fail", "--wait")
    assert result.exit_code == 1, result.output
    shown = _shown(result)
    assert "RuntimeError: could not log in to postgresql://app:***@db.internal/x" in shown
    assert "password=***" in shown
    assert "connecting: could not log in to postgresql://app:***@" in shown  # the log line
    _assert_masked(shown)
    history = leaky("history", "leaky_fail", env=WIDE)
    assert "password=***" in history.stdout
    _assert_masked(_shown(history))


def test_run_wait_and_history_mask_a_result_message_and_its_statistics(leaky: Cli) -> None:
    result = leaky("run", "leaky_result", "--wait")
    shown = _shown(result)
    assert "postgresql://u:***@h/db" in shown, shown
    _assert_masked(shown)
    history = leaky("history", "leaky_result", env=WIDE)
    assert result.exit_code == 0, shown
    assert "postgresql://u:***@h/db" in history.stdout
    _assert_masked(_shown(history))


def test_tasks_show_masks_schedule_kwargs_and_the_pause_note(
    leaky: Cli, node: SyncScheduler
) -> None:
    kwargs = {"db_password": "SchedPw11", "apiKey": "SchedKey22", "region": "eu-1"}
    spec = {"trigger": {"trigger": "cron", "expression": "0 3 * * *"}, "kwargs": kwargs}
    node.add_task("leaky_any", spec, schedule_id="sr1")
    node.pause_task("leaky_any", "password=NotePw33 postgresql://a:NoteUrlPw@h/x")
    shown = leaky("tasks", "show", "leaky_any", env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert '"db_password": "***"' in shown.stdout
    assert "password=*** postgresql://a:***@h/x" in shown.stdout
    as_json = leaky("--json", "tasks", "show", "leaky_any").stdout
    assert json.loads(as_json)["schedules"][0]["kwargs"]["apiKey"] == "***"
    for text in (shown.stdout, as_json):
        for secret in ("SchedPw11", "SchedKey22", "NotePw33", "NoteUrlPw"):
            assert secret not in text, text
    assert node.get_schedule("sr1").kwargs == kwargs  # the store keeps them


def test_an_error_masks_the_store_password_where_it_stands_not_every_word_alike(
    cli: Cli,
) -> None:
    """An integration audit: with the store password ``schedkit`` (a word), an error line
    read "searched task_packages: ***.cli.sample_tasks ... config: ***.toml": every
    occurrence of the word was masked, the message no longer true. A password is masked
    where a password stands (a URL's, ``password=``); a word-like one not elsewhere."""
    url = "postgresql://schedkit:schedkit@127.0.0.1:1/nowhere"
    result = cli("--store", url, "run", "no_such_task")
    line = one_error_line(result.stderr)
    assert "config: schedkit.toml" in line and "***" not in line, line
    # A password that is no word is masked wherever it appears.
    secret = "s3cr3t-Pa55w0rd"
    result = cli("--store", f"postgresql://app:{secret}@127.0.0.1:1/x", "history", secret)
    assert secret not in result.stderr and "***" in result.stderr, result.stderr
