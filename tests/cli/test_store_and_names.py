"""Which store and which tasks: every command that touches a store names it (text and
JSON), read commands never create a SQLite file, and an unknown task name gets close
names and where tasks were looked for."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from schedkit.store import mask_url
from tests.cli.conftest import Cli, one_error_line, write_config
from tests.conftest import MONGO_VAR, _drop_mongo_database, service_url


@pytest.mark.parametrize(
    "args",
    [
        ["history"],
        ["history", "hello"],
        ["tasks", "list"],
        ["tasks"],
        ["tasks", "show", "hello"],
        ["token", "list"],
        ["backfill", "hello", "--status"],
        ["nodes"],
        ["workflow", "runs"],
        ["workflow", "status", "some-run"],
        ["calendar", "list"],
        ["calendar", "show", "cn_workdays"],
        ["calendar", "warnings"],
        ["calendar", "export", "cn_workdays"],
    ],
)
def test_read_commands_never_create_a_sqlite_file(cli: Cli, args: list[str]) -> None:
    typo = cli.cwd / "var" / "demo" / "nothere.db"
    typo.parent.mkdir(parents=True)
    result = cli("--store", "sqlite:///var/demo/nothere.db", *args)
    assert result.exit_code == 1, result.output
    line = one_error_line(result.stderr)
    assert f"store sqlite:///{typo} does not exist" in line
    assert "never creates one" in line
    assert result.stdout == ""
    assert not typo.exists()
    assert list(typo.parent.iterdir()) == []


def test_a_missing_store_points_at_the_demo_when_one_ran_here(cli: Cli) -> None:
    demo = cli.cwd / "var" / "demo"
    demo.mkdir(parents=True)
    (demo / "schedkit.toml").write_text('store_url = "sqlite:///var/demo/demo.db"\n')
    line = one_error_line(cli("history").stderr)
    assert "config: schedkit.toml" in line
    assert "the demo's: export SCHEDKIT_CONFIG=var/demo/schedkit.toml" in line


STORE_COMMANDS = [
    ["run", "hello", "-p", "name=Ann"],
    ["run", "hello", "-p", "name=Ann", "--wait"],
    ["history"],
    ["tasks", "list"],
    ["tasks", "show", "hello"],
    ["schedule", "hello", "--cron", "0 3 * * *"],
    ["pause", "nightly_report"],
    ["purge", "--older-than", "90d"],
    ["token", "create", "{name}"],
    ["token", "list"],
]


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=" ".join)
def test_every_store_command_names_its_store(stored: Cli, args: list[str]) -> None:
    label = f"sqlite:///{stored.db}"
    text = stored(*(a.format(name="bot") for a in args))
    assert text.exit_code == 0, text.output
    assert f"store {label}" in text.stdout
    as_json = stored("--json", *(a.format(name="bot-2") for a in args))
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["store"] == label


@pytest.fixture
def mongo_server() -> str:
    """The test MongoDB server's URL (read before ``cli`` clears SCHEDKIT_* variables)."""
    return service_url(MONGO_VAR)


@pytest.mark.external_service
def test_a_mongodb_store_is_named_with_its_database(mongo_server: str, cli: Cli) -> None:
    """An audit: with ``store_options.database`` every command said only ``store
    mongodb://127.0.0.1:27017`` (and ``check`` the same), so two databases on one server
    read alike; the line names the database as the store's own label does."""
    base = mongo_server
    name = f"schedkit_test_{uuid.uuid4().hex[:12]}"
    with cli.config.open("a", encoding="utf-8") as config:
        config.write(f'\n[store_options]\ndatabase = "{name}"\n')
    label = f"{mask_url(base)} (database {name})"
    env = {"SCHEDKIT_STORE_URL": base}
    try:
        created = cli("db", "upgrade", env=env)
        assert created.exit_code == 0, created.output
        assert f"store {label} at index version" in created.stdout
        checked = cli("check", env=env)
        assert f"{label} (index version" in checked.stdout, checked.output
        listed = cli("history", env=env)
        assert f"store {label}" in listed.stdout, listed.output
        assert json.loads(cli("--json", "history", env=env).stdout)["store"] == label
    finally:
        asyncio.run(_drop_mongo_database(base, name))


def test_write_commands_say_when_they_create_a_store(cli: Cli) -> None:
    result = cli("schedule", "hello", "--cron", "0 3 * * *")
    assert result.exit_code == 0, result.output
    assert f"note: created a new store at {cli.db}" in result.stderr
    assert "config: schedkit.toml" in result.stderr
    again = cli("schedule", "hello", "--cron", "0 4 * * *")
    assert "created a new store" not in again.stderr


def test_unknown_task_suggests_close_names_and_where_it_looked(stored: Cli) -> None:
    typo = one_error_line(stored("run", "helo", "--wait").stderr)
    assert typo.startswith("error: unknown task 'helo'; did you mean 'hello'?"), typo
    assert "(4 tasks registered; searched task_packages: tests.cli.sample_tasks" in typo
    assert "config: schedkit.toml" in typo
    prefix = one_error_line(stored("tasks", "show", "nightly").stderr)
    assert "did you mean 'nightly_report'?" in prefix
    far = one_error_line(stored("history", "zzz").stderr)
    assert "did you mean" not in far and "searched task_packages" in far


