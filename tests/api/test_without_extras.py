"""The API with only its own extra installed (``pip install 'schedkit[cli,api]'``, as
docs/cli.md says): no prometheus-client or apprise.

Run in a fresh interpreter whose path holds this venv's packages but those: building a
venv without them would cost a minute of pip per run.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import schedkit

#: The alerts extra's packages, by their names in site-packages (modules, dist-info);
#: OpenTelemetry's API stays: FastAPI itself depends on it.
ABSENT = ("prometheus_client", "apprise")

SCRIPT = textwrap.dedent(
    """
    import sys

    from fastapi.testclient import TestClient

    from schedkit.api import create_app

    app = create_app({"store_url": sys.argv[1], "entry_points": False}, auth="none")
    with TestClient(app) as client:
        ready = client.get("/api/v1/scheduler/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["alerts"] is None, ready.text
        status = client.get("/api/v1/scheduler/alerts/status")
        assert status.status_code == 503 and "Monitor" in status.json()["detail"], status.text
        assert client.get("/metrics").status_code == 404
        assert client.get("/api/v1/scheduler/tasks").status_code == 200
    assert "prometheus_client" not in sys.modules
    print("served")
    """
)


def test_the_api_serves_without_the_alerts_extra(tmp_path: Path) -> None:
    """A new user: ``pip install 'schedkit[cli,api]'`` then ``schedkit serve`` stopped
    with "unexpected ModuleNotFoundError: No module named 'prometheus_client'": the app
    imported the /metrics module, which needs the alerts extra, whenever it existed."""
    packages = tmp_path / "site-packages"
    packages.mkdir()
    for installed in site.getsitepackages():
        for entry in Path(installed).iterdir():
            if not entry.name.lower().startswith(ABSENT) and entry.suffix != ".pth":
                (packages / entry.name).symlink_to(entry)
    source = Path(schedkit.__file__).parent.parent
    url = f"sqlite:///{tmp_path / 'schedkit.db'}"
    done = subprocess.run(
        # -S: no site-packages of the venv; .pth files (the editable install) left out.
        [sys.executable, "-S", "-c", SCRIPT, url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{packages}"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("served")
