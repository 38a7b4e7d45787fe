"""``schedkit check``, ``db upgrade`` and ``token create|list|revoke``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedkit import SchedkitConfig, SyncScheduler, TaskDefinitionError, TaskRegistry
from schedkit.models import Node, Schedule
from schedkit.store import create_store
from schedkit.version import __version__, build, node_version
from tests.cli.conftest import Cli, one_error_line, write_config
from tests.store._versions import SCHEMA_V1


def test_check_ok(cli: Cli) -> None:
    assert cli("db", "upgrade").exit_code == 0
    node = SyncScheduler(SchedkitConfig.load(cli.config), registry=TaskRegistry())
    node.start()  # stores the default schedules (`tasks list`, a read, stores none)
    node.stop()
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert "ok: no problem found" in result.stdout
    assert "4 discovered in tests.cli.sample_tasks" in result.stdout
    assert "schema version" in result.stdout
    data = json.loads(cli("check", "--json").stdout)
    assert data["ok"] is True and data["problems"] == []
    assert data["store"] == f"sqlite:///{cli.db}"
    # The problems table has no title of its own (a stray "problem" line before it).
    assert cli("--lang", "en", "check").stdout.count("problem") == 1  # "no problem found"


def test_check_in_a_new_project_says_the_sqlite_store_will_be_created(cli: Cli) -> None:
    """An audit: a new user's first ``schedkit check`` exited 1 until a store existed
    (the SQLite file a first start creates). A warning now, and a problem where no start
    could create it; ``--require-store`` (CI checking a deployed store, where a mistyped
    path must not pass) keeps a missing store a problem. Nothing is created."""
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert "will be created at the first start" in result.stdout
    assert "ok: no problem found" in result.stdout
    data = json.loads(cli("check", "--json").stdout)
    assert data["ok"] is True and data["problems"] == []
    (warning,) = [w["warning"] for w in data["warnings"] if w["where"] == "store"]
    assert warning.startswith(f"sqlite:///{cli.db} does not exist yet; it will be created")
    required = cli("check", "--require-store")
    assert required.exit_code == 1, required.output
    assert f"sqlite:///{cli.db} does not exist (--require-store" in required.stdout
    data = json.loads(cli("check", "--require-store", "--json").stdout)
    assert [p["where"] for p in data["problems"]] == ["store"]
    assert not cli.db.exists()

    nowhere = cli.cwd / "no" / "such"
    missing = json.loads(cli("--store", f"sqlite:///{nowhere}/x.db", "--json", "check").stdout)
    assert [p["problem"] for p in missing["problems"]] == [
        f"sqlite:///{nowhere}/x.db: directory {nowhere} does not exist; no start can create it"
    ]
    (cli.cwd / "file").write_text("")
    under_file = json.loads(
        cli("--store", f"sqlite:///{cli.cwd}/file/x.db", "check", "--json").stdout
    )
    assert "directory" in under_file["problems"][0]["problem"]
    assert "is not a directory" in under_file["problems"][0]["problem"]
    locked = cli.cwd / "locked"
    locked.mkdir(mode=0o555)
    if os.access(locked, os.W_OK):  # root writes anywhere: a directory no one may write
        locked = Path("/proc/1")
    refused = cli("--store", f"sqlite:///{locked}/x.db", "check")
    assert refused.exit_code == 1, refused.output
    assert f"directory {locked} is not writable" in refused.stdout
    assert not (locked / "x.db").exists()


def test_check_reports_duplicate_task_names(stored: Cli) -> None:
    cli = stored
    config = write_config(cli.cwd / "dup.toml", cli.db, ("tests.cli.dup_tasks",))
    result = cli("--config", str(config), "--json", "check")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    (problem,) = data["problems"]
    assert problem["where"] == "discovery"
    assert "'dup' is defined twice" in problem["problem"]
    assert "dup_tasks.first" in problem["problem"] and "dup_tasks.second" in problem["problem"]


def test_check_reports_bad_default_schedule_and_unknown_package(stored: Cli) -> None:
    cli = stored
    config = write_config(
        cli.cwd / "bad.toml", cli.db, ("tests.cli.bad_tasks", "tests.cli.no_such_package")
    )
    result = cli("--config", str(config), "check")
    assert result.exit_code == 1
    assert "problem(s)" in result.stdout
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "problem" not in lines  # the table is not preceded by a stray title line
    assert "no_such_package" in result.stdout
    only_bad = write_config(cli.cwd / "bad2.toml", cli.db, ("tests.cli.bad_tasks",))
    data = json.loads(cli("--config", str(only_bad), "--json", "check").stdout)
    (problem,) = data["problems"]
    assert problem["where"] == "task bad_hour: default schedule"
    assert "hour" in problem["problem"]


def test_a_task_module_failing_at_import_is_a_problem_naming_it(
    stored: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: a task module reading a variable not set (``os.environ["DB_URL"]``)
    made ``check`` abort with "unexpected KeyError: 'DB_URL'" and a node's start raise
    the bare KeyError; neither named the module."""
    cli = stored
    package = cli.cwd / "trading_k4" / "tasks"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text('import os\n\nDB_URL = os.environ["DB_URL"]\n')
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # trading_k4 forgotten after
    config = write_config(cli.cwd / "broken.toml", cli.db, ("trading_k4.tasks",))
    failure = (
        "task module 'trading_k4.tasks.broken' failed to import: "
        "KeyError: 'DB_URL' (trading_k4/tasks/broken.py:3)"
    )
    result = cli("--config", str(config), "--json", "check")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["problems"] == [{"where": "discovery", "problem": failure}]
    node = SyncScheduler(SchedkitConfig.load(config), registry=TaskRegistry())
    with pytest.raises(TaskDefinitionError) as info:
        node.start()
    assert str(info.value) == failure


