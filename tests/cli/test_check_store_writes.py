"""``schedkit check`` on a SQLite store whose disk is full: an audit's check said "ok: no
problem found" while every node's writes failed (its look at the store was all reads).
A write probe (a row of 64 KiB written and deleted in one transaction) tells it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, write_config
from tests.faults.full_disk import full_disk


@pytest.mark.parametrize("kind", ["tmpfs", "page_limit"])
def test_check_reports_a_full_disk(kind: str, tmp_path: Path, cli: Cli) -> None:
    with full_disk(kind, tmp_path) as disk:
        db = disk.path / "schedkit.db"
        write_config(cli.config, db)
        assert cli("db", "upgrade").exit_code == 0
        # As a running node does, this connection keeps the WAL and its index open: a
        # new connection must create neither on the full disk.
        node = sqlite3.connect(db)
        try:
            node.execute("SELECT count(*) FROM schedkit_nodes").fetchone()
            disk.fill()
            try:
                result = cli("check", "--json")
            finally:
                disk.free()
            assert result.exit_code == 1, result.output
            problems = json.loads(result.stdout)["problems"]
            assert [p["where"] for p in problems] == ["store writes"], problems
            assert (
                "refuses writes: OperationalError: database or disk is full"
                in (problems[0]["problem"])
            )
            assert (
                "free space on the file system holding the SQLite file" in (problems[0]["problem"])
            )
        finally:
            node.close()
        after = cli("check", "--json")
        assert after.exit_code == 0, after.output
        with sqlite3.connect(db) as conn:  # the probe left nothing behind
            assert conn.execute("SELECT count(*) FROM schedkit_kv_state").fetchone() == (0,)
