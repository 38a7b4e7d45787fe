"""Each command through typer's CliRunner: output, JSON and exit codes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schedkit import RunStatus, SchedkitConfig, Scheduler
from schedkit.cli.app import app
from tests.cli.conftest import Cli, one_error_line
from tests.engine.taps import until


def as_json(text: str) -> Any:
    return json.loads(text)


def assert_unknown_task(line: str, name: str, *close: str) -> None:
    """The "unknown task" error line: close names suggested, where tasks were looked for."""
    assert line.startswith(f"error: unknown task {name!r}"), line
    for suggestion in close:
        assert repr(suggestion) in line.split("did you mean", 1)[1], line
    assert "searched task_packages: tests.cli.sample_tasks" in line, line
    assert "config: schedkit.toml" in line, line


def test_help_lists_every_command(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in (
        "run", "cancel", "history", "purge", "schedule", "pause", "resume", "next", "check",
        "tasks", "db", "token", "serve", "demo", "worker", "nodes", "drain",
    ):  # fmt: skip
        assert f"  {command} " in result.stdout, command
    assert app.info.name == "schedkit"


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("schedkit ")


def test_no_arguments_shows_help_with_usage_exit_code(cli: Cli) -> None:
    result = cli()
    assert result.exit_code == 2
    assert "Usage:" in result.output


# -- next --------------------------------------------------------------------------------


def test_next_lists_fire_times_in_the_configured_zone(cli: Cli) -> None:
    result = cli("next", "0 2 * * *", "-n", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "every day at 02:00 (Asia/Shanghai)"
    assert len(lines) == 4
    assert all(" 02:00:00 " in line and line.rstrip().endswith("+08:00") for line in lines[1:])
    # Weekdays in the output's language (a first-hour audit: English in a Chinese list).
    zh = cli("--lang", "zh", "next", "0 9 * * mon", "-n", "1").stdout.splitlines()
    assert " 09:00:00 周一 " in zh[1], zh


def test_next_json_with_tz_and_chinese(cli: Cli) -> None:
    result = cli("--lang", "zh", "next", "30 9 * * 1-5", "--tz", "UTC", "-n", "2", "--json")
    assert result.exit_code == 0, result.output
    data = as_json(result.stdout)
    assert data["timezone"] == "UTC"
    assert len(data["fires"]) == 2
    assert all(f.endswith("T09:30:00+00:00") for f in data["fires"])
    assert "周" in data["description"]


def test_next_accepts_a_json_schedule(cli: Cli) -> None:
    spec = '{"trigger": "interval", "minutes": 90}'
    result = cli("--json", "next", spec, "-n", "2")
    assert result.exit_code == 0, result.output
    assert "90 minutes" in as_json(result.stdout)["description"]


# Fires past the supported dates (years 1-9999 in every zone): never.
LATE_START = '{"trigger": "interval", "hours": 1, "start_date": "9999-12-31T23:30:00"}'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["next", "61 * * * *"], "error: trigger.expression: bad minute"),
        (["next", "0 2 * * *", "--tz", "Mars/Olympus"], "unknown timezone 'Mars/Olympus'"),
        (["next", "{not json"], "not valid JSON"),
        (["next", LATE_START], "trigger.start_date: the schedule never fires"),
    ],
)
def test_next_rejects_bad_input_in_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert message in one_error_line(result.stderr)
    assert result.stdout == ""


# -- tasks -------------------------------------------------------------------------------


def test_tasks_list(stored: Cli) -> None:
    cli = stored
    result = cli("tasks", "list")
    assert result.exit_code == 0, result.output
    for name in ("hello", "boom", "slow", "nightly_report"):
        assert name in result.stdout
    assert "every day at 02:00 (Asia/Shanghai)" in result.stdout
    assert "manual only" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == f"store sqlite:///{cli.db}"


def test_tasks_list_filters_and_json(stored: Cli) -> None:
    cli = stored
    result = cli("tasks", "list", "--category", "report", "--json")
    assert result.exit_code == 0, result.output
    data = as_json(result.stdout)
    assert data["store"] == f"sqlite:///{cli.db}"
    tasks = data["tasks"]
    assert [t["name"] for t in tasks] == ["nightly_report"]
    assert tasks[0]["schedules"][0]["id"] == "nightly_report"
    assert tasks[0]["next_fire_time_local"].endswith("T02:00:00+08:00")
    tagged = as_json(cli("--json", "tasks", "list", "--tag", "smoke", "--tag", "nope").stdout)
    assert [t["name"] for t in tagged["tasks"]] == ["hello"]


def test_tasks_list_in_chinese(stored: Cli) -> None:
    cli = stored
    result = cli("--lang", "zh", "tasks", "list")
    assert result.exit_code == 0
    assert "任务" in result.stdout or "名称" in result.stdout
    assert "每天" in result.stdout
    assert "仅手动运行" in result.stdout and "普通" in result.stdout  # no "manual only", "normal"
    assert f"存储 sqlite:///{cli.db}" in result.stdout


def test_tasks_show(stored: Cli) -> None:
    cli = stored
    result = cli("tasks", "show", "hello")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Greets someone." in out
    assert "times" in out and "integer" in out and '"world"' in out
    assert "manual only" in out
    data = as_json(cli("tasks", "show", "hello", "--json").stdout)
    assert data["parameters_schema"]["properties"]["times"]["type"] == "integer"
    assert data["recent_runs"] == []


def test_tasks_show_unknown_task(stored: Cli) -> None:
    cli = stored
    result = cli("tasks", "show", "nope")
    assert result.exit_code == 2
    assert_unknown_task(one_error_line(result.stderr), "nope")


# -- schedule, pause, resume ---------------------------------------------------------------


def test_schedule_cron_then_show(cli: Cli) -> None:
    result = cli("schedule", "hello", "--cron", "*/5 * * * *", "-p", "name=Bob")
    assert result.exit_code == 0, result.output
    assert "every 5 minutes (Asia/Shanghai)" in result.stdout
    data = as_json(cli("--json", "tasks", "show", "hello").stdout)
    (schedule,) = data["schedules"]
    assert schedule["id"] == "hello"
    assert schedule["kwargs"] == {"name": "Bob"}
    assert schedule["trigger"]["expression"] == "*/5 * * * *"
    assert schedule["origin"] == "runtime"


def test_tasks_show_says_each_schedule_s_parameters_and_timeout(cli: Cli) -> None:
    """Hole (a new user): after ``schedule --timeout 900 -p keep_last=14`` the table of
    ``tasks show`` showed ``timeout -`` and no parameter: only ``--json`` had them."""
    made = cli("schedule", "hello", "--cron", "0 2 * * *", "--timeout", "900", "-p", "name=Bob")
    assert made.exit_code == 0, made.output
    out = cli("tasks", "show", "hello").stdout
    assert "timeout=15m00s" in out
    assert '{"name": "Bob"}' in out
    zh = cli("--lang", "zh", "tasks", "show", "hello").stdout
    assert "超时 15m00s" in zh


def test_schedule_with_labels(cli: Cli) -> None:
    made = as_json(
        cli(
            "schedule", "hello", "--interval", "1h", "--label", "gpu", "--label", "a", "--json"
        ).stdout
    )
    assert made["labels"] == ["a", "gpu"]
    bad = cli("schedule", "hello", "--interval", "1h", "--label", "GPU")
    assert bad.exit_code == 2 and "error: --label: " in bad.stderr  # the option typed


def test_schedule_with_an_executor(cli: Cli) -> None:
    made = as_json(
        cli("schedule", "hello", "--interval", "1h", "--executor", "celery", "--json").stdout
    )
    assert made["executor"] == "celery"
    again = as_json(cli("schedule", "hello", "--interval", "1h", "--json").stdout)
    assert again["executor"] is None  # the task's choice
    bad = cli("schedule", "hello", "--interval", "1h", "--executor", "k8s")
    assert bad.exit_code == 2 and "--executor" in bad.stderr


def test_schedule_interval_date_and_spec(cli: Cli) -> None:
    interval = as_json(
        cli("schedule", "hello", "--interval", "90m", "--id", "hello:often", "--json").stdout
    )
    assert interval["trigger"]["minutes"] == 90
    assert interval["id"] == "hello:often"
    once = as_json(
        cli(
            "schedule", "hello", "--at", "2999-01-01T08:00:00", "--id", "hello:once", "--json"
        ).stdout
    )
    assert once["trigger"]["trigger"] == "date"
    assert once["next_fire_time_local"] == "2999-01-01T08:00:00+08:00"
    doc = as_json(
        cli(
            "schedule", "hello", "--spec", '{"trigger": "cron", "hour": 3, "max_instances": 2}',
            "--tz", "UTC", "--jitter", "5", "--overlap", "queue_one", "--json",
        ).stdout
    )  # fmt: skip
    assert doc["trigger"]["hour"] == 3
    assert doc["trigger"]["timezone"] == "UTC"
    assert doc["max_instances"] == 2
    assert doc["overlap"] == "queue_one"
    ids = [s["id"] for s in as_json(cli("--json", "tasks", "show", "hello").stdout)["schedules"]]
    assert ids == ["hello", "hello:often", "hello:once"]
    removed = cli("schedule", "hello", "--remove", "--id", "hello:once")
    assert removed.exit_code == 0, removed.output
    ids = [s["id"] for s in as_json(cli("--json", "tasks", "show", "hello").stdout)["schedules"]]
    assert ids == ["hello", "hello:often"]
    # Another task's schedule is not removed through this one (as it is not set).
    other = cli("schedule", "slow", "--remove", "--id", "hello:often")
    assert other.exit_code == 1
    assert "schedule 'hello:often' belongs to task 'hello'" in other.stderr
    ids = [s["id"] for s in as_json(cli("--json", "tasks", "show", "hello").stdout)["schedules"]]
    assert ids == ["hello", "hello:often"]


@pytest.mark.usefixtures("utc_machine")
def test_schedule_at_a_past_date_is_kept_with_a_warning(cli: Cli) -> None:
    """``--at 2020-01-01T10:00:00`` said only "next run 2020-01-01 10:00:00", exit 0, and
    the fire was then recorded missed."""
    result = cli("schedule", "hello", "--at", "2020-01-01T10:00:00", "--id", "hello:once")
    assert result.exit_code == 0, result.output
    assert "next run 2020-01-01 10:00:00" in result.stdout  # kept: backfill-like uses exist
    [warning] = [line for line in result.stderr.splitlines() if "hello:once" in line]
    assert warning.startswith("warning schedule hello:once fires once, at 2020-01-01 10:00:00")
    assert "(Asia/Shanghai)" in warning and " ago, " in warning
    assert "misfire grace of 5m00s" in warning and "recorded missed" in warning
    # A naive date-time, read in the configured zone, which is not this machine's.
    assert "naive date-times are read in Asia/Shanghai" in warning and "(UTC)" in warning
    assert "WARNING" not in result.stderr  # said once, as the CLI's warning, not a log line
    zh = cli("--lang", "zh", "schedule", "hello", "--at", "2020-01-01T10:00:00+08:00")
    assert zh.exit_code == 0, zh.output
    [warning] = [line for line in zh.stderr.splitlines() if "hello" in line]
    assert "将记为错过" in warning and "本机时区" not in warning  # aware: its instant is meant


def test_schedule_again_at_a_fire_that_ran_is_warned_about(cli: Cli) -> None:
    """A one-off that ran, removed and scheduled again at the same time: its fire is
    fenced (it ran) and the tick passed it by; the CLI said only "next run ...", exit 0."""
    at = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0).isoformat()
    assert cli("schedule", "hello", "--at", at, "--id", "hello:once").exit_code == 0

    async def fire() -> str:  # a node fires it, as `schedkit serve` would
        async with Scheduler(SchedkitConfig.load(cli.config)) as s:
            await until(lambda: s.count_runs("hello", status=RunStatus.SUCCESS), 15)
            (run,) = await s.list_runs(schedule_id="hello:once")
            return run.id

    run_id = asyncio.run(fire())
    assert cli("schedule", "hello", "--remove", "--id", "hello:once").exit_code == 0
    result = cli("schedule", "hello", "--at", at, "--id", "hello:once")
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.stderr.splitlines() if "hello:once" in line]
    assert warning.startswith("warning schedule hello:once fires at "), warning
    assert f"(run {run_id}, success)" in warning and "it will not run" in warning
    assert "WARNING" not in result.stderr  # said once, as the CLI's warning
    zh = cli("--lang", "zh", "schedule", "hello", "--at", at, "--id", "hello:once")
    [warning] = [line for line in zh.stderr.splitlines() if "hello:once" in line]
    assert f"（运行 {run_id}，成功）" in warning and "它不会再运行" in warning
    # The bulk form says it too.
    assert cli("schedule", "hello", "--remove", "--id", "hello:once").exit_code == 0
    line = {"id": "hello:once", "task": "hello", "schedule": {"trigger": "date", "run_date": at}}
    (cli.cwd / "once.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    imported = cli("schedule", "import", "once.jsonl")
    assert imported.exit_code == 0, imported.output
    [warning] = [line for line in imported.stderr.splitlines() if "hello:once" in line]
    assert warning.startswith("warning schedule hello:once fires at "), warning
    ahead = cli("schedule", "hello", "--at", "2999-01-01T08:00:00")
    assert ahead.exit_code == 0 and "warning" not in ahead.stderr


def test_schedule_past_its_end_date_is_warned_about_in_the_cli_language(cli: Cli) -> None:
    """A cron schedule whose end date has passed is stored ended; the warning was the
    façade's English log line, in ``--lang zh`` too."""
    spec = '{"trigger": "cron", "hour": 3, "end_date": "2020-01-01T00:00:00"}'
    result = cli("schedule", "hello", "--spec", spec, "--id", "hello:over")
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.stderr.splitlines() if "hello:over" in line]
    assert warning == (
        "warning schedule hello:over has no fire left before its end date "
        "2020-01-01 00:00:00 (Asia/Shanghai): it is stored as ended and will not run"
    )
    zh = cli("--lang", "zh", "schedule", "hello", "--spec", spec, "--id", "hello:over2")
    assert zh.exit_code == 0, zh.output
    [warning] = [line for line in zh.stderr.splitlines() if "hello:over2" in line]
    assert "结束时间 2020-01-01 00:00:00 (Asia/Shanghai)" in warning and "不会运行" in warning
    ahead = cli("schedule", "hello", "--spec", spec.replace("2020", "2999"), "--id", "h:later")
    assert ahead.exit_code == 0 and "warning" not in ahead.stderr


