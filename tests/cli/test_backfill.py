"""``schedkit backfill``: request with progress until done (a service executes), repeat,
status, cancel, history showing the runs as backfills, bad input; and ``--max-runs``:
a schedule that ended shows why."""

from __future__ import annotations

import json
import time

import pytest

from schedkit import SyncScheduler
from tests.cli.conftest import Cli, one_error_line


def test_backfill_waits_showing_progress(cli: Cli, service: SyncScheduler) -> None:
    assert cli("schedule", "hello", "--cron", "0 9 * * *").exit_code == 0
    args = ("backfill", "hello", "--from", "2026-11-01", "--to", "2026-11-05")
    result = cli(*args, "--concurrency", "2", "--wait")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "backfill of hello 2026-11-01 00:00 .. 2026-11-06 00:00 (concurrency 2): done" in out
    assert "(5 new)" in out and "5/5 done: 5 succeeded" in out

    again = json.loads(cli(*args, "--json").stdout)
    assert again["created"] == 0 and again["total"] == 5 and again["state"] == "done"
    # Nothing is left to cancel: refused, and the backfill stays done.
    late = cli("backfill", "hello", "--cancel")
    assert late.exit_code == 1
    assert one_error_line(late.stderr).endswith(
        "has already finished (5/5 runs done): nothing to cancel"
    )
    status = json.loads(cli("backfill", "hello", "--status", "--json").stdout)
    assert status["state"] == "done" and status["cancelled_at"] is None

    history = json.loads(cli("--json", "history", "hello").stdout)
    assert [r["trigger_source"] for r in history["runs"]] == ["backfill"] * 5
    table = cli("history", "hello").stdout
    assert "backfill" in table

    zh = cli("--lang", "zh", "backfill", "hello", "--status")
    assert zh.exit_code == 0, zh.output
    assert "回填" in zh.stdout and "已完成 5/5" in zh.stdout


def test_backfill_status_and_cancel_without_a_service(cli: Cli) -> None:
    assert cli("schedule", "hello", "--cron", "0 9 * * *").exit_code == 0
    made = json.loads(
        cli("backfill", "hello", "--from", "2026-11-01", "--to", "2026-11-03", "--json").stdout
    )
    assert made["created"] == 3 and made["pending"] == 3 and made["state"] == "running"
    status = cli("backfill", "hello", "--status")
    assert "0/3 done" in status.stdout and "3 waiting" in status.stdout
    cancelled = cli("backfill", "hello", "--cancel")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled" in cancelled.stdout and "3/3 done" in cancelled.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-11-01"), "give --from and --to"),
        (("--status", "--cancel"), "give --from and --to"),
        (("--from", "1 Nov", "--to", "2026-11-02"), "--from: '1 Nov' is not a date (YYYY-MM-DD"),
        # A date-time without offset (was read as a wall time; the API refuses it).
        (("--from", "2026-11-01T00:00", "--to", "2026-11-02"), "--from: 2026-11-01T00:00 has no"),
        (("--from", "2026-11-01", "--to", "2026-11-02 09:30"), "--to: '2026-11-02 09:30' is not"),
        (("--from", "20261101", "--to", "2026-11-02"), "--from: '20261101' is not a date"),
        # ISO forms datetime.fromisoformat takes and the API refuses (an audit): with an
        # offset, the basic format ran a backfill; a week date read as a day.
        (("--from", "20240310T000000+0800", "--to", "2024-03-11"), "--from: '20240310T0000"),
        (("--from", "2024-03-01", "--to", "2024-W10-1"), "--to: '2024-W10-1' is not a date"),
        (("--from", "2024-03-10T00:00:00+0800", "--to", "2024-03-11"), "--from: '2024-03-10T"),
        (("--from", "2026-11-05", "--to", "2026-11-01"), "is empty"),
        (("--status",), "has no backfill"),
        (("--from", "2026-11-01", "--to", "9999-12-31"), "to: 9999-12-31 is out of the"),
        (("--from", "0001-01-01", "--to", "2026-11-01"), "from: 0001-01-01 is out of the"),
        (("--status", "--concurrency", "3"), "--concurrency goes with --from and --to"),
        (("--cancel", "--concurrency", "3"), "--concurrency goes with --from and --to"),
    ],
)
def test_backfill_bad_input(cli: Cli, args: tuple[str, ...], message: str) -> None:
    assert cli("schedule", "hello", "--cron", "0 9 * * *").exit_code == 0
    result = cli("backfill", "hello", *args)
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result.stderr)


def test_schedule_max_runs_ends_and_shows_why(cli: Cli, service: SyncScheduler) -> None:
    made = cli("schedule", "hello", "--interval", "1s", "--max-runs", "1", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["max_runs"] == 1
    deadline = time.monotonic() + 20
    while True:
        (shown,) = json.loads(cli("--json", "tasks", "show", "hello").stdout)["schedules"]
        if shown["ended"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert shown["ended"] == "max_runs" and shown["run_count"] == 1
    assert "ended (max runs 1/1)" in cli("tasks", "show", "hello").stdout
    assert "已结束（已达最大运行次数 1/1）" in cli("--lang", "zh", "tasks", "show", "hello").stdout
    assert "ended (max runs 1/1)" in cli("tasks").stdout


def test_a_second_backfill_is_refused_while_the_first_runs(cli: Cli) -> None:
    assert cli("schedule", "hello", "--cron", "0 9 * * *").exit_code == 0
    first = cli("backfill", "hello", "--from", "2026-11-01", "--to", "2026-11-03")
    assert first.exit_code == 0, first.output
    second = cli("backfill", "hello", "--from", "2026-11-04", "--to", "2026-11-06")
    assert second.exit_code != 0, second.output
    line = one_error_line(second.stderr)
    assert "still running" in line and "--cancel" in line
    assert cli("backfill", "hello", "--cancel").exit_code == 0
    third = cli("backfill", "hello", "--from", "2026-11-04", "--to", "2026-11-06")
    assert third.exit_code == 0, third.output
