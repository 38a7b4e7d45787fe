"""``schedkit run --wait`` executing here (no service, or ``--local``): it executes the
run it was asked for and nothing else; what it says of a run that ended earlier or
ended after retries; a mistyped task name opens no store."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from typing import Any

import pytest

from schedkit.engine.executor import Executor
from schedkit.models import RunStatus
from schedkit.service.runs import RunControl
from tests.cli.conftest import SAMPLE_PACKAGE, Cli, one_error_line, write_config
from tests.cli.test_subprocess import runs_of


def test_run_wait_here_leaves_the_tasks_other_pending_runs_for_a_service(cli: Cli) -> None:
    """An audit: the node ``run --wait`` started here claimed the task's pending runs like
    a service: after its own run it executed one created earlier (and on Ctrl-C, started
    it while it stopped). It executes its own run only; the rest wait for a service."""
    created = cli("--json", "run", "hello", "-p", "name=Earlier")  # pending: no service
    assert created.exit_code == 0, created.output
    earlier = json.loads(created.stdout)["id"]
    for args in (("--wait",), ("--local",)):
        result = cli("--json", "run", "hello", "-p", "name=Own", *args)
        assert result.exit_code == 0, result.output
        own = json.loads(result.stdout)
        assert (own["status"], own["kwargs"]["name"]) == ("success", "Own")
    page = json.loads(cli("--json", "history", "hello", "--status", "pending").stdout)
    (waiting,) = page["runs"]
    assert waiting["id"] == earlier
    assert (waiting["attempt"], waiting["node_id"], waiting["started_at"]) == (1, None, None)


def test_run_wait_here_executes_its_runs_retries(cli: Cli) -> None:
    """Its own run's retries are its to execute (claimed by the run's id when due); the
    outcome gives the time across both attempts, not the last one's 0.00s."""
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.retry_tasks"))
    result = cli("run", "fails_twice", "--wait")
    assert result.exit_code == 1, result.output
    assert "RuntimeError: still broken" in result.stdout
    said = re.search(r"failed after 2 attempts in ([\d.]+)s", result.stdout)
    assert said, result.stdout
    assert float(said.group(1)) >= 0.7  # the retry's delay is inside
    # No terminal here: the retry is said as a line (a first-hour audit: nothing for a
    # minute of retries in a cron or CI log).
    waited = re.search(
        r"attempt 1 ended \(RuntimeError: still broken\); attempt 2/2 at ", result.stderr
    )
    assert waited, result.stderr
    zh = cli("--lang", "zh", "run", "fails_twice", "--wait")
    assert "共 2 次尝试，总耗时" in zh.stdout, zh.stdout
    (run, _) = json.loads(cli("--json", "history", "fails_twice").stdout)["runs"]
    assert (run["status"], run["attempt"]) == ("failed", 2)
    # history gives the same time (an audit: "0.00s", the last attempt's alone).
    shown = cli("history", "fails_twice").stdout
    times = [float(t) for t in re.findall(r"\s([\d.]+)s\s", shown)]
    assert len(times) == 2 and min(times) >= 0.7, shown


def test_a_keyed_run_that_ended_is_shown_not_said_to_wait_for_a_service(cli: Cli) -> None:
    args = ("run", "hello", "--wait", "--idempotency-key", "hello-2026-12-05")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    for more in (("--remote",), ()):
        again = cli(*args, *more)
        assert again.exit_code == 0, again.output
        assert "executed by the schedkit service" not in again.stderr, more
        assert "✔ run" in again.stdout and "success" in again.stdout, more


def test_a_mistyped_task_name_creates_no_store(cli: Cli) -> None:
    """An audit: ``schedkit run invoice_run`` (a typo) said ``note: created a new store``
    then ``unknown task``, leaving the stray file behind."""
    for args in ((), ("--wait",), ("--local",), ("--remote", "--wait")):
        result = cli("run", "invoice_run", *args)
        assert result.exit_code == 2, result.output
        assert "unknown task 'invoice_run'" in one_error_line(result.stderr)
        assert "created a new store" not in result.stderr
        assert not cli.db.exists(), args


def test_run_local_executes_a_task_a_service_would_hand_elsewhere(cli: Cli) -> None:
    """A migration audit: ``run --local`` of an ``executor="celery"`` task ran on a Celery
    worker when one was up and, with none, waited for ever (the run stayed pending for
    Celery); so did a task requiring a label. ``--local`` is "here, in this process", and
    so is the default when no executor is alive."""
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.elsewhere_tasks"))
    for args in (("--local",), ("--wait",)):
        result = cli("--json", "run", "on_celery", *args, "--timeout", "10")
        assert result.exit_code == 0, result.output
        run = json.loads(result.stdout)
        assert (run["status"], run["result"]["message"]) == ("success", "ran here"), run
        # A label this process lacks (a capability: the data, a GPU) is said at once.
        refused = cli("run", "on_gpu", *args, "--timeout", "10")
        assert refused.exit_code == 1, refused.output
        said = one_error_line(refused.output)
        assert "requires the node label(s) gpu, which this process does not offer" in said
        # What to do depends on how it came to run here: --local given, or no service.
        assert ("drop --local" in said) == (args == ("--local",)), said
    assert json.loads(cli("--json", "history", "on_gpu").stdout)["runs"] == []


def _sigterm_here() -> None:
    """A real SIGTERM to this process, taken by the handler the command installed
    (``cli.loop``); without one it would end the test run instead."""
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
    signal.raise_signal(signal.SIGTERM)


def _while_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    insert = RunControl._insert

    async def signalled(self: RunControl, *args: Any, **kwargs: Any) -> Any:
        _sigterm_here()
        return await insert(self, *args, **kwargs)

    monkeypatch.setattr(RunControl, "_insert", signalled)


def _as_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    launch = Executor.launch

    def signalled(self: Executor, *args: Any, **kwargs: Any) -> None:
        launch(self, *args, **kwargs)
        _sigterm_here()

    monkeypatch.setattr(Executor, "launch", signalled)


@pytest.mark.parametrize("moment", [_while_stored, _as_it_starts], ids=["stored", "started"])
def test_a_signal_while_the_run_is_created_cancels_it_with_the_users_reason(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, moment: Callable[[pytest.MonkeyPatch], None]
) -> None:
    """A flaky test on a loaded machine: SIGTERM (or Ctrl-C) that came while ``run
    --wait`` was still creating its run (stored and started here, its audit record not
    yet written) cut the creation short before the command's own cancel was set up.
    The node's stop then ended the run as "service shut down before the run finished"
    (there was no service) or, cut during its insert, left it running with nothing
    executing it. Here the signal comes at those moments by construction."""
    moment(monkeypatch)
    result = cli("run", "slow", "-p", "seconds=6", "--wait")
    assert result.exit_code == 143, result.output
    (run,) = runs_of(cli.db, "slow")
    assert (run.status, run.reason) == (RunStatus.CANCELLED, "interrupted in the CLI (SIGTERM)")