BAD_SCHEDULES = [
    (["--cron", "0 25 * * *"], "trigger.expression"),
    (["--cron", "0 2 * * *", "--interval", "5m"], "exactly one of"),
    ([], "exactly one of"),
    (["--interval", "soon"], "--interval"),
    (["--cron", "0 2 * * *", "-p", "times=many"], "kwargs.times"),
    (["--cron", "0 2 * * *", "--tz", "Nowhere/Land"], "unknown timezone"),
    (["--remove", "--cron", "0 2 * * *"], "--remove takes no trigger"),
    # Fires past the supported dates (years 1-9999 in every zone): never.
    (["--interval", "999999999d"], "trigger.days: the schedule never fires"),
    (["--spec", LATE_START], "trigger.start_date: the schedule never fires"),
    (["--remove", "--timeout", "5", "-p", "name=x"], "--remove takes no -p/--param, --timeout"),
    (["--cron", "0 2 * * *", "--timeout", "0"], "--timeout: Input should be greater than 0"),
    (["--cron", "0 2 * * *", "--misfire-grace", "0"], "--misfire-grace: Input should be greater"),
]


def test_schedule_rejects_bad_input(cli: Cli) -> None:
    for args, message in BAD_SCHEDULES:
        result = cli("schedule", "hello", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in one_error_line(result.stderr), args
    shown = as_json(cli("--json", "tasks", "show", "hello").stdout)
    assert shown["schedules"] == []  # nothing reached the store


def test_schedule_option_bounds_are_the_schedule_s_rules(cli: Cli) -> None:
    """The help states each policy's bounds as the schedule validates them (a timeout
    of 0 is no limit schedkit accepts), and a value past them names the option."""
    help_text = " ".join(cli("schedule", "--help").stdout.split())
    assert "Time limit per attempt. [x>0]" in help_text
    assert "Seconds a late fire may still run. [x>0]" in help_text
    assert "[0<=x<=86400]" in help_text  # --jitter
    assert "[1<=x<=10000]" in help_text  # --max-instances
    result = cli("schedule", "hello", "--cron", "0 2 * * *", "--jitter", "90000")
    assert result.exit_code == 2
    assert "Invalid value for '--jitter'" in result.output


def test_schedule_on_a_business_calendar(cli: Cli) -> None:
    """An audit: a cron schedule on cn_workdays needed the whole trigger as --spec JSON
    (--cron with --spec is refused)."""
    done = cli("schedule", "hello", "--cron", "0 9 * * *", "--calendar", "cn_workdays")
    assert done.exit_code == 0, done.output
    assert "on Chinese working days only" in done.stdout
    (stored,) = json.loads(cli("--json", "tasks", "show", "hello").stdout)["schedules"]
    assert stored["trigger"]["calendar"] == "cn_workdays"
    unknown = cli("schedule", "hello", "--cron", "0 9 * * *", "--calendar", "nope_cal")
    assert unknown.exit_code == 2
    assert one_error_line(unknown.stderr).startswith("error: --calendar: unknown calendar")
    # A typo gets the name meant, as a task's does (an audit: "create it first" only).
    typo = cli("schedule", "hello", "--cron", "0 9 * * *", "--calendar", "cn_workday")
    assert typo.exit_code == 2
    assert one_error_line(typo.stderr).startswith(
        "error: --calendar: unknown calendar 'cn_workday'; did you mean 'cn_workdays'? "
        "Otherwise create it first"
    )
    shown = cli("calendar", "show", "cn_workday")
    assert "did you mean 'cn_workdays'?" in one_error_line(shown.stderr)


def test_schedule_unknown_task(cli: Cli) -> None:
    result = cli("schedule", "nope", "--cron", "0 2 * * *")
    assert result.exit_code == 2
    assert_unknown_task(one_error_line(result.stderr), "nope")


def test_pause_and_resume(cli: Cli) -> None:
    paused = cli("pause", "nightly_report", "--note", "month-end freeze")
    assert paused.exit_code == 0, paused.output
    assert "paused nightly_report: month-end freeze" in paused.stdout
    data = as_json(cli("--json", "tasks", "show", "nightly_report").stdout)
    assert data["paused"] is True
    assert data["pause_note"] == "month-end freeze"
    assert data["next_fire_time"] is None
    resumed = cli("resume", "nightly_report", "--json")
    assert resumed.exit_code == 0, resumed.output
    (schedule,) = as_json(resumed.stdout)["schedules"]
    assert schedule["paused"] is False and schedule["next_fire_time"] is not None
    again = cli("resume", "nightly_report")
    assert again.exit_code == 1
    assert one_error_line(again.stderr) == "error: task 'nightly_report' is not paused"


def test_pause_task_without_schedule(cli: Cli) -> None:
    # A conflict with the task's state, exit 1 as docs/cli.md's exit-code table says
    # (its "pause and resume" section once said 2); an unknown task is a usage error.
    for command in ("pause", "resume"):
        result = cli(command, "hello")
        assert result.exit_code == 1, command
        assert "task 'hello' has no schedule to pause or resume" in one_error_line(result.stderr)
    assert cli("pause", "nope").exit_code == 2


# -- history and purge -----------------------------------------------------------------------


def test_history_and_purge(cli: Cli) -> None:
    assert cli("run", "hello", "--wait", "-p", "name=Ann").exit_code == 0
    assert cli("run", "boom", "--wait").exit_code == 1
    assert cli("run", "hello").exit_code == 0  # pending: no service runs

    table = cli("history")
    assert table.exit_code == 0, table.output
    assert "hello Ann x1" in table.stdout
    assert "ValueError: boom on purpose" in table.stdout
    assert "1–3 / 3" in table.stdout
    # The times' zone is said: a bare time reads as the reader's own zone.
    assert "times in Asia/Shanghai" in table.stdout

    page = as_json(cli("history", "hello", "--json").stdout)
    assert page["total"] == 2
    assert [r["status"] for r in page["runs"]] == ["pending", "success"]
    assert page["runs"][1]["result"]["statistics"] == {"greeted": 1}

    failed = as_json(cli("--json", "history", "--status", "failed").stdout)
    assert [r["task_name"] for r in failed["runs"]] == ["boom"]
    limited = as_json(cli("--json", "history", "-n", "1", "--offset", "1").stdout)
    assert len(limited["runs"]) == 1 and limited["total"] == 3

    assert cli("history", "slow").stdout.splitlines() == ["no runs", f"store sqlite:///{cli.db}"]

    purged = cli("purge", "--older-than", "90d")
    assert purged.exit_code == 0
    assert "deleted 0 finished run(s)" in purged.stdout
    purged = as_json(cli("purge", "--older-than", "0s", "--json").stdout)
    assert purged["deleted"] == 2  # the pending run stays
    assert as_json(cli("--json", "history").stdout)["total"] == 1


def test_history_of_unknown_task(stored: Cli) -> None:
    cli = stored
    result = cli("history", "nope")
    assert result.exit_code == 2
    assert_unknown_task(one_error_line(result.stderr), "nope")


def test_purge_needs_a_duration(cli: Cli) -> None:
    result = cli("purge", "--older-than", "ninety days")
    assert result.exit_code == 2
    assert "--older-than: 'ninety days' is not a duration" in one_error_line(result.stderr)
    missing = cli("purge")
    assert missing.exit_code == 2
    assert "--older-than" in missing.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["history", "-n", "99999999999999999999"], "'--limit' / '-n'"),
        (["history", "hello", "--offset", "99999999999999999999"], "'--offset'"),
        (["tasks", "show", "hello", "-n", "99999999999999999999"], "'--runs' / '-n'"),
        (["history", "-n", "501"], "'--limit' / '-n'"),
    ],
)
def test_page_options_have_the_api_s_bounds(stored: Cli, args: list[str], option: str) -> None:
    """Past the bounds the API answers 422 for (the stores' integers end there), a page
    option is an invalid value: exit 2 naming the option, not an OverflowError."""
    result = stored(*args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.output
    assert "unexpected" not in result.output
    assert stored("history", "-n", "500", "--offset", "1000000000").exit_code == 0


def test_purge_of_a_duration_too_long_is_an_invalid_value(stored: Cli) -> None:
    for too_long in ("99999999999w", "999999w"):
        result = stored("purge", "--older-than", too_long)
        assert result.exit_code == 2, result.output
        line = one_error_line(result.stderr)
        assert line.startswith("error: --older-than: ") and "too long" in line, line


# -- errors ------------------------------------------------------------------------------


def test_unreachable_store_is_one_masked_line(cli: Cli) -> None:
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/schedkit"
    result = cli("--store", url, "history")
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "store postgresql://alice:***@127.0.0.1:1/schedkit" in line
    assert "cannot reach" in line or "unavailable" in line
    assert "s3cret-pw" not in result.output


def test_debug_adds_the_traceback(cli: Cli) -> None:
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/schedkit"
    result = cli("--debug", "--store", url, "history")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "StoreUnavailableError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")
    assert "s3cret-pw" not in result.output


