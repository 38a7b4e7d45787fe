"""Schedule files (JSON lines, CSV): what each line becomes, and each bad line named."""

from __future__ import annotations

import pytest

from schedkit.errors import ValidationError
from schedkit.service.bulk import BulkScheduleError, EntryError, ScheduleEntry
from schedkit.service.schedule_files import format_for, parse_schedule_file


def bad_lines(text: str, fmt: str) -> list[tuple[int, str | None, str]]:
    parsed = parse_schedule_file(text, fmt)  # type: ignore[arg-type]
    return [(e.line, e.field, e.message) for e in parsed if isinstance(e, EntryError)]


def test_format_by_suffix() -> None:
    assert format_for("A.JSONL") == "jsonl"
    assert format_for("x.ndjson") == "jsonl"
    assert format_for("x.csv") == "csv"
    with pytest.raises(ValidationError, match="cannot tell the format"):
        format_for("x.json")


def test_json_lines_become_entries_with_their_line_numbers() -> None:
    text = (
        "# comment\n"
        "\n"
        '{"id": "a", "task": "t", "schedule": "0 2 * * *"}\n'
        '{"task_name": "u", "schedule": {"trigger": "interval", "hours": 1}}\n'
    )
    assert parse_schedule_file(text, "jsonl") == [
        ScheduleEntry(task_name="t", config="0 2 * * *", schedule_id="a", line=3),
        ScheduleEntry(task_name="u", config={"trigger": "interval", "hours": 1}, line=4),
    ]


def test_bad_json_lines_are_each_named() -> None:
    text = "\n".join(
        [
            "[1, 2]",
            '{"task": "t", "schedule": "x", "when": 1}',
            '{"schedule": "0 2 * * *"}',
            '{"task": "t"}',
            '{"task": "t", "schedule": 5}',
            '{"task": "t", "schedule": "0 2 * * *", "id": 7}',
            "{oops",
            '{"task": "t", "schedule": "0 2 * * *"}',
        ]
    )
    assert bad_lines(text, "jsonl") == [
        (1, None, 'must be an object {"task": ..., "schedule": ...}'),
        (
            2,
            None,
            "unknown key(s) when; known: id, task, schedule, paused, pause_note, origin "
            "(`schedkit schedule export` writes schedules in this form)",
        ),
        (3, "task", "a task name is required"),
        (4, "schedule", "a schedule (an object or a crontab string) is required"),
        (5, "schedule", "a schedule (an object or a crontab string) is required"),
        (6, "id", "must be a string"),
        (7, None, "not JSON (Expecting property name enclosed in double quotes, column 2)"),
    ]
    # The good line stays, so that its faults are found in the same pass as these.
    assert parse_schedule_file(text, "jsonl")[-1] == ScheduleEntry(
        task_name="t", config="0 2 * * *", line=8
    )


def test_csv_rows_become_entries() -> None:
    text = (
        "id,task,schedule,kwargs,timezone\n"
        'a,t,0 2 * * *,"{""n"": 1}",Europe/Paris\n'
        '  ,t,"{""trigger"": ""interval"", ""hours"": 2}",,\n'
        ",,,,\n"
        "c,t,*/5 * * * *,,\n"
    )
    assert parse_schedule_file(text, "csv") == [
        ScheduleEntry(
            task_name="t",
            config={
                "trigger": {
                    "trigger": "cron",
                    "expression": "0 2 * * *",
                    "timezone": "Europe/Paris",
                },
                "kwargs": {"n": 1},
            },
            schedule_id="a",
            line=2,
        ),
        ScheduleEntry(task_name="t", config={"trigger": "interval", "hours": 2}, line=3),
        ScheduleEntry(
            task_name="t",
            config={"trigger": {"trigger": "cron", "expression": "*/5 * * * *"}},
            schedule_id="c",
            line=5,
        ),
    ]


def test_bad_csv_rows_are_each_named() -> None:
    text = (
        "task,schedule,kwargs,timezone\n"
        't,"{""trigger"": ""cron"", ""hour"": 2}",,UTC\n'
        't,"{""trigger"": ""cron"", ""kwargs"": {}}","{}",\n'
        "t,0 2 * * *,{bad,\n"
        "t,{bad,,\n"
        ",0 2 * * *,,\n"
        "t,,,\n"
    )
    assert bad_lines(text, "csv") == [
        (2, "timezone", "give the zone inside a JSON schedule"),
        (3, "kwargs", "kwargs given twice (column and schedule)"),
        (4, "kwargs", "not JSON (Expecting property name enclosed in double quotes, column 2)"),
        (5, "schedule", "not JSON (Expecting property name enclosed in double quotes, column 2)"),
        (6, "task", "a task name is required"),
        (7, "schedule", "a schedule (an object or a crontab string) is required"),
    ]
    assert bad_lines("name,when\nx,y\n", "csv") == [
        (
            1,
            None,
            "the first line must name the columns: task, schedule (required), id, kwargs, "
            "timezone; found name, when",
        )
    ]
    assert bad_lines("", "csv")[0][2].endswith("found nothing")


