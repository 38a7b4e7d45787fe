"""``POST /alerts/test``: a test message from the node answering to every alert channel
(or one), with each channel's outcome. Real server, a real HTTP receiver, a refused
port whose URL holds a secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, open_api
from tests.monitoring.conftest import Receiver, free_port, receiving

#: Stands for a channel's secret: no answer may show it.
SECRET = "hunter2-7f3a9c"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as box:
        yield box


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("alert-test") / "schedkit.db"
    alerts = {
        "enabled": True,
        "channels": [
            {"name": "ops-hook", "url": f"json://127.0.0.1:{receiver.port}/hook"},
            {"name": "dead", "url": f"json://ops:{SECRET}@127.0.0.1:{free_port()}/hook"},
        ],
        "language": "en",
        # The tests below test channels again at once: the limit has tests of its own
        # (test_alert_test_limits.py).
        "delivery": {
            "timeout": 1.0,
            "retries": 2,
            "retry_delay": 5,
            "unhealthy_after": 1,
            "test_interval": 0,
        },
    }
    yield from open_api(f"sqlite:///{path}", alerts=alerts)


def test_an_operator_tests_every_channel(alerting: Api, receiver: Receiver) -> None:
    answer = alerting.operator.post("/alerts/test")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    ready = alerting.viewer.get("/ready").json()
    assert body["node"] == ready["node_id"]
    assert body["at_local"].endswith("(Asia/Shanghai)") and body["delivered"] is False
    hook, dead = body["channels"]
    assert hook == {"channel": "ops-hook", "scheme": "json", "delivered": True, "error": None}
    assert dead["channel"] == "dead" and dead["delivered"] is False
    assert "Connection error" in dead["error"]
    assert SECRET not in answer.text
    (request,) = receiver.on("/hook")
    title = request.json()["title"]
    assert title == f"[TEST] schedkit test alert from node {body['node']} at {body['at_local']}"
    # One attempt (retry_delay is 5 s here), and nothing counted for the real alerts.
    assert answer.elapsed.total_seconds() < 4
    status = alerting.viewer.get("/alerts/status").json()
    assert status["healthy"] is True
    assert all(c["sent"] == c["failed"] == 0 for c in status["channels"])


def test_one_channel_by_name(alerting: Api, receiver: Receiver) -> None:
    before = len(receiver.on("/hook"))
    answer = alerting.admin.post("/alerts/test", params={"channel": "ops-hook"})
    assert answer.status_code == 200, answer.text
    assert [c["channel"] for c in answer.json()["channels"]] == ["ops-hook"]
    assert answer.json()["delivered"] is True
    assert len(receiver.on("/hook")) == before + 1


def test_a_channel_no_one_has_is_named_in_a_422(alerting: Api) -> None:
    answer = alerting.operator.post("/alerts/test", params={"channel": "ops-hok"})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["field"] == "channel"
    assert problem["errors"][0]["in"] == "query"
    assert problem["detail"] == (
        "channel: no alert channel named 'ops-hok'; did you mean 'ops-hook'? "
        "(channels: ops-hook, dead)"
    )


def test_a_viewer_may_not_send_one(alerting: Api, receiver: Receiver) -> None:
    before = len(receiver.on("/hook"))
    assert alerting.viewer.post("/alerts/test").status_code == 403
    assert alerting.anon.post("/alerts/test").status_code == 401
    assert len(receiver.on("/hook")) == before


def test_with_alerts_off_there_is_nothing_to_test(api: Api) -> None:
    answer = api.operator.post("/alerts/test")
    assert answer.status_code == 409
    assert answer.json()["detail"].startswith(
        "alerts are off (alerts.enabled is false): there is no channel to test"
    )