def test_no_tasks_says_where_it_looked(cli: Cli) -> None:
    empty = write_config(cli.cwd / "empty.toml", cli.db, ())
    assert cli("--config", str(empty), "db", "upgrade").exit_code == 0
    result = cli("--config", str(empty), "tasks", "list")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("no tasks (0 tasks registered; searched task_packages: none")
    assert f"config: {empty}" in first
    filtered = cli("tasks", "list", "--category", "nothing-here")
    assert filtered.stdout.splitlines()[0] == "no tasks"


def test_tasks_alone_lists_the_tasks(stored: Cli) -> None:
    alone = stored("tasks")
    assert alone.exit_code == 0, alone.output
    assert alone.stdout == stored("tasks", "list").stdout
    assert "nightly_report" in alone.stdout


def test_chinese_tables_have_no_english_words(stored: Cli) -> None:
    shown = stored("--lang", "zh", "tasks", "show", "nightly_report")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "普通" in out  # priority
    assert "最多重试" in out and "退避系数" in out  # retry policy
    assert "最大并发" in out and "重叠时跳过本次" in out  # schedule policies
    for word in ("normal", "max_retries", "max_instances", "overlap=", "misfire_grace"):
        assert word not in out, word
    params = stored("--lang", "zh", "tasks", "show", "hello").stdout
    assert "整数" in params and "字符串" in params
    assert "integer" not in params and "string" not in params
    stored("run", "hello", "-p", "name=Li", "--wait")
    history = stored("--lang", "zh", "history").stdout
    assert "手动触发" in history and "manual" not in history


def test_a_relative_store_in_a_config_elsewhere_says_where_it_resolves(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: ``cd /tmp/x && schedkit --config /abs/myapp/schedkit.toml tasks`` with
    ``store_url = "sqlite:///myapp.db"`` said the store in /tmp/x does not exist and to
    run ``db upgrade``, which creates a second, empty store there."""
    project = cli.cwd / "myapp"
    project.mkdir()
    config = project / "schedkit.toml"
    config.write_text(
        'store_url = "sqlite:///myapp.db"\n'
        'task_packages = ["tests.cli.sample_tasks"]\nentry_points = false\n'
    )
    elsewhere = cli.cwd / "x"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("--config", str(config), "tasks")
    assert result.exit_code == 1, result.output
    line = one_error_line(result.stderr)
    assert f"store sqlite:///{elsewhere / 'myapp.db'} does not exist" in line
    assert f"resolve against the working directory ({elsewhere})" in line, line
    assert f"run schedkit from {project}" in line
    assert f"sqlite:///{project / 'myapp.db'}" in line
    assert "db upgrade" not in line
    made = cli("--config", str(config), "schedule", "hello", "--cron", "0 3 * * *")
    assert made.exit_code == 0, made.output
    assert "created a new store" in made.stderr
    assert "resolve against the working directory" in made.stderr
    monkeypatch.chdir(project)  # from the project folder: found, no hint
    assert "working directory" not in cli("--config", str(config), "tasks").stderr


def test_a_task_package_not_found_says_it_imports_from_the_working_directory(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: from another folder, ``task package 'myapp.tasks' cannot be imported:
    No module named 'myapp'`` came without a word on where packages are looked for."""
    project = cli.cwd / "proj"
    (project / "myapp_x7" / "tasks").mkdir(parents=True)
    (project / "myapp_x7" / "__init__.py").write_text("")
    (project / "myapp_x7" / "tasks" / "__init__.py").write_text("")
    config = write_config(project / "schedkit.toml", cli.db, ("myapp_x7.tasks",))
    elsewhere = cli.cwd / "x"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("--config", str(config), "run", "hello")
    assert result.exit_code != 0, result.output
    line = one_error_line(result.stderr)
    assert "No module named 'myapp_x7'" in line
    assert f"imported from the working directory ({elsewhere}) and PYTHONPATH" in line, line
    assert f"({project} holds one)" in line
    broken = write_config(project / "broken.toml", cli.db, ("tests.cli.sample_tasks.nope",))
    other = one_error_line(cli("--config", str(broken), "run", "hello").stderr)
    assert "PYTHONPATH" not in other  # a module missing inside a package found: no hint


def test_mongodb_options_without_the_url_say_the_url_is_not_set(cli: Cli) -> None:
    """An audit: docs/configuration.md's example puts MongoDB ``store_options`` in the file
    and the URL in the environment; with SCHEDKIT_STORE_URL forgotten, ``check`` and ``db
    upgrade`` said "unknown SQL store option(s) database" and ``history`` that the
    default SQLite store did not exist. Every command now says the URL is not set."""
    cli.config.write_text(
        'task_packages = ["tests.cli.sample_tasks"]\nstore_options = { database = "exds" }\n',
        encoding="utf-8",
    )
    said = (
        "store_options holds MongoDB store options (database), but the store URL "
        "sqlite:///schedkit.db (the default: store_url is not set) names a SQL store: "
        "set SCHEDKIT_STORE_URL"
    )
    for args in (["history"], ["db", "upgrade"], ["tasks", "list"]):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert one_error_line(result.stderr).startswith(f"error: {said}"), result.stderr
    data = json.loads(cli("check", "--json").stdout)
    assert [p["where"] for p in data["problems"]] == ["config"]
    assert data["problems"][0]["problem"].startswith(said)
    assert not (cli.cwd / "schedkit.db").exists()
