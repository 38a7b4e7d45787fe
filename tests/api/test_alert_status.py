"""Alert delivery as the API reports it: a summary in the open ``/ready``, details for
viewers in ``/alerts/status``. Real server, real failing run, a real refused port."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, open_api


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("alerts") / "schedkit.db"
    alerts = {
        "enabled": True,
        # hunter2 stands for a channel's secret: the status must never show it.
        "channels": [f"json://user:hunter2@127.0.0.1:{_refused_port()}/"],
        "language": "en",
        "check_interval": 0.1,
        "delivery": {"timeout": 0.3, "retries": 0, "unhealthy_after": 1},
    }
    yield from open_api(f"sqlite:///{path}", alerts=alerts)


def test_a_channel_that_cannot_deliver_shows_in_ready_and_in_the_status(alerting: Api) -> None:
    """An audit: an operator could not tell from the API that alerts went nowhere; the
    docs said ``/ready``-style endpoints include the channels' health, and none did."""
    ready = alerting.viewer.get("/ready").json()
    assert ready["alerts"] == {"enabled": True, "healthy": True}
    failed = alerting.operator.post("/tasks/boom/execute?wait=true&timeout=10", json={})
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    deadline = time.monotonic() + 10
    while alerting.viewer.get("/ready").json()["alerts"]["healthy"]:
        assert time.monotonic() < deadline, "the channel was never reported unhealthy"
        time.sleep(0.05)
    response = alerting.viewer.get("/ready")
    assert response.status_code == 200, "an alert channel down does not make a node unready"
    assert alerting.anon.get("/ready").json() == {"status": "ready", "store": "ok"}
    status = alerting.viewer.get("/alerts/status")
    assert status.status_code == 200
    body = status.json()
    assert body["alerts_enabled"] is True and body["healthy"] is False
    (channel,) = body["channels"]
    assert channel["name"] == "json" and channel["scheme"] == "json"
    assert channel["healthy"] is False and channel["consecutive_failures"] >= 1
    assert channel["failed"] >= 1 and channel["last_error"]
    assert channel["last_failure_at"] is not None
    assert "hunter2" not in status.text
    assert "last_error" not in response.text, "/ready carries no error texts"


def test_without_alerts_ready_says_so(api: Api) -> None:
    assert api.viewer.get("/ready").json()["alerts"] == {"enabled": False, "healthy": True}
    body = api.viewer.get("/alerts/status").json()
    assert body["alerts_enabled"] is False and body["channels"] == []
