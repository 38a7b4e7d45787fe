"""``schedkit run --wait`` executing here (no service, or ``--local``): it executes the
run it was asked for and nothing else; what it says of a run that ended earlier or
ended after retries; a mistyped task name opens no store."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
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


@pytest.fixture(autouse=True)
def ctrl_c_as_in_a_terminal() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, as in a terminal. A command started in the
    background by a shell without job control (a CI job's ``cmd &``) inherits SIGINT
    ignored, and the CLI leaves an ignored SIGINT ignored (as under ``nohup``): in CI,
    the Ctrl-C cases found no handler of the command's to take their signal."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _signal_here(signum: int) -> None:
    """A real signal to this process, taken by the handler the command installed
    (``cli.loop``); without one it would end the test run instead."""
    unset = (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler)
    assert signal.getsignal(signum) not in unset
    signal.raise_signal(signum)


def _while_stored(monkeypatch: pytest.MonkeyPatch, *signals: int) -> None:
    """The first of ``signals`` (SIGTERM) as the run is inserted, the others once it is
    stored (claimed by the CLI's node, not started yet)."""
    first, *more = signals or (signal.SIGTERM,)
    insert = RunControl._insert

    async def signalled(self: RunControl, *args: Any, **kwargs: Any) -> Any:
        _signal_here(first)
        stored = await insert(self, *args, **kwargs)
        for signum in more:
            _signal_here(signum)
        return stored

    monkeypatch.setattr(RunControl, "_insert", signalled)


def _as_it_starts(monkeypatch: pytest.MonkeyPatch, *signals: int) -> None:
    launch = Executor.launch

    def signalled(self: Executor, *args: Any, **kwargs: Any) -> None:
        launch(self, *args, **kwargs)
        for signum in signals or (signal.SIGTERM,):
            _signal_here(signum)

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


#: Two signals, the exit code and the words of the run's reason.
TWICE = {
    "ctrl-c": ((signal.SIGINT, signal.SIGINT), 130, "Ctrl-C"),
    "sigterm": ((signal.SIGTERM, signal.SIGTERM), 143, "SIGTERM"),
    "sigterm-then-ctrl-c": ((signal.SIGTERM, signal.SIGINT), 130, "SIGTERM"),
}


@pytest.mark.parametrize("twice", list(TWICE.values()), ids=list(TWICE))
@pytest.mark.parametrize("moment", [_while_stored, _as_it_starts], ids=["stored", "started"])
def test_a_second_signal_while_the_run_is_created_still_cancels_it(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    moment: Callable[..., None],
    twice: tuple[tuple[int, int], int, str],
) -> None:
    """A re-audit: Ctrl-C twice while ``run --local`` created its run (PostgreSQL behind
    a slow proxy) cut the creation short: runs ended "the node shut down", one stayed
    ``running`` with nothing executing it, was judged lost, and a service executed it
    90 s later as attempt 2; asyncio tracebacks on stderr. The second signal now lets
    the creation end and the run be cancelled with the user's reason, then exits."""
    signals, code, said = twice
    moment(monkeypatch, *signals)
    started = time.monotonic()
    result = cli("run", "slow", "-p", "seconds=6", "--local")
    assert result.exit_code == code, result.output
    assert time.monotonic() - started < 6, "the run was not cut short"
    (run,) = runs_of(cli.db, "slow")
    assert (run.status, run.reason) == (RunStatus.CANCELLED, f"interrupted in the CLI ({said})")
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert "cancelling the run created here" in result.stderr, result.stderr


def test_a_second_signal_exits_within_a_bound_when_the_creation_hangs(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a store that does not answer, the second Ctrl-C still exits in seconds."""

    async def hung(self: RunControl, *args: Any, **kwargs: Any) -> Any:
        _signal_here(signal.SIGINT)
        _signal_here(signal.SIGINT)
        await asyncio.sleep(3600)

    monkeypatch.setattr(RunControl, "_insert", hung)
    started = time.monotonic()
    result = cli("run", "slow", "--local")
    assert result.exit_code == 130, result.output
    assert time.monotonic() - started < 8
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert runs_of(cli.db, "slow") == []
