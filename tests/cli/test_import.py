"""``schedkit schedule import FILE``: JSON lines and CSV, all or nothing, each bad line
named with its number."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import Cli, one_error_line


def count(cli: Cli, task: str = "hello") -> int:
    shown: dict[str, Any] = json.loads(cli("--json", "tasks", "show", task).stdout)
    total: int = shown["schedule_count"]
    return total


def jsonl(n: int, prefix: str = "j") -> str:
    lines = ["# meters, one schedule each", ""]
    lines += [
        json.dumps(
            {
                "id": f"{prefix}-{i:03d}",
                "task": "hello",
                "schedule": {"trigger": "cron", "minute": i % 60, "kwargs": {"name": f"m{i}"}},
            }
        )
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"


def test_import_json_lines(cli: Cli) -> None:
    (cli.cwd / "s.jsonl").write_text(jsonl(120), encoding="utf-8")
    result = cli("schedule", "import", "s.jsonl")
    assert result.exit_code == 0, result.output
    assert "imported 120 schedule(s) from s.jsonl" in result.stdout
    assert count(cli) == 120
    shown = json.loads(cli("--json", "tasks", "show", "hello").stdout)
    assert shown["schedules"][0]["kwargs"] == {"name": "m0"}
    assert len(shown["schedules"]) == 50
    text = " ".join(cli("tasks", "show", "hello").stdout.split())
    assert "the first 50 of 120 schedules, in id order" in text
    assert "and 110 more" in " ".join(cli("tasks", "list").stdout.split())
    zh = " ".join(cli("--lang", "zh", "tasks", "show", "hello").stdout.split())
    assert "共 120 个调度计划，按 ID 顺序显示前 50 个" in zh


def test_import_csv_with_crontab_zone_and_kwargs(cli: Cli) -> None:
    text = (
        "id,task,schedule,kwargs,timezone\n"
        'c-1,hello,0 2 * * *,"{""name"": ""Ann""}",Europe/Paris\n'
        'c-2,hello,"{""trigger"": ""interval"", ""hours"": 2}",,\n'
        "\n"
        "c-3,hello,*/10 * * * *,,\n"
    )
    (cli.cwd / "s.csv").write_text(text, encoding="utf-8")
    result = cli("--json", "schedule", "import", "s.csv")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 3
    shown = json.loads(cli("--json", "tasks", "show", "hello").stdout)
    by_id = {s["id"]: s for s in shown["schedules"]}
    assert by_id["c-1"]["timezone"] == "Europe/Paris"
    assert by_id["c-1"]["kwargs"] == {"name": "Ann"}
    assert by_id["c-2"]["trigger"]["hours"] == 2


def test_a_bad_line_refuses_the_whole_file_naming_each_line(stored: Cli) -> None:
    """Hole: a line that is not JSON was reported alone, the other bad lines (trigger,
    task, kwargs) only once it was fixed, and ids already stored only once every other
    line was right: one bad line per run. One run names them all."""
    cli = stored
    (cli.cwd / "old.jsonl").write_text(
        json.dumps({"id": "x-old", "task": "hello", "schedule": "0 1 * * *"}), encoding="utf-8"
    )
    assert cli("schedule", "import", "old.jsonl").exit_code == 0
    lines = jsonl(30).splitlines()
    # Lines 1 and 2 are the comment and the blank line: entry i is on line i + 3.
    lines[5] = "{not json"
    lines[10] = json.dumps({"id": "x-1", "task": "nope", "schedule": "0 2 * * *"})
    lines[12] = json.dumps(
        {"id": "x-2", "task": "hello", "schedule": {"trigger": "cron", "hour": 25}}
    )
    lines[14] = json.dumps(
        {
            "id": "x-3",
            "task": "hello",
            "schedule": {"trigger": "cron", "hour": 2, "kwargs": {"colour": "red"}},
        }
    )
    lines[16] = json.dumps({"id": "x-4", "task": "hello", "when": "daily"})
    lines[18] = json.dumps({"id": "x-old", "task": "hello", "schedule": "0 3 * * *"})
    (cli.cwd / "bad.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = cli("schedule", "import", "bad.jsonl")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "6 bad lines, nothing was stored: line 6: not JSON" in message
    assert "line 11: task: unknown task 'nope'" in message
    assert "line 13: schedule.trigger.hour: invalid hour '25'" in message
    assert (
        "line 15: schedule.kwargs.colour: unknown key 'colour' (accepted: name, times)" in message
    )
    assert "line 17: unknown key(s) when" in message
    assert "line 19: id: schedule 'x-old' exists already" in message
    assert count(cli) == 1


def test_every_bad_csv_row_is_named_in_one_run(stored: Cli) -> None:
    cli = stored
    text = (
        "id,task,schedule,kwargs\n"
        "c-1,hello,0 2 * * *,{bad\n"
        "c-2,hello,0 25 * * *,\n"
        "c-3,nope,0 2 * * *,\n"
        'c-4,hello,0 2 * * *,"{""colour"": ""red""}"\n'
        "c-5,,0 2 * * *,\n"
        "c-6,hello,0 4 * * *,\n"
    )
    (cli.cwd / "bad.csv").write_text(text, encoding="utf-8")
    result = cli("schedule", "import", "bad.csv")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "5 bad lines, nothing was stored: line 2: kwargs: not JSON" in message
    assert "line 3: schedule" in message
    assert "line 4: task: unknown task 'nope'" in message
    assert "line 5: schedule.kwargs.colour" in message
    assert "line 6: task: a task name is required" in message
    assert count(cli) == 0


def test_a_csv_row_with_more_fields_than_the_header_is_a_bad_line(stored: Cli) -> None:
    cli = stored
    text = (
        "id,task,schedule,kwargs,timezone\n"
        "c-4,hello,0 2 * * *,{},UTC\n"
        "c-5,hello,0 1 * * *,{},UTC,extra\n"
        "c-6,hello,0 3 * * *,{},UTC,extra,more\n"
    )
    (cli.cwd / "x1.csv").write_text(text, encoding="utf-8")
    result = cli("schedule", "import", "x1.csv")
    assert result.exit_code == 2, result.output
    message = one_error_line(result.stderr)
    assert "2 bad lines, nothing was stored: line 3: 1 field more than the 5 columns" in message
    assert "line 4: 2 fields more than the 5 columns" in message
    assert count(cli) == 0


def test_a_file_that_is_not_utf_8_is_named_with_its_line(stored: Cli) -> None:
    cli = stored
    (cli.cwd / "bin.jsonl").write_bytes(b"\xff\xfe")
    result = cli("schedule", "import", "bin.jsonl")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert line.startswith("error: bin.jsonl: line 1: not UTF-8 text"), line
    latin1 = "task,schedule\nhello,0 2 * * *\nhello,0 4 * * *\nhello,0 3 * * * é\n"
    (cli.cwd / "late.csv").write_bytes(latin1.encode("latin-1"))
    late = one_error_line(cli("schedule", "import", "late.csv").stderr)
    assert late.startswith("error: late.csv: line 4: not UTF-8 text"), late
    calendar = cli("calendar", "import", "cn_workdays", "late.csv")
    assert calendar.exit_code == 2, calendar.output
    assert one_error_line(calendar.stderr).startswith("error: late.csv: line 4: not UTF-8")


def test_past_twenty_bad_lines_the_error_says_how_many_more(stored: Cli) -> None:
    cli = stored
    lines = jsonl(30).splitlines()
    for i in range(2, 14):
        lines[i] = "{not json"
    for i in range(14, 27):
        lines[i] = json.dumps({"task": "nope", "schedule": "0 2 * * *"})
    (cli.cwd / "bad.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = cli("schedule", "import", "bad.jsonl")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "25 bad lines, nothing was stored: line 3: not JSON" in message
    assert message.endswith(
        "line 22: task: unknown task 'nope' (4 tasks registered; "
        "searched task_packages: tests.cli.sample_tasks) (and 5 more)"
    )
    assert count(cli) == 0


def test_import_twice_reports_existing_ids_and_format_errors(cli: Cli) -> None:
    (cli.cwd / "s.jsonl").write_text(jsonl(3), encoding="utf-8")
    assert cli("schedule", "import", "s.jsonl").exit_code == 0
    same = cli("schedule", "import", "s.jsonl")  # left as they are
    assert same.exit_code == 0 and "3 schedule(s) of the file stored already" in same.stdout
    (cli.cwd / "s.jsonl").write_text(jsonl(3).replace('"minute": 0,', '"minute": 7,'), "utf-8")
    again = cli("schedule", "import", "s.jsonl")
    assert again.exit_code == 2
    assert "line 3: id: schedule 'j-000' exists already" in " ".join(again.stderr.split())
    (cli.cwd / "s.txt").write_text("x", encoding="utf-8")
    assert "cannot tell the format" in cli("schedule", "import", "s.txt").stderr
    wrong = cli("schedule", "import", "s.txt", "--format", "xml")
    assert wrong.exit_code == 2 and "--format must be one of jsonl, csv" in wrong.stderr
    (cli.cwd / "more.txt").write_text("task,schedule,id\nhello,0 3 * * *,t-1\n", encoding="utf-8")
    assert cli("schedule", "import", "more.txt", "--format", "csv").exit_code == 0
    (cli.cwd / "h.csv").write_text("name,when\nx,y\n", encoding="utf-8")
    assert "must name the columns" in cli("schedule", "import", "h.csv").stderr
    assert count(cli) == 4


def test_help_and_usage_errors_name_the_command_as_typed(cli: Cli) -> None:
    """Hole: ``schedkit schedule import --help`` printed ``Usage: schedkit
    schedule-import``, the hidden name it is dispatched to, and so did its usage errors."""
    shown = cli("schedule", "import", "--help")
    assert shown.exit_code == 0
    assert "Usage: schedkit schedule import [OPTIONS] {FILE}" in shown.stdout
    assert "schedule-import" not in shown.stdout
    missing = cli("schedule", "import")
    assert missing.exit_code == 2
    assert "schedkit schedule import -h" in missing.stderr
    assert "schedule-import" not in missing.stderr
    # Found from the command it belongs to, hidden as its own entry in `schedkit --help`.
    schedule_help = " ".join(cli("schedule", "--help").stdout.split())
    assert "schedkit schedule import FILE" in schedule_help


def past_one_offs(n: int, prefix: str) -> str:
    line = {
        "task": "hello",
        "schedule": {"trigger": "date", "run_date": "2020-01-01T10:00:00+08:00"},
    }
    return "\n".join(json.dumps({"id": f"{prefix}-{i:03d}", **line}) for i in range(n)) + "\n"


def test_import_of_many_past_one_offs_warns_of_twenty_and_counts_the_rest(cli: Cli) -> None:
    """Each one-off already past its grace is a warning; a file of them printed one
    line each, however many."""
    (cli.cwd / "old.jsonl").write_text(past_one_offs(25, "old"), encoding="utf-8")
    result = cli("schedule", "import", "old.jsonl")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning ")]
    assert len(warnings) == 21
    assert all("recorded missed" in w for w in warnings[:20])
    assert warnings[20] == "warning and 5 more warnings like these"
    (cli.cwd / "older.jsonl").write_text(past_one_offs(22, "older"), encoding="utf-8")
    zh = cli("--lang", "zh", "schedule", "import", "older.jsonl")
    assert zh.exit_code == 0, zh.output
    assert zh.stderr.splitlines()[-1] == "警告 另有 2 条类似警告"


def test_an_id_given_twice_names_both_lines(stored: Cli) -> None:
    # A file's positions are its lines (the API's, items of the request).
    lines = jsonl(2).splitlines()
    lines[3] = lines[2]
    (cli := stored).cwd.joinpath("twice.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = cli("schedule", "import", "twice.jsonl")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "line 4: id: schedule id 'j-000' is already given on line 3" in message


def test_schedules_lists_every_task_s_a_page_at_a_time(cli: Cli) -> None:
    """Left out last round: no command listed schedules across tasks (``tasks show`` is
    one task's, its first ones); after an import of thousands, which are there?"""
    (cli.cwd / "s.jsonl").write_text(jsonl(120), encoding="utf-8")
    assert cli("schedule", "import", "s.jsonl").exit_code == 0
    assert cli("schedule", "boom", "--cron", "0 3 * * *").exit_code == 0
    # In id order: boom, j-000 … j-119, and the sample package's nightly_report.
    page = cli("schedules", "-n", "2", "--offset", "120")
    assert page.exit_code == 0, page.output
    assert "j-119" in page.stdout and "nightly_report" in page.stdout
    assert "j-118" not in page.stdout
    assert "121–122 / 122" in page.stdout and "--offset" not in page.stdout
    first = cli("schedules", "-n", "5")
    assert "every day at 03:00 (Asia/Shanghai)" in first.stdout  # boom's
    assert "1–5 / 122  (--offset 5)" in first.stdout
    shown = json.loads(cli("--json", "schedules", "--task", "boom").stdout)
    assert shown["total"] == 1 and [s["id"] for s in shown["schedules"]] == ["boom"]
    assert shown["schedules"][0]["next_fire_time"] is not None
    typo = cli("schedules", "--task", "hellp")
    assert typo.exit_code != 0 and "unknown task 'hellp'" in one_error_line(typo.output)
    zh = cli("--lang", "zh", "schedules", "--task", "boom")
    assert "每天 03:00（Asia/Shanghai）" in zh.stdout and "否" in zh.stdout


def test_a_line_too_deep_or_too_long_is_named_with_the_other_bad_lines(stored: Cli) -> None:
    """An audit: a line nested 5,000 levels deep, a number of 5,000 digits or a CSV field
    over 131,072 characters ended the import with "unexpected RecursionError / ValueError
    / Error" (exit 1), and the other bad lines (a line 2 that is not JSON) went unnamed."""
    cli = stored
    deep = "[" * 5000 + "]" * 5000
    lines = [
        json.dumps({"id": "ok", "task": "hello", "schedule": "0 2 * * *"}),
        "not json",
        '{"task": "hello", "schedule": {"trigger": "cron", "kwargs": {"name": ' + deep + "}}}",
        '{"task": "hello", "schedule": {"trigger": "cron", "kwargs": {"n": ' + "1" * 5000 + "}}}",
    ]
    (cli.cwd / "deep.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = cli("schedule", "import", "deep.jsonl")
    assert result.exit_code == 2, result.output
    message = " ".join(one_error_line(result.stderr).split())
    assert "3 bad lines, nothing was stored: line 2: not JSON (Expecting value" in message
    assert "line 3: nested more than 100 levels deep (arrays and objects)" in message
    assert "line 4: a number of more than 4,300 digits (the most an integer may have)" in message
    text = (
        "task,schedule,kwargs\n"
        "hello,0 2 * * *,{bad\n"
        f'hello,0 2 * * *,"{{""name"": {deep}}}"\n'
        f"hello,0 2 * * *,{'x' * 140_000}\n"
    )
    (cli.cwd / "deep.csv").write_text(text, encoding="utf-8")
    result = cli("schedule", "import", "deep.csv")
    assert result.exit_code == 2, result.output
    message = " ".join(one_error_line(result.stderr).split())
    assert "3 bad lines, nothing was stored: line 2: kwargs: not JSON" in message
    assert "line 3: kwargs: nested more than 100 levels deep" in message
    assert "line 4: a field longer than 131,072 characters (the most one may hold)" in message
    assert count(cli) == 0