def test_check_reports_stored_schedules_of_unknown_tasks(cli: Cli) -> None:
    async def orphan() -> None:
        async with create_store(f"sqlite:///{cli.db}") as store:
            await store.put_schedule(
                Schedule(
                    id="gone",
                    task_name="removed_task",
                    trigger={"trigger": "cron", "expression": "0 1 * * *", "timezone": "UTC"},
                ),
                expected_version=0,
            )

    asyncio.run(orphan())
    data = json.loads(cli("--json", "check").stdout)
    said = (
        "task 'removed_task' is not registered: each fire is recorded skipped; remove the "
        "schedule with `schedkit schedule removed_task --remove --id gone`"
    )
    assert {"where": "schedule gone", "problem": said} in data["problems"]


def test_check_warns_when_live_nodes_run_different_builds(cli: Cli) -> None:
    """Every release said 0.1.0, so nodes of different code could not be told apart in a
    rolling upgrade: nodes record a build fingerprint, and ``check`` warns of a mix among
    the live ones (a node gone silent does not count)."""
    assert cli("db", "upgrade").exit_code == 0
    now = datetime.now(UTC)

    async def nodes(*rows: tuple[str, str, datetime]) -> None:
        async with create_store(f"sqlite:///{cli.db}") as store:
            for node_id, version, beat in rows:
                await store.upsert_node(
                    Node(
                        id=node_id,
                        hostname="box",
                        pid=1,
                        started_at=beat,
                        heartbeat_at=beat,
                        version=version,
                    )
                )

    asyncio.run(
        nodes(("a", node_version(), now), ("gone", "0.1.0+0000000000", now - timedelta(hours=1)))
    )
    assert not [
        w for w in json.loads(cli("check", "--json").stdout)["warnings"] if w["where"] == "nodes"
    ]
    asyncio.run(nodes(("b", "0.1.0+0000000000", now)))
    warned = [
        w["warning"]
        for w in json.loads(cli("check", "--json").stdout)["warnings"]
        if w["where"] == "nodes"
    ]
    assert warned == [
        f"live nodes run different builds (0.1.0+0000000000: b; {node_version()}: a); "
        "finish or undo the upgrade"
    ]


def test_version_names_the_build(cli: Cli) -> None:
    shown = cli("--version").stdout.strip()
    assert shown == f"schedkit {__version__} (build {build()})"
    assert re.fullmatch(r"[0-9a-f]{10}", build())


