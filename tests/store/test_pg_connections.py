"""How schedkit connects to PostgreSQL: a store in a schema of its own (tables,
migrations, a node, the CLI) beside one in the default schema; the node's LISTEN
connection made as the pool's are (ssl, timeouts, schema); connections named after
their node; URL parameters asyncpg does not take refused by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from schedkit import RunStatus, SchedkitConfig, Scheduler
from schedkit.broadcast import transport_for
from schedkit.errors import ConfigError, StoreNotFoundError
from schedkit.store import create_store
from tests.cli.conftest import subprocess_env

PG = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
TASKS = "tests.cluster.cluster_tasks"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("options=-csearch_path%3Dapp_a", "'options'"),
        ("search_path=app_a", "'search_path'"),
        ("sslmode=require", "'sslmode'"),
    ],
)
def test_a_url_parameter_asyncpg_does_not_take_is_refused_by_name(query: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_store(f"postgresql://u:secret@h/db?{query}")
    said = str(caught.value)
    assert named in said and "accepted: " in said and "ssl" in said
    assert "secret" not in said
    if "search_path" in query:
        assert "store option schema" in said


def test_accepted_parameters_and_the_schema_option_are_checked() -> None:
    create_store("postgresql://u:p@h/db?ssl=disable&command_timeout=5&timeout=3")
    with pytest.raises(ConfigError, match="not a number"):
        create_store("postgresql://u:p@h/db?command_timeout=soon")
    with pytest.raises(ConfigError, match="schema option is PostgreSQL's"):
        create_store("sqlite:///x.db", schema="app")
    with pytest.raises(ConfigError, match="1 to 63 bytes"):
        create_store("postgresql://u:p@h/db", schema="s" * 64)


async def _admin(store_url: str, *statements: str) -> list[Any]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(store_url)
    try:
        return [await conn.fetch(s) for s in statements]
    finally:
        await conn.close()


def _cli(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedkit", "--config", str(config), *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@PG
async def test_a_store_in_a_schema_of_its_own_beside_one_in_the_default_schema(
    store_url: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreNotFoundError, match="no schema 'app_a' this role may use"):
        await create_store(store_url, schema="app_a").open()
    await _admin(store_url, "CREATE SCHEMA app_a")
    path = tmp_path / "schedkit.toml"
    path.write_text(
        f'store_url = "{store_url}"\ntask_packages = ["{TASKS}"]\nentry_points = false\n'
        'store_options = { schema = "app_a" }\n[executor]\npoll_interval = 0.1\n',
        encoding="utf-8",
    )
    upgraded = _cli(path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    (in_schema,) = await _admin(
        store_url,
        "SELECT table_schema, count(*) AS n FROM information_schema.tables "
        "WHERE table_name LIKE 'schedkit%' GROUP BY table_schema",
    )
    assert [(r["table_schema"], r["n"] > 5) for r in in_schema] == [("app_a", True)]

    beside = create_store(store_url)  # the default schema of the same database
    await beside.open()
    try:
        async with Scheduler(SchedkitConfig.load(path)) as node:
            run = await node.run_now("plain")
            assert (await node.wait_for_run(run.id, timeout=30)).status is RunStatus.SUCCESS
            # The pool's connections carry the node's id.
            (named,) = await _admin(
                store_url,
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()",
            )
            names = {r["application_name"] for r in named}
            assert f"schedkit {node.node_id}"[:63] in names, names
        assert await beside.get_run(run.id) is None
        history = _cli(path, "--json", "history", "plain")
        assert history.returncode == 0, history.stderr
        assert run.id in history.stdout
        (counts,) = await _admin(
            store_url,
            "SELECT (SELECT count(*) FROM app_a.schedkit_runs) AS a, "
            "(SELECT count(*) FROM public.schedkit_runs) AS b",
        )
        assert (counts[0]["a"], counts[0]["b"]) == (1, 0)
    finally:
        await beside.close()


@PG
async def test_the_listen_connection_is_made_as_the_pools_are(store_url: str) -> None:
    """ssl, timeouts and the schema of the URL and options apply to a node's LISTEN
    connection too."""
    await _admin(store_url, "CREATE SCHEMA app_b")
    cfg = SchedkitConfig(
        store_url=f"{store_url}?ssl=disable",
        store_options={"schema": "app_b", "command_timeout": 7},
        entry_points=False,
    )
    transport = transport_for(cfg, "node-1")
    assert transport is not None
    await transport.open(lambda _: None, lambda _: None)
    try:
        conn: Any = transport._conn  # type: ignore[attr-defined]
        assert await conn.fetchval("SHOW search_path") == '"app_b"'
        assert conn._config.command_timeout == 7
        (rows,) = await _admin(
            store_url,
            "SELECT s.ssl "
            "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
            "WHERE a.application_name = 'schedkit-events-node-1'",
        )
        # Meaningful where the server offers ssl (it does here, as Debian's does): without
        # ?ssl=disable asyncpg's default (prefer) takes it.
        assert len(rows) == 1 and rows[0]["ssl"] is False, rows
    finally:
        await transport.close()
