"""Schedules moved to another store: ``schedkit schedule export`` writes the lines
``schedule import`` takes, with every policy, the pause and its note, and which schedule
is a task's default; an import leaves the lines stored already as they say, and stores
no default schedule of its own. An audit moving SQLite to PostgreSQL found no way: the
listing's JSON was refused ("unknown key(s) coalesce, created_at, …"), the bulk import
dropped labels, max_runs and executor, and a refused first import had stored the tasks'
default schedules, so that the corrected one failed ("schedule 'slow' exists already")."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest

from tests.cli.conftest import Cli, one_error_line

#: What a schedule is, as the listing shows it; the rest is its state in its store.
DEFINED = (
    "task_name", "trigger", "kwargs", "misfire_grace_time", "coalesce", "max_instances",
    "overlap", "timeout", "labels", "executor", "max_runs", "paused", "pause_note", "origin",
)  # fmt: skip

POLICIES = {
    "trigger": "interval",
    "hours": 2,
    "jitter": 30,
    "kwargs": {"name": "Ann", "times": 2},
    "labels": ["gpu"],
    "max_runs": 5,
    "executor": "local",
    "max_instances": 2,
    "overlap": "queue_one",
    "timeout": 60,
    "misfire_grace_time": 120,
    "coalesce": False,
}


def _listed(cli: Cli, *store: str) -> dict[str, dict[str, Any]]:
    result = cli(*store, "--json", "schedules", "-n", "500")
    assert result.exit_code == 0, result.output
    return {s["id"]: s for s in json.loads(result.stdout)["schedules"]}


def _defined(listed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i: {f: s[f] for f in DEFINED} for i, s in listed.items() if s["stored"]}


def _other(store_url: str, cli: Cli) -> str:
    """A store other than the CLI's (the sqlite ``store_url`` is the CLI's file)."""
    return f"sqlite:///{cli.cwd / 'moved.db'}" if store_url.startswith("sqlite") else store_url


def _write(cli: Cli, name: str, *lines: dict[str, Any]) -> str:
    (cli.cwd / name).write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return name


def test_an_import_keeps_labels_max_runs_and_executor(cli: Cli) -> None:
    """They were dropped: the schedule ran on any node, for ever, where its task said."""
    name = _write(cli, "p.jsonl", {"id": "h", "task": "hello", "schedule": POLICIES})
    assert cli("schedule", "import", name).exit_code == 0
    got = _listed(cli)["h"]
    assert (got["labels"], got["max_runs"], got["executor"]) == (["gpu"], 5, "local")
    assert (got["max_instances"], got["overlap"], got["coalesce"]) == (2, "queue_one", False)


def test_schedules_move_to_another_store_as_they_were(store_url: str, cli: Cli) -> None:
    store_url = _other(store_url, cli)
    lines = _write(
        cli,
        "first.jsonl",
        {"id": "h-policies", "task": "hello", "schedule": POLICIES},
        {"id": "h-cron", "task": "hello", "schedule": "30 6 * * 1-5"},
        {"id": "b-once", "task": "boom", "schedule": {"trigger": "date", "run_date": "2099-01-01"}},
    )
    assert cli("schedule", "import", lines).exit_code == 0
    # A write that stores the tasks' default schedules (nightly_report's: origin code).
    assert cli("pause", "hello", "--note", "month-end freeze").exit_code == 0
    source = _listed(cli)
    assert source["nightly_report"]["origin"] == "code" and source["nightly_report"]["stored"]

    listing = cli("--json", "schedules").stdout
    as_lines = _write(cli, "listing.jsonl", *json.loads(listing)["schedules"])
    refused = cli("--store", store_url, "schedule", "import", as_lines)
    assert refused.exit_code == 2
    assert "`schedkit schedule export` writes schedules in this form" in refused.stderr
    assert "note: created a new store at" in refused.stderr

    exported = cli("schedule", "export", "-o", "all.jsonl")
    assert exported.exit_code == 0, exported.output
    assert "exported 4 schedule(s) to all.jsonl" in exported.stdout
    assert stat.S_IMODE((cli.cwd / "all.jsonl").stat().st_mode) == 0o600  # kwargs as stored
    assert cli("schedule", "export").stdout == (cli.cwd / "all.jsonl").read_text("utf-8")

    moved = cli("--store", store_url, "schedule", "import", "all.jsonl")
    assert moved.exit_code == 0, moved.output
    assert "imported 4 schedule(s) from all.jsonl" in moved.stdout
    assert _defined(_listed(cli, "--store", store_url)) == _defined(source)

    again = cli("--store", store_url, "--json", "schedule", "import", "all.jsonl")
    assert again.exit_code == 0, again.output
    said = json.loads(again.stdout)
    assert (said["created"], said["unchanged"]) == (0, sorted(source))
    words = cli("--store", store_url, "schedule", "import", "all.jsonl").stdout
    assert "4 schedule(s) of the file stored already as it has them, left as they are" in words

    # Another content under a stored id is still refused, naming it.
    other = _write(cli, "other.jsonl", {"id": "h-cron", "task": "hello", "schedule": "0 7 * * *"})
    changed = cli("--store", store_url, "schedule", "import", other)
    assert changed.exit_code == 2
    assert "schedule 'h-cron' exists already" in one_error_line(changed.stderr)


def test_a_refused_import_into_a_new_store_stores_no_default_schedule(
    store_url: str, cli: Cli
) -> None:
    store_url = _other(store_url, cli)
    good = {"id": "nightly_report", "task": "nightly_report", "schedule": "0 3 * * *"}
    bad = _write(cli, "bad.jsonl", good, {"id": "x", "task": "nope", "schedule": "0 1 * * *"})
    refused = cli("--store", store_url, "schedule", "import", bad)
    assert refused.exit_code == 2
    assert "nothing was stored" in one_error_line(refused.stderr)
    assert "note: created a new store at" in refused.stderr
    listed = _listed(cli, "--store", store_url)
    assert [s["stored"] for s in listed.values()] == [False], listed  # nightly's, pending

    fixed = cli("--store", store_url, "schedule", "import", _write(cli, "good.jsonl", good))
    assert fixed.exit_code == 0, fixed.output
    stored = _listed(cli, "--store", store_url)["nightly_report"]
    assert (stored["stored"], stored["origin"]) == (True, "runtime")
    assert stored["trigger"]["expression"] == "0 3 * * *"


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        ({"paused": "yes"}, "paused", "must be true or false"),
        ({"pause_note": "why"}, "pause_note", "with paused: true"),
        ({"origin": "file"}, "origin", "must be code"),
        ({"id": "n-2", "origin": "code"}, "origin", "whose id is the task name"),
    ],
)
def test_a_lines_pause_and_origin_are_checked(
    cli: Cli, line: dict[str, Any], field: str, problem: str
) -> None:
    item = {"id": "nightly_report", "task": "nightly_report", "schedule": "0 3 * * *", **line}
    result = cli("schedule", "import", _write(cli, "s.jsonl", item))
    assert result.exit_code == 2
    said = one_error_line(result.stderr)
    assert f"line 1: {field}: " in said and problem in said, said