def test_check_reports_an_unreachable_store_masked(cli: Cli) -> None:
    result = cli("--store", "postgresql://bob:hunter2@127.0.0.1:1/x", "check")
    assert result.exit_code == 1
    assert "bob:***@127.0.0.1:1/x" in result.stdout
    assert "hunter2" not in result.output
    assert "4 discovered" in result.stdout  # discovery is still checked


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "mongodb://ops:s3cret@127.0.0.1:notaport/db",
            "bad MongoDB store URL 'mongodb://ops:***@127.0.0.1:notaport/db': Port contains",
        ),
        (
            "postgresql://ops:s3cret@127.0.0.1:x/db",
            "malformed store URL 'postgresql://ops:***@127.0.0.1:x/db': the port is not",
        ),
    ],
)
def test_check_reports_a_malformed_store_url_masked(cli: Cli, url: str, problem: str) -> None:
    """An audit: ``SCHEDKIT_STORE_URL=mongodb://127.0.0.1:notaport`` made ``check`` stop
    on "unexpected ValueError" (a node: a raw ValueError)."""
    result = cli("--json", "check", env={"SCHEDKIT_STORE_URL": url})
    assert result.exit_code == 1, result.output
    (found,) = json.loads(result.stdout)["problems"]
    assert found["where"] == "store" and found["problem"].startswith(problem), found
    assert "s3cret" not in result.output


def test_check_reports_a_bad_config(cli: Cli) -> None:
    cli.config.write_text('timezone = "Nowhere/Land"\n')
    result = cli("--json", "check")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["where"] == "config" and "unknown timezone" in problem["problem"]


def test_check_refuses_lost_after_within_one_heartbeat(cli: Cli) -> None:
    """An audit: ``schedkit check`` said ok to ``lost_after = 1`` with heartbeats every
    5 s, under which every live node looks dead between two beats."""
    cli.config.write_text(
        cli.config.read_text()
        .replace("lost_after = 2.0", "lost_after = 1\nheartbeat_interval = 5")
        .replace("heartbeat_interval = 0.2\n", "")
    )
    result = cli("--json", "check")
    assert result.exit_code == 1, result.output
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["where"] == "config"
    assert "scheduler.lost_after (1 s) must be longer than" in problem["problem"]
    assert "scheduler.heartbeat_interval (5 s)" in problem["problem"]


def test_check_names_a_mistyped_variable_and_the_setting_meant(stored: Cli) -> None:
    """An audit: ``SCHEDKIT_SCHEDULR__LEASE_TTL=5 schedkit check`` (SCHEDULER mistyped)
    said "ok" and every command went on with the default lease."""
    cli = stored
    typo = {"SCHEDKIT_SCHEDULR__LEASE_TTL": "5"}
    result = cli("check", env=typo)
    assert result.exit_code == 1, result.output
    data = json.loads(cli("--json", "check", env=typo).stdout)
    (problem,) = data["problems"]
    assert problem["where"] == "config"
    assert problem["problem"] == (
        "environment variable SCHEDKIT_SCHEDULR__LEASE_TTL names no setting: no section "
        "'schedulr'; did you mean SCHEDKIT_SCHEDULER__LEASE_TTL?"
    )
    listed = cli("tasks", "list", env=typo)  # every command, not check alone
    assert listed.exit_code != 0
    assert "SCHEDKIT_SCHEDULER__LEASE_TTL?" in one_error_line(listed.stderr)


def test_a_variable_that_names_no_setting_is_a_warning_of_check_and_of_a_node(
    stored: Cli,
) -> None:
    """A name far from every setting may be the operator's own: it is a warning, listed by
    ``check`` (which still passes) and logged by a node as it starts."""
    cli = stored
    env = {"SCHEDKIT_DB_URL": "postgresql://db/x"}
    data = json.loads(cli("--json", "check", env=env).stdout)
    assert data["ok"] is True
    (warning,) = [w for w in data["warnings"] if w["where"] == "config"]
    assert warning["warning"].startswith("environment variable SCHEDKIT_DB_URL names no setting")
    ran = cli("run", "hello", "--local", env=env)
    assert ran.exit_code == 0, ran.output
    assert "SCHEDKIT_DB_URL names no setting" in ran.stderr