def test_missing_and_invalid_config(cli: Cli) -> None:
    missing = cli("--config", "nowhere.toml", "tasks", "list")
    assert missing.exit_code == 1
    assert "config file nowhere.toml does not exist" in one_error_line(missing.stderr)
    bad = cli.cwd / "bad.toml"
    bad.write_text('timezone = "Mars/Base"\nstore_url = "sqlite:///x.db"\nbogus = 1\n')
    result = cli("--config", str(bad), "tasks", "list")
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "timezone" in line and "bogus" in line


def test_config_from_environment_variable(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    other = cli.cwd / "other.toml"
    db = cli.cwd / "other.db"
    other.write_text(f'store_url = "sqlite:///{db}"\ntask_packages = []\nentry_points = false\n')
    monkeypatch.setenv("SCHEDKIT_CONFIG", str(other))
    assert cli("db", "upgrade").exit_code == 0
    result = cli("--json", "tasks", "list")
    assert result.exit_code == 0, result.output
    assert as_json(result.stdout) == {"store": f"sqlite:///{db}", "tasks": []}


def test_unexpected_error_is_one_line_unless_debug(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schedkit.cli import purge

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(purge, "parse_duration", broken)
    result = cli("purge", "--older-than", "1d")
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert line == "error: unexpected RuntimeError: kaput (run with --debug for the traceback)"
    debug = cli("--debug", "purge", "--older-than", "1d")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr
    assert debug.stderr.rstrip().endswith("error: unexpected RuntimeError: kaput")


# -- serve ---------------------------------------------------------------------------------


def test_serve_on_a_busy_port_is_one_line(cli: Cli) -> None:
    import socket

    from schedkit.cli.serve import public_url

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(result.stderr)
    assert not cli.db.exists()  # nothing was started
    assert public_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/"
    assert public_url("::", 8000) == "http://[::1]:8000/"


def test_serve_without_auth_off_loopback_is_an_invalid_value(cli: Cli) -> None:
    result = cli("serve", "--auth", "none", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 2, result.output
    assert "--auth none serves without authentication" in one_error_line(result.stderr)
    assert not cli.db.exists()  # nothing was started


def test_worker_host_and_port_need_api(cli: Cli) -> None:
    result = cli("worker", "--port", "8123")
    assert result.exit_code == 2, result.output
    assert "--host and --port go with --api" in one_error_line(result.stderr)
    assert not cli.db.exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--host", "0.0.0.0"), "--host and --port go with --api (--host also with --metrics-"),
        (("--metrics-port", "9464", "--port", "8123"), "--host and --port go with --api"),
        (("--api", "--metrics-port", "9464"), "--metrics-port goes without --api (the API"),
    ],
)
def test_worker_metrics_port_options_that_contradict(
    cli: Cli, args: tuple[str, ...], said: str
) -> None:
    result = cli("worker", *args)
    assert result.exit_code == 2, result.output
    assert said in one_error_line(result.stderr)
    assert not cli.db.exists()
