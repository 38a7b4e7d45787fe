"""What the CLI prints is safe and in one language: user-supplied strings with their
control characters shown as escapes (a stored note cannot drive the terminal), and
``--lang zh`` output in Chinese throughout."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

from schedkit.models import Run, RunStatus, TriggerSource, new_id
from schedkit.store import create_store
from tests.cli.conftest import Cli

#: A note an operator could store: a newline faking an output line, colour, NUL, a C1
#: CSI, a bidi override.
HOSTILE = "line1\nstore sqlite:///elsewhere.db\x1b[31mRED\x00nul\x9b2J\u202eevil"
RAW = ("\x1b", "\x00", "\x9b", "\u202e")


def assert_inert(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_user_strings_are_printed_with_their_controls_escaped(stored: Cli) -> None:
    cli = stored
    paused = cli("pause", "nightly_report", "--note", HOSTILE)
    assert paused.exit_code == 0, paused.output
    assert_inert(paused.stdout)
    # The newline is shown, so the note cannot fake the command's last (store) line.
    assert paused.stdout.splitlines()[-1] == f"store sqlite:///{cli.db}"
    assert "line1\\nstore sqlite:///elsewhere.db\\x1b[31mRED\\x00nul\\x9b2J\\u202eevil" in (
        paused.stdout
    )
    shown = cli("tasks", "show", "nightly_report")
    assert shown.exit_code == 0, shown.output
    assert_inert(shown.stdout)
    assert "\\x1b[31mRED" in "".join(shown.stdout.split())

    ran = cli("run", "hello", "-p", "name=\x1b]0;pwned\x07\u202e", "--wait")
    assert ran.exit_code == 0, ran.output
    assert_inert(ran.output)
    assert "\\x1b]0;pwned\\x07\\u202e" in ran.stdout
    history = cli("history", "hello")
    assert_inert(history.stdout)
    assert "\\x1b]0;pwned" in history.stdout

    unknown = cli("tasks", "show", "no\x1b[2Jsuch")
    assert unknown.exit_code == 2
    assert_inert(unknown.stderr)

    # JSON keeps the value (escaped as JSON does) and is as inert on a terminal.
    data = cli("--json", "tasks", "show", "nightly_report")
    assert_inert(data.stdout)
    (schedule,) = json.loads(data.stdout)["schedules"]
    assert schedule["pause_note"] == HOSTILE


def test_chinese_output_is_chinese_throughout(stored: Cli) -> None:
    """``--lang zh``: the commands' confirmation lines and warnings are Chinese, not
    English sentences around Chinese words (errors of the core stay English)."""
    cli = stored

    def zh(*args: str) -> str:
        result = cli("--lang", "zh", *args)
        assert result.exit_code == 0, result.output
        return result.stdout + result.stderr

    ran = zh("run", "hello", "--wait")
    assert "hello 的运行" in ran and "成功，耗时" in ran and " in " not in ran
    assert "已创建 hello 的运行" in zh("run", "hello")
    spec = json.dumps({"trigger": "cron", "hour": 8, "minute": 30, "calendar": "sd-spot"})
    assert "已保存：日历 sd-spot" in zh("calendar", "set", "sd-spot", "--base", "none")
    scheduled = zh("schedule", "hello", "--spec", spec)
    assert "已设置 hello 的调度" in scheduled and "下次运行" in scheduled
    assert "已暂停 hello" in zh("pause", "hello")
    assert "已恢复 hello；下次运行" in zh("resume", "hello")
    assert "已删除 0 条" in zh("purge", "--older-than", "90d")
    assert "的结构版本为" in zh("db", "upgrade")
    checked = cli("--lang", "zh", "check").stdout
    assert "警告 日历 sd-spot" in checked and "请录入" in checked, checked
    assert "not confirmed" not in checked and "problem" not in checked
    assert "（结构版本 " in checked and "调度  已保存 " in checked
    for english in ("scheduled ", "paused ", "resumed ", "deleted ", "created run"):
        assert english not in ran + scheduled, english


def schedule_cell(table: str, name: str) -> str:
    """The text of the row of task ``name`` but its name, next and last run, without
    whitespace: the category, priority and schedule cells read across the row's lines."""
    lines = table.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name} "))
    parts = []
    for i, line in enumerate(lines[first:]):
        if i and line[:2].strip():  # the next row (or the store line)
            break
        text = line.strip()[len(name) :] if i == 0 else line
        parts.append(re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d.*$", "", text))
    return "".join("".join(parts).split())


def test_chinese_table_cells_fold_instead_of_losing_text(stored: Cli) -> None:
    """A Chinese description has no spaces to wrap at: its cell folds, nothing is cut."""
    cli = stored
    spec = json.dumps({"trigger": "cron", "hour": 8, "minute": 30, "calendar": "cn_workdays"})
    assert cli("schedule", "hello", "--spec", spec).exit_code == 0
    shown = json.loads(cli("--lang", "zh", "--json", "tasks", "show", "hello").stdout)
    description = "".join(shown["schedules"][0]["description"].split())
    assert "仅中国工作日" in description
    for width in ("80", "120"):
        listed = cli("--lang", "zh", "tasks", "list", env={"COLUMNS": width})
        assert listed.exit_code == 0, listed.output
        assert "…" not in listed.stdout, listed.stdout
        assert description in schedule_cell(listed.stdout, "hello"), listed.stdout
        assert "nightly_report" in listed.stdout  # names are never cut


def test_a_fire_time_in_a_reason_is_in_the_cli_zone(stored: Cli) -> None:
    """An audit: ``history`` printed "coalesced into the fire at
    2026-12-07T09:41:26.893149+00:00" (the stored reason's UTC time) in a table of times
    in Asia/Shanghai."""
    fire = datetime(2026, 12, 7, 9, 41, 26, 893149, tzinfo=UTC)
    reasons = {
        "coalesced": f"coalesced into the fire at {fire.isoformat()}",
        "replaced": f"replaced by the fire at {fire.isoformat()}",
    }
    runs = [
        Run(
            id=new_id(),
            task_name="hello",
            schedule_id="hello",
            trigger_source=TriggerSource.SCHEDULE,
            scheduled_for=fire - timedelta(minutes=minutes),
            status=status,
            reason=reasons[key],
        )
        for minutes, status, key in (
            (1, RunStatus.SKIPPED, "coalesced"),
            (2, RunStatus.CANCELLED, "replaced"),
        )
    ]

    async def insert() -> None:
        async with create_store(f"sqlite:///{stored.db}") as store:
            await store.insert_runs(runs)

    asyncio.run(insert())
    en = stored("history", "hello").stdout
    assert "coalesced into the fire at 2026-12-07 17:41:26 +08:00" in en, en
    assert "replaced by the fire at 2026-12-07 17:41:26 +08:00" in en, en
    zh = stored("--lang", "zh", "history", "hello").stdout
    assert "已合并到 2026-12-07 17:41:26 +08:00 的触发" in zh, zh
    assert "被 2026-12-07 17:41:26 +08:00 的触发取代" in zh, zh
    assert "+00:00" not in en + zh
    # JSON keeps the stored reason.
    shown = json.loads(stored("--json", "history", "hello").stdout)["runs"]
    assert sorted(r["reason"] for r in shown) == sorted(reasons.values())
