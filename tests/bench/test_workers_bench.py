"""``python -m bench.workers`` cannot rot: a toy run on PostgreSQL writes its report.
No timing is asserted (the figures of a toy run mean nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.conftest import run_bench
from tests.cli.conftest import subprocess_env
from tests.conftest import service_url


@pytest.mark.external_service
def test_workers_benchmark_reports_runs_per_second(tmp_path: Path) -> None:
    url = service_url("SCHEDKIT_TEST_POSTGRES_URL")
    out = tmp_path / "workers.json"
    args = ["--runs", "60", "--workers", "1,2", "--postgres-url", url, "--json", str(out)]
    run_bench("bench.workers", *args, env=subprocess_env(), timeout=240)
    report = json.loads(out.read_text())
    assert report["cpu_count"] >= 1
    assert [c["workers"] for c in report["cases"]] == [1, 2]
    for case in report["cases"]:
        assert case["not_success"] == 0 and case["exit_codes"] == [0] * case["workers"]
        assert case["runs_per_second"] > 0
