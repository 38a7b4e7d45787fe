"""The Celery benchmark cannot rot: ``python -m bench.celery_runs --smoke`` runs real
workers at toy size and writes its report (no figure is asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.bench.conftest import run_bench
from tests.conftest import REDIS_VAR, service_url


@pytest.mark.slow
@pytest.mark.external_service
@pytest.mark.timeout(120)
def test_celery_smoke_run_reports_runs_per_second(tmp_path: Path) -> None:
    redis = service_url(REDIS_VAR)
    out = tmp_path / "celery.json"
    env = {**os.environ, REDIS_VAR: redis}
    proc = run_bench("bench.celery_runs", "--smoke", "--json", str(out), env=env, timeout=110)
    report = json.loads(out.read_text())
    assert report["cpus"] == os.cpu_count() and report["store"] == "sqlite"
    [case] = report["cases"]
    assert case["runs"] == 10 and case["runs_per_s"] > 0
    assert "| worker processes |" in proc.stdout
