"""The Celery benchmark cannot rot: ``python -m bench.celery_runs --smoke`` runs real
workers at toy size and writes its report (no figure is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_VAR, service_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.external_service
@pytest.mark.timeout(120)
def test_celery_smoke_run_reports_runs_per_second(tmp_path: Path) -> None:
    redis = service_url(REDIS_VAR)
    out = tmp_path / "celery.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.celery_runs", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, REDIS_VAR: redis},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["cpus"] == os.cpu_count() and report["store"] == "sqlite"
    [case] = report["cases"]
    assert case["runs"] == 10 and case["runs_per_s"] > 0
    assert "| worker processes |" in proc.stdout
