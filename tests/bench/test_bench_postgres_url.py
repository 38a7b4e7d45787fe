"""The benchmarks take the PostgreSQL URL the store takes, query included.

Hole: with ``--postgres-url '...?ssl=disable'`` (the setting docs/stores.md recommends
for a server on the same host) the harness's own connections put ``ssl`` in an asyncpg
DSN, which sends it to the server as a setting; the server refused it, the probe
reported PostgreSQL unreachable and every schedkit-postgres case was an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import measure
from tests.bench.conftest import run_bench
from tests.cli.conftest import subprocess_env
from tests.conftest import service_url

pytestmark = pytest.mark.external_service


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def _uses_tls(url: str) -> bool:
    conn = await measure.pg_connect(url)
    try:
        return bool(await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
    finally:
        await conn.close()


async def test_the_harness_connects_with_the_urls_query() -> None:
    url = _with_query(service_url("SCHEDKIT_TEST_POSTGRES_URL"), "ssl=disable")

    assert await measure.pg_server_version(url)
    created = await measure.pg_create_database(url, "schedkit_bench_url_probe")
    try:
        assert created.endswith("/schedkit_bench_url_probe?ssl=disable")
        assert await measure.pg_database_exists(url, "schedkit_bench_url_probe")
        # The query is applied, not dropped: this connection has no TLS.
        assert await _uses_tls(created) is False
    finally:
        await measure.pg_drop_database(url, "schedkit_bench_url_probe")
    assert not await measure.pg_database_exists(url, "schedkit_bench_url_probe")


def test_a_workload_runs_on_a_url_with_a_query(tmp_path: Path) -> None:
    url = _with_query(service_url("SCHEDKIT_TEST_POSTGRES_URL"), "ssl=disable")
    out = tmp_path / "report.json"
    args = ["--smoke", "--only", "throughput", "--case", "100 runs at once"]
    args += ["--systems", "schedkit-postgres", "--no-mongo", "--postgres-url", url]
    run_bench("bench", *args, "--json", str(out), env=subprocess_env(), timeout=120)
    cases = json.loads(out.read_text())["workloads"]["throughput"]["cases"]
    assert cases
    for case in cases.values():
        result = case["results"]["schedkit-postgres"]
        assert result["finished"] == result["runs"] > 0, result
        # The server's share is read over an admin connection of the same URL.
        assert result["server_cpu_s"] is not None
