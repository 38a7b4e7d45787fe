"""``python -m bench.bulk`` cannot rot: both probes run at toy size (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench.conftest import run_bench


def run(*args: str) -> list[dict[str, object]]:
    proc = run_bench("bench.bulk", *args, "--postgres-url", "", "--mongo-url", "", timeout=120)
    rows: list[dict[str, object]] = json.loads(proc.stderr.strip().splitlines()[-1])
    return rows


@pytest.mark.timeout(150)
def test_import_probe_reports_a_rate() -> None:
    (row,) = run("import", "--n", "300")
    assert row["system"] == "schedkit-sqlite" and row["n"] == 300
    assert isinstance(row["per_second"], int) and row["per_second"] > 0


@pytest.mark.timeout(150)
def test_api_probe_reports_every_console_page() -> None:
    rows = run("api", "--n", "300", "--runs", "2000", "--requests", "3")
    assert sorted({r["page"] for r in rows}) == [
        "audit",
        "calendars",
        "nodes",
        "overview",
        "run detail",
        "runs",
        "schedules",
        "task detail",
        "tasks",
        "workflows",
    ]
    # the overview's own requests (views/overview.js): its chart comes with /stats
    overview = sorted(r["request"].split("?")[0] for r in rows if r["page"] == "overview")
    assert overview == ["/nodes", "/ready", "/stats"]
    assert all(isinstance(r["p95_ms"], float) for r in rows)
