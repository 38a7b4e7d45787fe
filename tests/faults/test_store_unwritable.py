"""A store that answers reads but refuses writes: the SQLite file's disk full, the file
made immutable, PostgreSQL's disk full under its tablespace.

An audit filled the tmpfs holding a SQLite store under two nodes: both lost the lease,
nothing fired for as long, while ``/ready`` said 200 "ready", ``/health`` listed nothing
failing and ``schedkit check`` found no problem; the log had a WARNING per retry. Every
SQLite OperationalError was taken for an outage, which the loops' health hides (the
store's ping tells an outage: but the ping is a read, and it passed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import subprocess
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from schedkit import StoreUnwritableError
from schedkit.store import create_store
from tests.api.conftest import Api, open_api
from tests.api.helpers import problem
from tests.conftest import POSTGRES_VAR, service_url
from tests.faults.full_disk import FullDisk, full_disk
from tests.faults.servers import PrivatePostgres
from tests.pg_roles import sql, until

EVERY_SECOND = {
    "id": "often",
    "task": "echo",
    "schedule": {"trigger": "interval", "seconds": 1, "kwargs": {"count": 1}},
}
PUBLIC = "the store refuses writes (a full disk, a file not writable: see the log)"


def _unwritable_loops(api: Api) -> list[str]:
    failing = api.anon.get("/health").json()["failing"]
    return [f["loop"] for f in failing if f["unwritable"]]


@pytest.mark.parametrize("kind", ["tmpfs", "page_limit"])
def test_a_full_disk_makes_the_node_unready_until_space_returns(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schedkit.store.sql")
    with full_disk(kind, tmp_path) as disk:
        for api in open_api(f"sqlite:///{disk.path / 'schedkit.db'}"):
            _fill_and_free(api, disk, caplog)


def _fill_and_free(api: Api, disk: FullDisk, caplog: pytest.LogCaptureFixture) -> None:
    assert api.admin.post("/schedules", json=[EVERY_SECOND]).status_code == 201
    until(lambda: api.viewer.get("/runs").json()["total"] > 0, 15, "a fire")
    assert api.anon.get("/ready").status_code == 200

    disk.fill()
    until(lambda: api.anon.get("/ready").status_code == 503, 20, "unready once full")
    assert api.anon.get("/ready").json()["detail"].endswith(PUBLIC)
    known = api.viewer.get("/ready").json()["detail"]
    assert "refuses writes: OperationalError: database or disk is full" in known, known
    assert "free space on the file system holding the SQLite file" in known
    health = api.anon.get("/health")
    assert health.status_code == 200  # liveness: a restart frees no space
    assert _unwritable_loops(api), health.json()
    said = [r for r in caplog.records if r.name == "schedkit.store.sql"]
    errors = [r.getMessage() for r in said if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "database or disk is full" in errors[0], errors

    disk.free()
    until(lambda: api.anon.get("/ready").status_code == 200, 40, "ready once space returns")
    assert api.anon.get("/health").json()["failing"] == []
    assert any("takes writes again" in r.getMessage() for r in caplog.records)
    fired = api.viewer.get("/runs").json()["total"]
    until(lambda: api.viewer.get("/runs").json()["total"] > fired, 15, "fires again")


def test_a_sqlite_file_made_immutable_makes_the_node_unready(tmp_path: Path) -> None:
    """The audit's read-only variant: ``chattr +i`` on the file and its WAL. The open
    connections' writes fail with SQLITE_IOERR_WRITE ("disk I/O error"), new ones'
    with SQLITE_READONLY: both are a store refusing writes."""
    db = tmp_path / "schedkit.db"
    for api in open_api(f"sqlite:///{db}"):
        _make_immutable(api, db)


def _make_immutable(api: Api, db: Path) -> None:
    assert api.anon.get("/ready").status_code == 200
    files = [str(db), f"{db}-wal"]
    if subprocess.run(["chattr", "+i", *files], capture_output=True).returncode:
        pytest.skip("chattr +i is refused here (root on a file system that has it)")
    try:
        until(lambda: api.anon.get("/ready").status_code == 503, 20, "unready once immutable")
        assert api.anon.get("/ready").json()["detail"].endswith(PUBLIC)
        known = api.viewer.get("/ready").json()["detail"]
        assert "refuses writes: OperationalError: disk I/O error" in known, known
        assert _unwritable_loops(api)
        # A change asked meanwhile is told as such (not as a store out of reach).
        body = problem(api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": 1}}), 503)
        assert body["type"] == "urn:schedkit:problem:store-unwritable", body
        assert body["detail"].startswith("The store refuses writes; the node's log has")
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)
    until(lambda: api.anon.get("/ready").status_code == 200, 40, "ready once writable")


@pytest.mark.external_service
def test_postgresql_disk_full_is_a_store_refusing_writes() -> None:
    """PostgreSQL's disk_full (SQLSTATE 53100) was an outage, as its class 53 is
    (too many connections, out of memory): a node on a full server disk answered ready
    as the SQLite ones did. Its tables here live in a tablespace on a small tmpfs; the
    server's WAL is elsewhere, as a full WAL disk stops the server instead."""
    service_url(POSTGRES_VAR)  # PostgreSQL is installed here
    server = PrivatePostgres()
    try:
        # In the server's directory: the postgres user cannot reach pytest's.
        with full_disk("tmpfs", server.dir) as disk:
            shutil.chown(disk.path, "postgres", "postgres")
            server.start()
            asyncio.run(_fill_tablespace(server.url, disk))
    finally:
        server.cleanup()


async def _fill_tablespace(url: str, disk: FullDisk) -> None:
    await sql(
        url,
        f"CREATE TABLESPACE small LOCATION '{disk.path}'",
        "CREATE DATABASE app TABLESPACE small",
    )
    app = url.replace("/postgres", "/app")
    async with create_store(app) as store:
        await sql(app, "CREATE TABLE filler (n bigint)")
        with contextlib.suppress(asyncpg.DiskFullError):
            while True:
                await sql(app, "INSERT INTO filler SELECT generate_series(1, 50000)")
        await store.ping()  # reads are answered
        with pytest.raises(StoreUnwritableError) as refused:
            await store.set_state("big", {"text": secrets.token_hex(100_000)}, 0)
        assert "refuses writes: Error: could not extend file" in str(refused.value)
        assert "free space on the server's disk" in str(refused.value)
        await sql(app, "DROP TABLE filler")
        assert await store.set_state("big", {"text": secrets.token_hex(100_000)}, 0)