def test_every_command_prints_a_stray_variable_once(stored: Cli) -> None:
    """An audit: ``SCHEDKIT_STORE=...`` (meant SCHEDKIT_STORE_URL) was ignored without a
    word by ``schedkit tasks``: only ``check`` said so. Every command says it on stderr,
    once: ``check`` in its report only, ``run --local`` not again in its node's log."""
    cli = stored
    env = {"SCHEDKIT_STORE": f"sqlite:///{cli.cwd / 'other.db'}"}
    warning = (
        "warning: environment variable SCHEDKIT_STORE names no setting of schedkit and is "
        "ignored; did you mean SCHEDKIT_STORE_URL? (the SCHEDKIT_ prefix is schedkit's: "
        "see docs/configuration.md)"
    )
    for args in (("tasks", "list"), ("--json", "tasks", "list"), ("run", "hello", "--local")):
        result = cli(*args, env=env)
        assert result.exit_code == 0, (args, result.output)
        assert result.stderr.count("SCHEDKIT_STORE ") == 1, (args, result.stderr)
        assert warning in result.stderr.splitlines(), (args, result.stderr)
    json.loads(cli("--json", "tasks", "list", env=env).stdout)  # stdout stays JSON
    checked = cli("check", env=env)
    assert checked.exit_code == 0, checked.output
    assert "SCHEDKIT_STORE " not in checked.stderr
    assert checked.stdout.count("SCHEDKIT_STORE ") == 1


def test_a_store_password_in_the_config_file_is_a_warning_of_check_and_of_a_node(
    stored: Cli,
) -> None:
    """An audit: a ``store_url`` with its password written in the config file drew no
    warning, although secrets belong in the environment (docs/configuration.md)."""
    cli = stored
    config = cli.config.read_text(encoding="utf-8")
    cli.config.write_text(
        config.replace(f"sqlite:///{cli.db}", "postgresql://app:hunter2@127.0.0.1:1/x"),
        encoding="utf-8",
    )
    shown = cli("check")
    assert "hunter2" not in shown.output
    assert "store_url holds a password (postgresql://app:***@127.0.0.1:1/x)" in shown.stdout
    # Moved to the environment as told (but left in the file): check passes, still warns.
    env = {"SCHEDKIT_STORE_URL": f"sqlite:///{cli.db}"}
    data = json.loads(cli("--json", "check", env=env).stdout)
    assert data["ok"] is True, data
    (warning,) = [w for w in data["warnings"] if w["where"] == "config"]
    assert warning["warning"].startswith("schedkit.toml: store_url holds a password")
    assert "set SCHEDKIT_STORE_URL" in warning["warning"]
    ran = cli("run", "hello", "--local", env=env)  # a node logs it as it starts
    assert ran.exit_code == 0, ran.output
    assert "store_url holds a password" in ran.stderr and "hunter2" not in ran.output


def test_check_reports_an_alert_channel_a_node_could_not_start_with(stored: Cli) -> None:
    """Hole: with a channel's secret variable unset, ``check`` said "ok" (exit 0), and
    the node then refused to start: ``check`` is meant to be run before a deployment."""
    cli = stored
    config = cli.config.read_text(encoding="utf-8")
    cli.config.write_text(
        config
        + "\n[alerts]\nenabled = true\n"
        + '[[alerts.channels]]\nname = "hook"\n'
        + 'url = "json://127.0.0.1:9/${SCHEDKIT_TEST_NO_SUCH_SECRET}"\n',
        encoding="utf-8",
    )
    result = cli("--json", "check")
    assert result.exit_code == 1, result.output
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["where"] == "alerts"
    assert "alerts channel 'hook'" in problem["problem"]
    assert "SCHEDKIT_TEST_NO_SUCH_SECRET" in problem["problem"]
    assert "is not set" in problem["problem"]
    fine = cli("--json", "check", env={"SCHEDKIT_TEST_NO_SUCH_SECRET": "token-1"})
    assert json.loads(fine.stdout)["problems"] == [], fine.output


