"""A SQLite store's file removed (or replaced) under running nodes.

An audit removed ``schedkit.db`` and its ``-wal`` and ``-shm`` under two nodes: the
leader went on firing into the removed file, answering ready and logging nothing; the
other node's next connection created an empty file at the path and it answered 503 "no
such table … run 'schedkit db upgrade'"; done, and a third node started, two leaders
fired every schedule twice. Now every node notices the file is not the one it opened
(its device and inode, looked at with each heartbeat and lease renewal), logs an error,
steps down and answers unready, and no connection creates a file at the path."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from schedkit import Scheduler, StoreFileReplacedError, TaskRegistry
from schedkit.service.readiness import not_ready
from schedkit.store import create_store
from tests.engine.conftest import fast_config
from tests.engine.nodes import Node, read_marks


def _remove(db: Path) -> None:
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.unlink(missing_ok=True)


async def test_nodes_on_a_removed_file_stop_and_a_node_on_the_new_one_fires_alone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s3" / "schedkit.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    marker = tmp_path / "marks.jsonl"
    old = [Node(url, marker, tasks=["tick"]) for _ in range(2)]
    new: Node | None = None
    try:
        await asyncio.gather(*(n.ready() for n in old))
        await asyncio.sleep(2.5)
        _remove(db)
        await asyncio.sleep(1.5)  # several heartbeats and lease renewals
        assert not db.exists(), "a connection created a file where the store was"
        stopped_at = time.time()
        # What the audit did next (the hint said so), the store gone: a new store.
        new = Node(url, marker, tasks=["tick"])
        await new.ready()
        await asyncio.sleep(4.5)
    finally:
        for node in [*old, *([new] if new is not None else [])]:
            node.stop()
    old_pids = {n.proc.pid for n in old}
    marks = [m for m in read_marks(marker) if m["event"] == "tick"]
    late = [m for m in marks if m["pid"] in old_pids and _at(m["for"]) > stopped_at]
    assert late == [], "a node on the removed file fired"
    fires = Counter(m["for"] for m in marks if _at(m["for"]) > stopped_at)
    assert len(fires) >= 3, marks
    assert all(count == 1 for count in fires.values()), fires


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def test_a_node_whose_file_is_removed_says_so_and_steps_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "schedkit.db"
    node = Scheduler(fast_config(f"sqlite:///{db}"), registry=TaskRegistry())
    await node.start()
    try:
        await _until(lambda: node.is_leader, "the lease")
        assert await not_ready(node) is None
        _remove(db)
        await _until(lambda: not node.is_leader, "a step down")
        why = await not_ready(node)
        assert why is not None and why.kind == "store-file"
        assert why.public == (
            "not ready: the store's file was removed or replaced (see the node's log)"
        )
        assert f"its file {db} was removed or replaced since this process opened it" in (why.detail)
        assert "(no file is there now)" in why.detail
        # Said once by the store, and once by each loop it stops (a refusal's way).
        errors = [
            (r.name, r.getMessage())
            for r in caplog.records
            if r.levelno == logging.ERROR and "removed or replaced" in r.getMessage()
        ]
        assert [name for name, _ in errors].count("schedkit.store.sql") == 1, errors
        assert len(set(errors)) == len(errors), errors
        await asyncio.sleep(1)
        assert not db.exists(), "a connection created a file where the store was"
        failing = {f.loop: f for f in node.failing}
        assert "node heartbeat" in failing and failing["node heartbeat"].refused

        # A file put back at the path (a backup moved there) is another file: the node
        # stays out (its connections hold the removed one) until it is started again.
        async with create_store(f"sqlite:///{tmp_path / 'backup.db'}"):
            pass
        shutil.move(tmp_path / "backup.db", db)
        with pytest.raises(StoreFileReplacedError):
            await node.store.list_schedules()
        assert not node.is_leader
    finally:
        await node.stop()
    await node.start()  # started again, on the file there now
    try:
        await _until(lambda: node.is_leader, "the lease on the file there now")
        assert await not_ready(node) is None
    finally:
        await node.stop()


async def test_a_file_replaced_in_place_of_the_store_is_told_at_once(tmp_path: Path) -> None:
    """Another file moved over the store's path (a backup restored with ``mv`` while
    the node ran): the next ping says so, and an error of the store's connections
    is that, not the missing table of the file there now."""
    db = tmp_path / "schedkit.db"
    async with create_store(f"sqlite:///{db}") as store:
        await store.ping()
        other = tmp_path / "other.db"
        sqlite3.connect(other).close()
        os.replace(other, db)
        with pytest.raises(StoreFileReplacedError, match=r"\(another file is there now\)"):
            await store.ping()
        missing = _no_such_table(db)
        told = store._db.translate(missing)  # type: ignore[attr-defined]
        assert isinstance(told, StoreFileReplacedError)
        assert "db upgrade" not in str(told)


def _no_such_table(db: Path) -> sqlite3.OperationalError:
    with sqlite3.connect(db) as conn:
        try:
            conn.execute("SELECT * FROM schedkit_schedules")
        except sqlite3.OperationalError as error:
            return error
    raise AssertionError("the empty file has the table")


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        await asyncio.sleep(0.05)
