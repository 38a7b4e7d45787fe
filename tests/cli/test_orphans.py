"""What a task removed from the code leaves behind, through the CLI: its schedules are
removed, paused and resumed without it, and ``check`` names them and its pending runs
with the command that clears each (an audit: `schedkit schedule old_report --remove`
said "unknown task" while its schedule fired `skipped` for good)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
from datetime import UTC, datetime
from typing import Any

from schedkit.models import Node, Run, Schedule
from schedkit.store import create_store
from tests.cli.conftest import Cli, one_error_line
from tests.engine.taps import manual_run

GONE = "old_report"


def _schedule(schedule_id: str) -> Schedule:
    return Schedule(
        id=schedule_id,
        task_name=GONE,
        trigger={"trigger": "cron", "expression": "0 1 * * *", "timezone": "UTC"},
    )


def _in_store(cli: Cli, *rows: Schedule | Run | Node) -> None:
    async def write() -> None:
        async with create_store(f"sqlite:///{cli.db}") as store:
            for row in rows:
                if isinstance(row, Schedule):
                    await store.put_schedule(row, expected_version=0)
                elif isinstance(row, Run):
                    await store.insert_runs([row])
                else:
                    await store.upsert_node(row)

    asyncio.run(write())


def _stored_ids(cli: Cli) -> list[str]:
    async def read() -> list[str]:
        async with create_store(f"sqlite:///{cli.db}") as store:
            return [s.id for s in await store.list_schedules(GONE)]

    return asyncio.run(read())


def _problems(cli: Cli) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = json.loads(cli("--json", "check").stdout)["problems"]
    return problems


def test_the_schedules_of_a_task_gone_from_the_code_are_removed_with_the_command_check_names(
    stored: Cli,
) -> None:
    cli = stored
    _in_store(cli, _schedule(GONE), _schedule(f"{GONE}:extra"))
    extra = cli("schedule", GONE, "--remove", "--id", f"{GONE}:extra")
    assert extra.exit_code == 0, extra.output
    assert _stored_ids(cli) == [GONE]
    command = f"schedkit schedule {GONE} --remove --id {GONE}"
    assert {
        "where": f"schedule {GONE}",
        "problem": f"task '{GONE}' is not registered: each fire is recorded skipped; "
        f"remove the schedule with `{command}`",
    } in _problems(cli)

    paused = cli("pause", GONE, "--note", "code removed")
    assert paused.exit_code == 0, paused.output
    assert cli("resume", GONE).exit_code == 0
    # Another task's --id is refused as ever.
    other = cli("schedule", "hello", "--remove", "--id", GONE)
    assert other.exit_code == 1
    assert one_error_line(other.output) == f"error: schedule '{GONE}' belongs to task '{GONE}'"

    removed = cli(*shlex.split(command)[1:])
    assert removed.exit_code == 0, removed.output
    assert _stored_ids(cli) == []
    # Without --id: every schedule of the task.
    _in_store(cli, _schedule(f"{GONE}:again"))
    assert cli("schedule", GONE, "--remove").exit_code == 0
    assert _stored_ids(cli) == []
    assert [p for p in _problems(cli) if GONE in p["problem"]] == []
    # A name with nothing stored and no task is still a typo, with close names.
    typo = cli("schedule", "helo", "--remove")
    assert typo.exit_code == 2
    assert one_error_line(typo.output).startswith("error: unknown task 'helo'")
    assert "hello" in typo.output
    assert cli("pause", GONE).exit_code == 2


def test_check_names_pending_runs_no_node_will_take_and_how_to_cancel_them(
    stored: Cli,
) -> None:
    cli = stored
    first = manual_run(GONE)
    _in_store(cli, first, manual_run("hello"))
    cancel = f"schedkit cancel {first.id}"
    one = (
        f"1 pending run of task '{GONE}', which is registered neither here nor on any "
        f"live node: no node will take it; cancel it with `{cancel}`"
    )
    assert _problems(cli) == [{"where": f"pending runs of {GONE}", "problem": one}]

    # A live node that runs the task (a rolling deploy's older code), or one too old to
    # say which tasks it runs: the run may still be taken.
    now = datetime.now(UTC)
    node = Node(
        id="old-code",
        hostname="box",
        pid=1,
        started_at=now,
        heartbeat_at=now,
        roles=["executor"],
        info={"tasks": [GONE]},
    )
    _in_store(cli, node)
    assert _problems(cli) == []
    _in_store(cli, dataclasses.replace(node, info={"labels": []}))
    assert _problems(cli) == []
    # One that runs other tasks only.
    _in_store(cli, dataclasses.replace(node, info={"tasks": ["hello"]}))

    second = manual_run(GONE)
    _in_store(cli, second)
    (problem,) = _problems(cli)
    assert problem["problem"].startswith(f"2 pending runs of task '{GONE}'")
    assert f"`schedkit history {GONE} --status pending`" in problem["problem"]
    assert f"e.g. `schedkit cancel {second.id}`" in problem["problem"]
    for run in (first, second):
        assert cli(*shlex.split(f"schedkit cancel {run.id}")[1:]).exit_code == 0
    assert _problems(cli) == []