def test_db_upgrade(cli: Cli) -> None:
    first = cli("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert "created store sqlite:///" in first.stdout and "schema version" in first.stdout
    second = json.loads(cli("db", "upgrade", "--json").stdout)
    assert second["created"] is False and second["schema_version"] >= 1
    missing_dir = cli("--store", f"sqlite:///{cli.cwd}/no/such/dir/x.db", "db", "upgrade")
    assert missing_dir.exit_code == 1
    assert "does not exist" in one_error_line(missing_dir.stderr)


def test_tokens(cli: Cli) -> None:
    created = cli("token", "create", "ops-bot", "--role", "operator")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("skt_")
    # It says which store the token lives in (a server on another store rejects it),
    # and that the store was created just now.
    assert f"in store sqlite:///{cli.db}" in created.stdout
    assert f"created a new store at {cli.db}" in created.stderr

    listed = cli("token", "list")
    assert "ops-bot" in listed.stdout and "operator" in listed.stdout
    assert secret not in listed.output

    data = json.loads(cli("token", "create", "--name", "viewer-1", "--json").stdout)
    assert data["role"] == "viewer" and data["secret"].startswith("skt_")
    assert "token_hash" not in data

    duplicate = cli("token", "create", "ops-bot")
    assert duplicate.exit_code == 1
    assert "already exists" in one_error_line(duplicate.stderr)
    bad_role = cli("token", "create", "x", "--role", "root")
    assert bad_role.exit_code == 2

    revoked = cli("token", "revoke", "ops-bot")
    assert revoked.exit_code == 0, revoked.output
    listed_json = json.loads(cli("--json", "token", "list").stdout)
    assert [t["name"] for t in listed_json["tokens"]] == ["viewer-1"]
    assert listed_json["store"] == f"sqlite:///{cli.db}"
    everything = json.loads(cli("token", "list", "--all", "--json").stdout)["tokens"]
    assert {t["name"]: t["revoked"] for t in everything} == {"ops-bot": True, "viewer-1": False}
    again = cli("token", "revoke", "ops-bot")  # said "unknown token 'ops-bot'", exit 2
    assert again.exit_code == 1
    ops_id = next(t["id"] for t in everything if t["name"] == "ops-bot")
    assert (
        one_error_line(again.stderr) == f"error: token 'ops-bot' (id {ops_id}) is already revoked"
    )

    unknown = cli("token", "revoke", "nobody")
    assert unknown.exit_code == 2
    assert one_error_line(unknown.stderr) == "error: unknown token 'nobody'"
    no_name = cli("token", "create")
    assert no_name.exit_code == 2


def test_db_upgrade_says_whether_it_created_the_store(store_url: str, cli: Cli) -> None:
    """On every backend: an empty database is created (not "up to date"), then left.
    Read commands before it create nothing (an audit: `schedkit history` pointed at a
    mistyped PostgreSQL database name created schedkit's tables there)."""
    for read in (["history"], ["tasks"], ["calendar", "list"]):
        refused = cli("--store", store_url, *read)
        assert refused.exit_code == 1, refused.output
        assert "never creates one" in one_error_line(refused.stderr)
    checked = cli("--store", store_url, "check", "--json")
    assert checked.exit_code == 0, checked.output  # the first start creates it
    assert any(
        w["where"] == "store" and "will be created at the first start" in w["warning"]
        for w in json.loads(checked.stdout)["warnings"]
    ), checked.stdout
    required = cli("--store", store_url, "check", "--json", "--require-store")
    assert required.exit_code == 1, required.output
    assert [p["where"] for p in json.loads(required.stdout)["problems"]] == ["store"]
    first = cli("--store", store_url, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("created store "), first.stdout
    again = json.loads(cli("--store", store_url, "db", "upgrade", "--json").stdout)
    assert again["created"] is False and again["upgraded_from"] is None
    assert (
        again["schema_version"]
        == json.loads(cli("--store", store_url, "db", "upgrade", "--json").stdout)["schema_version"]
    )


def test_db_upgrade_of_an_older_store_says_from_which_version(cli: Cli) -> None:
    old = cli.cwd / "v1.db"
    with sqlite3.connect(old) as conn:
        conn.executescript((SCHEMA_V1 / "sqlite.sql").read_text(encoding="utf-8"))
    done = cli("--store", f"sqlite:///{old}", "db", "upgrade", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["created"] is False and report["upgraded_from"] == 1
    assert report["schema_version"] > 1
    text = cli("--store", f"sqlite:///{old}", "db", "upgrade").stdout
    assert "(up to date)" in text


def test_db_upgrade_waits_until_no_node_of_the_older_release_is_alive(cli: Cli) -> None:
    """An upgrade audit: the upgrade older code cannot work with went ahead while a node
    of the older release was alive on the store. ``db upgrade`` refuses it, names the
    node and what to do; ``--ignore-live-nodes`` is for a row of a node known gone."""
    old = cli.cwd / "v1.db"
    beat = int(time.time() * 1_000_000) - 1_000_000  # µs since the epoch: 1 s ago
    with sqlite3.connect(old) as conn:
        conn.executescript((SCHEMA_V1 / "sqlite.sql").read_text(encoding="utf-8"))
        conn.execute(
            "INSERT INTO schedkit_nodes VALUES ('old-1', 'box', 77, ?, ?, '[]', '0.9.0', '{}')",
            (beat, beat),
        )
    url = f"sqlite:///{old}"
    patient = {"SCHEDKIT_SCHEDULER__LOST_AFTER": "60"}  # the config's 2 s, on a slow machine
    refused = cli("--store", url, "db", "upgrade", env=patient)
    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.stderr.split())
    assert f"store {url}: refusing to upgrade from schema version 1 to" in said
    assert "old-1 (host box, pid 77, last heartbeat" in said
    assert "Stop them first" in said and "--ignore-live-nodes" in said
    assert "its last heartbeat + 60 s (scheduler.lost_after)" in said
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT max(version) FROM schedkit_schema_version").fetchone() == (1,)
    forced = cli("--store", url, "db", "upgrade", "--ignore-live-nodes", "--json", env=patient)
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["upgraded_from"] == 1


def test_db_upgrade_says_index_version_on_mongodb(store_url: str, cli: Cli) -> None:
    """``db upgrade`` said "schema version" on MongoDB, whose store counts index versions
    (the node log's and docs' word)."""
    created = cli("--store", store_url, "db", "upgrade")
    assert created.exit_code == 0, created.output
    kind = "index version" if store_url.startswith("mongodb") else "schema version"
    assert f"at {kind} " in created.stdout
    assert f"is at {kind} " in cli("--store", store_url, "db", "upgrade").stdout


def test_a_bad_environment_value_is_named_by_its_variable(cli: Cli) -> None:
    """``SCHEDKIT_EXECUTOR__MAX_WORKERS=abc schedkit tasks`` said only "executor.max_workers:
    Input should be a valid integer", not which variable to fix."""
    result = cli("tasks", env={"SCHEDKIT_EXECUTOR__MAX_WORKERS": "abc"})
    assert result.exit_code == 1, result.output
    assert "environment variable SCHEDKIT_EXECUTOR__MAX_WORKERS: executor.max_workers: " in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_check_warns_of_a_task_keeping_basetasks_default_schedule(cli: Cli) -> None:
    """An audit: a class task declaring no ``default_schedule`` got BaseTask's daily
    02:00 schedule at a node's start without a word; ``check`` names it (a note, not a
    problem), the tasks declaring theirs (or ``@task`` functions) not."""
    data = json.loads(cli("check", "--json").stdout)
    assert data["ok"] is True, data
    tasks = [w for w in data["warnings"] if w["where"].startswith("task ")]
    assert tasks == [
        {
            "where": "task nightly_report",
            "warning": "declares no default_schedule, so it gets BaseTask's: every day at "
            "02:00 (Asia/Shanghai); set default_schedule = None to run it only on demand, "
            "or declare the schedule it needs",
        }
    ]
    assert "task nightly_report: declares no default_schedule" in cli("check").stdout