def test_the_error_lists_twenty_lines_and_counts_the_rest() -> None:
    error = BulkScheduleError([EntryError(line=n, message="bad") for n in range(1, 26)])
    assert str(error).startswith("25 bad lines, nothing was stored: line 1: bad;")
    assert str(error).endswith("line 20: bad (and 5 more)")
    assert error.field == "1"
    assert len(error.errors) == 25
    one = BulkScheduleError(
        [EntryError(line=0, message="bad", field="schedule.trigger")], what="item"
    )
    assert str(one) == "1 bad item, nothing was stored: item 0: schedule.trigger: bad"
    assert one.field == "0.schedule.trigger"
    assert one.errors == [{"loc": [0, "schedule", "trigger"], "msg": "bad"}]


DEEP = "[" * 5000 + "]" * 5000


def test_json_too_deep_or_with_a_huge_number_is_a_bad_line_among_the_others() -> None:
    """An audit: a line nested 5,000 levels deep raised RecursionError, one with a number
    of 5,000 digits ValueError, out of the reader: the CLI said "unexpected error" and
    the other bad lines (a line 2 that is not JSON) were not reported."""
    lines = [
        '{"task": "t", "schedule": "0 2 * * *"}',
        "not json",
        '{"task": "t", "schedule": {"trigger": "cron", "kwargs": {"a": ' + DEEP + "}}}",
        '{"task": "t", "schedule": {"trigger": "cron", "kwargs": {"n": ' + "9" * 5000 + "}}}",
    ]
    assert bad_lines("\n".join(lines), "jsonl") == [
        (2, None, "not JSON (Expecting value, column 1)"),
        (3, None, "nested more than 100 levels deep (arrays and objects)"),
        (4, None, "a number of more than 4,300 digits (the most an integer may have)"),
    ]
    text = (
        "task,schedule,kwargs\n"
        "t,0 2 * * *,{bad\n"
        f't,0 2 * * *,"{{""a"": {DEEP}}}"\n'
        f't,"{{""trigger"": ""cron"", ""minute"": {"1" * 5000}}}",\n'
        "t,0 3 * * *,\n"
    )
    assert bad_lines(text, "csv") == [
        (2, "kwargs", "not JSON (Expecting property name enclosed in double quotes, column 2)"),
        (3, "kwargs", "nested more than 100 levels deep (arrays and objects)"),
        (4, "schedule", "a number of more than 4,300 digits (the most an integer may have)"),
    ]


def test_a_line_the_csv_reader_refuses_is_a_bad_line_among_the_others() -> None:
    """An audit: a field over the csv module's 131,072 characters raised csv.Error out of
    the reader; now its line is named, with the other bad lines around it."""
    rows = ["task,schedule,kwargs", "t,0 2 * * *,{bad", f"t,0 2 * * *,{'x' * 140_000}"]
    text = "\n".join([*rows, ",0 4 * * *,", ""])
    assert bad_lines(text, "csv") == [
        (2, "kwargs", "not JSON (Expecting property name enclosed in double quotes, column 2)"),
        (3, None, "a field longer than 131,072 characters (the most one may hold)"),
        (4, "task", "a task name is required"),
    ]
    bare_cr = "a carriage return (\\r) in a field that is not quoted: quote the field, or end "
    assert bad_lines("task,schedule\nt,0 2 * * *\rt,\n,0 3 * * *\n", "csv") == [
        (2, None, bare_cr + "the lines with \\n or \\r\\n"),
        (3, "task", "a task name is required"),
    ]
    header = f"task,schedule,{'x' * 140_000}\nt,0 2 * * *,\n"
    assert bad_lines(header, "csv") == [
        (1, None, "a field longer than 131,072 characters (the most one may hold)")
    ]


def test_a_csv_row_is_named_by_its_own_line_after_blank_lines_and_quoted_breaks() -> None:
    """A row after blank lines was named by the first blank line (line 3, not 5)."""
    text = 'task,schedule\nt,"0 2\n * * *"\n\n\nt,\nt,"{\n""hour"": }"\n,0 2 * * *\n'
    assert [(line, field) for line, field, _ in bad_lines(text, "csv")] == [
        (6, "schedule"),
        (7, "schedule"),
        (9, "task"),
    ]
