"""The API with only its own extra installed (``pip install 'schedkit[cli,api]'``, as
docs/cli.md says): no prometheus-client or apprise."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.without_packages import run_without

#: The alerts extra's packages, by their names in site-packages (modules, dist-info);
#: OpenTelemetry's API stays: FastAPI itself depends on it.
ABSENT = ("prometheus_client", "apprise")

SCRIPT = textwrap.dedent(
    """
    import sys

    from fastapi.testclient import TestClient

    from schedkit.api import create_app

    app = create_app({"store_url": sys.argv[1], "entry_points": False}, auth="none")
    with TestClient(app, base_url="http://localhost") as client:
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
    url = f"sqlite:///{tmp_path / 'schedkit.db'}"
    done = run_without(ABSENT, tmp_path, ["-c", SCRIPT, url])
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
    (tmp_path / "check").mkdir()
    (tmp_path / "serve").mkdir()
    command = ["-m", "schedkit", "-c", str(config)]
    checked = run_without(ABSENT, tmp_path / "check", [*command, "check"])
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "alerts extra is not installed" in checked.stdout + checked.stderr
    assert "unexpected" not in checked.stdout + checked.stderr
    served = run_without(ABSENT, tmp_path / "serve", [*command, "serve", "--port", "0"])
    assert served.returncode == 1, served.stdout + served.stderr
    assert "pip install 'schedkit[alerts]'" in served.stderr
