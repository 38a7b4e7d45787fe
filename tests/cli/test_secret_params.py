"""``schedkit run`` of a task with a ``SecretStr`` parameter (an audit's repro): the task
gets the real value and the store keeps it, on SQLite and PostgreSQL; the CLI shows it
masked."""

from __future__ import annotations

import asyncio
import json

import pytest

from schedkit.models import Run, RunFilter
from schedkit.store import create_store
from tests.cli.conftest import Cli, write_config

SECRET_PACKAGE = "tests.engine.secret_tasks"


async def _stored_runs(url: str) -> list[Run]:
    store = create_store(url)
    await store.open()
    try:
        return await store.list_runs(RunFilter(task_name="login_secret"))
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_run_local_gives_the_task_a_secret_strs_real_value(store_url: str, cli: Cli) -> None:
    write_config(cli.config, cli.db, (SECRET_PACKAGE,))
    given = ("-p", "user=bob", "-p", "broker_pw=realpass")
    ran = cli("--store", store_url, "--json", "run", "login_secret", *given, "--local")
    assert ran.exit_code == 0, ran.output
    shown = json.loads(ran.stdout)
    assert shown["status"] == "success"
    assert shown["kwargs"] == {"user": "bob", "broker_pw": "***"}
    assert shown["result"]["data"] == "val=***"
    history = cli("--store", store_url, "--json", "history", "login_secret")
    assert history.exit_code == 0, history.output
    assert "realpass" not in ran.output + history.output
    (run,) = asyncio.run(_stored_runs(store_url))
    assert run.kwargs == {"user": "bob", "broker_pw": "realpass"}
    assert run.result is not None and run.result["data"] == "val=realpass"
