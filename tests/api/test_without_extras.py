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


def without_alerts_extra(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -S args...`` with this venv's packages but the alerts extra's."""
    packages = tmp_path / "site-packages"
    if not packages.exists():
        packages.mkdir()
        for installed in site.getsitepackages():
            for entry in Path(installed).iterdir():
                if not entry.name.lower().startswith(ABSENT) and entry.suffix != ".pth":
                    (packages / entry.name).symlink_to(entry)
    source = Path(schedkit.__file__).parent.parent
    return subprocess.run(
        # -S: no site-packages of the venv; .pth files (the editable install) left out.
        [sys.executable, "-S", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{packages}"},
        cwd=tmp_path,
    )


def test_the_api_serves_without_the_alerts_extra(tmp_path: Path) -> None:
    """A new user: ``pip install 'schedkit[cli,api]'`` then ``schedkit serve`` stopped
    with "unexpected ModuleNotFoundError: No module named 'prometheus_client'": the app
    imported the /metrics module, which needs the alerts extra, whenever it existed."""
    url = f"sqlite:///{tmp_path / 'schedkit.db'}"
    done = without_alerts_extra(tmp_path, "-c", SCRIPT, url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("served")


def test_alerts_configured_without_the_extra_are_an_error(tmp_path: Path) -> None:
    """An audit: with ``[alerts] enabled = true`` and a channel but no alerts extra, a
    node started and sent no alert (an INFO line said so), and ``schedkit check``
    crashed on "No module named 'apprise'"."""
    config = tmp_path / "schedkit.toml"
    config.write_text(
        f'store_url = "sqlite:///{tmp_path / "s.db"}"\nentry_points = false\n'
        '[alerts]\nenabled = true\nchannels = ["json://127.0.0.1:9/hook"]\n'
    )
    checked = without_alerts_extra(tmp_path, "-m", "schedkit", "-c", str(config), "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "alerts extra is not installed" in checked.stdout + checked.stderr
    assert "unexpected" not in checked.stdout + checked.stderr
    served = without_alerts_extra(
        tmp_path, "-m", "schedkit", "-c", str(config), "serve", "--port", "0"
    )
    assert served.returncode == 1, served.stdout + served.stderr
    assert "pip install 'schedkit[alerts]'" in served.stderr
