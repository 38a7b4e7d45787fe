"""Read commands on a store of another schema version than this release's.

An upgrade audit: ``schedkit check`` (and every other read command) of a new release
upgraded a schema-1 store to 8, breaking steps included, without a word: run as a
pre-flight, or while deciding whether to roll back, it lost the rollback. Reads now
refuse an older store and change nothing; ``db upgrade`` and ``check`` say when a store
is newer than this release (``db upgrade`` said "(up to date)")."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from schedkit.store.sql.migrations import latest_version
from tests.cli.conftest import Cli, one_error_line
from tests.store._versions import (
    SCHEMA_V1,
    code_version,
    create_older,
    is_mongo,
    make_newer,
    stored_version,
)

CURRENT = latest_version()
REFUSED = f"is at schema version 1; this release uses {CURRENT}: `schedkit db upgrade` upgrades it"


def _v1(cli: Cli) -> None:
    with sqlite3.connect(cli.db) as conn:
        conn.executescript((SCHEMA_V1 / "sqlite.sql").read_text(encoding="utf-8"))


def _version(cli: Cli) -> int:
    with sqlite3.connect(cli.db) as conn:
        (version,) = conn.execute("SELECT max(version) FROM schedkit_schema_version").fetchone()
    return int(version)


@pytest.mark.parametrize(
    "args",
    [
        ["tasks", "list"],
        ["tasks", "show", "nightly_report"],
        ["schedules"],
        ["history"],
        ["nodes"],
        ["token", "list"],
        ["workflow", "list"],
        ["calendar", "list"],
        ["backfill", "nightly_report", "--status"],
        ["purge", "--older-than", "90d", "--dry-run"],
    ],
)
def test_a_read_command_refuses_an_older_store_and_leaves_its_schema_version(
    cli: Cli, args: list[str]
) -> None:
    _v1(cli)
    result = cli(*args)
    assert result.exit_code == 1, result.output
    said = one_error_line(result.stderr)
    assert f"error: store sqlite:///{cli.db} {REFUSED}" in said
    assert "no rolling back to a release of schema version 1" in said
    assert _version(cli) == 1


def test_check_reports_an_older_store_as_a_problem_and_upgrades_nothing(
    store_url: str, cli: Cli
) -> None:
    old = asyncio.run(create_older(store_url))
    kind = "index" if is_mongo(store_url) else "schema"
    checked = cli("--store", store_url, "check", "--json")
    assert checked.exit_code == 1, checked.output
    (problem,) = [p["problem"] for p in json.loads(checked.stdout)["problems"]]
    assert f"is at {kind} version {old}; this release uses {code_version(store_url)}" in problem
    assert "reading a store never upgrades it" in problem
    assert asyncio.run(stored_version(store_url)) == old

    upgraded = cli("--store", store_url, "db", "upgrade", "--json")
    assert upgraded.exit_code == 0, upgraded.output
    assert json.loads(upgraded.stdout)["upgraded_from"] == old
    again = json.loads(cli("--store", store_url, "check", "--json").stdout)
    assert [p for p in again["problems"] if p["where"] == "store"] == []


def test_db_upgrade_and_check_say_a_store_is_newer_than_this_release(cli: Cli) -> None:
    assert cli("db", "upgrade").exit_code == 0
    url = f"sqlite:///{cli.db}"
    asyncio.run(make_newer(url, CURRENT + 1, compatible_from=CURRENT))
    newer = (
        f"store {url} is at schema version {CURRENT + 1}, newer than this release's "
        f"{CURRENT}: compatible, this release runs on it"
    )
    said = cli("db", "upgrade")
    assert said.exit_code == 0, said.output
    assert " ".join(said.stdout.split()) == newer
    assert "up to date" not in said.stdout
    assert f"比本版本的 {CURRENT} 新" in cli("--lang", "zh", "db", "upgrade").stdout
    data = json.loads(cli("db", "upgrade", "--json").stdout)
    assert (data["schema_version"], data["release_schema_version"]) == (CURRENT + 1, CURRENT)
    assert data["created"] is False and data["upgraded_from"] is None
    checked = json.loads(cli("check", "--json").stdout)
    assert {"where": "store", "warning": newer} in checked["warnings"]

    asyncio.run(make_newer(url, CURRENT + 2, compatible_from=CURRENT + 2))
    refused = cli("db", "upgrade")
    assert refused.exit_code == 1, refused.output
    assert (
        f"is at schema version {CURRENT + 2}, newer than this release's {CURRENT}, and needs "
        f"schedkit code of schema version {CURRENT + 2} or newer: this release refuses to run "
        "on it; upgrade schedkit"
    ) in one_error_line(refused.stderr)
    checked = json.loads(cli("check", "--json").stdout)
    assert any(
        p["where"] == "store" and "this release refuses to run on it" in p["problem"]
        for p in checked["problems"]
    ), checked
