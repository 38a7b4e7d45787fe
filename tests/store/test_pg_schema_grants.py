"""A store in a schema of its own, restored with ``pg_restore --no-privileges`` (or
``--no-owner``): the schema and its tables are back, the node role's grants are not. A
schema the role has no USAGE on looks absent to it, and an audit's ``schedkit check``
said the store was "not created yet; it will be created at the first start" (then "ok")
over 500 runs, a node's start said to CREATE the schema, and a schedule import said
"this command reads a store". Each now names the USAGE and table grants to run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schedkit import SchedkitConfig, Scheduler
from schedkit.cli import app as cli_app
from schedkit.errors import StoreError, StoreNotFoundError
from schedkit.models import RunStatus, TriggerSource
from schedkit.store import create_store
from tests.pg_roles import NodeRole, node_role
from tests.store._contract import T0, add_runs, make_run

pytestmark = pytest.mark.external_service

SCHEMA = "sk_restored"
TASKS = "tests.cluster.cluster_tasks"


async def _restored(owner_url: str) -> None:
    """What the restore leaves: the owner's schema and tables with runs, and no grant
    to anyone (``node_role`` grants the node role on ``public`` only)."""
    from tests.pg_roles import sql

    await sql(owner_url, f"CREATE SCHEMA {SCHEMA}")
    async with create_store(owner_url, schema=SCHEMA) as store:
        # Finished: pending runs of a task no node has would be a problem of their own.
        runs = [
            make_run(
                schedule_id=None,
                trigger_source=TriggerSource.MANUAL,
                status=RunStatus.SUCCESS,
                started_at=T0,
                finished_at=T0,
            )
            for _ in range(3)
        ]
        await add_runs(store, *runs)


def _config(tmp_path: Path, schema: str) -> Path:
    path = tmp_path / "schedkit.toml"
    path.write_text(
        f'task_packages = ["{TASKS}"]\nentry_points = false\n'
        f'store_options = {{ schema = "{schema}" }}\n',
        encoding="utf-8",
    )
    return path


def _cli(config: Path, url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, ["--config", str(config), "--store", url, *args])
    return result.exit_code, result.stdout + result.stderr


def _grants(node: NodeRole) -> tuple[str, str]:
    return (
        f'GRANT USAGE ON SCHEMA "{SCHEMA}" TO {node.role};',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{SCHEMA}" TO {node.role};',
    )


def test_a_restored_schema_without_grants_is_a_problem_naming_them(tmp_path: Path) -> None:
    config = _config(tmp_path, SCHEMA)
    with node_role(_restored) as node:
        usage, tables = _grants(node)

        code, out = _cli(config, node.url, "--json", "check")
        assert code == 1, out
        report = json.loads(out)
        assert not report["warnings"], report
        (problem,) = [p["problem"] for p in report["problems"] if p["where"] == "store"]
        assert f'role {node.role} has no USAGE on schema "{SCHEMA}", which exists' in problem
        assert usage in problem and tables in problem, problem
        assert "not created yet" not in problem

        with pytest.raises(StoreError) as started:
            asyncio.run(Scheduler(SchedkitConfig.load(config, store_url=node.url)).start())
        said = str(started.value)
        assert not isinstance(started.value, StoreNotFoundError), said
        assert usage in said and tables in said and "CREATE SCHEMA" not in said, said

        lines = tmp_path / "schedules.jsonl"
        lines.write_text(
            '{"id": "p", "task": "plain", "schedule": {"trigger": "interval", "hours": 1}}\n',
            encoding="utf-8",
        )
        code, out = _cli(config, node.url, "schedule", "import", str(lines))
        assert code != 0 and usage in out and "reads a store" not in out, out

        # The grants said are enough: the restored store is the node's again.
        node.sql(usage.rstrip(";"), tables.rstrip(";"))
        code, out = _cli(config, node.url, "--json", "check")
        assert code == 0 and json.loads(out)["problems"] == [], out


def test_a_write_command_on_a_missing_schema_is_not_said_to_only_read(tmp_path: Path) -> None:
    """The schema is one thing a write command cannot create."""
    with node_role(_restored) as node:
        lines = tmp_path / "schedules.jsonl"
        lines.write_text(
            '{"id": "p", "task": "plain", "schedule": {"trigger": "interval", "hours": 1}}\n',
            encoding="utf-8",
        )
        code, out = _cli(_config(tmp_path, "sk_absent"), node.url, "schedule", "import", str(lines))
        assert code != 0, out
        assert "no schema 'sk_absent'" in out and 'CREATE SCHEMA "sk_absent"' in out, out
        assert "reads a store" not in out, out
