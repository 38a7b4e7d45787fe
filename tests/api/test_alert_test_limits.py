"""``POST /alerts/test`` limited, audited, and on threads of its own.

A security audit: 40 tests in 0.9 s delivered 40 messages (each past the channel's
throttle: an operator's token could page people and spend SMS at will), none was
audited, and 40 tests at a channel that never answers made a healthy channel's real
alert time out ("no answer within 21 s"). Real server, a real HTTP receiver, a port that
accepts connections and never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Api, open_api
from tests.monitoring.conftest import Receiver, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as box:
        yield box


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield int(server.getsockname()[1])


def serve(tmp_path: Path, channels: dict[str, str], **delivery: float) -> Iterator[Api]:
    alerts = {
        "enabled": True,
        "channels": [{"name": name, "url": url} for name, url in channels.items()],
        "language": "en",
        "delivery": {"retries": 0, **delivery},
    }
    yield from open_api(f"sqlite:///{tmp_path / 'schedkit.db'}", alerts=alerts)


def at_once(client: httpx.Client, n: int, channel: str) -> list[httpx.Response]:
    """``n`` test requests for ``channel`` sent together."""
    with ThreadPoolExecutor(n) as pool:
        return list(
            pool.map(lambda _: client.post("/alerts/test", params={"channel": channel}), range(n))
        )


def audited(api: Api) -> list[dict[str, object]]:
    page = api.viewer.get("/audit", params={"action": "alerts.test"}).json()
    items: list[dict[str, object]] = page["items"]
    return items


@pytest.fixture
def hooks(tmp_path: Path, receiver: Receiver) -> Iterator[Api]:
    hook = f"json://127.0.0.1:{receiver.port}"
    yield from serve(tmp_path, {"ops-hook": f"{hook}/hook", "other-hook": f"{hook}/other"})


def test_a_burst_of_tests_sends_one_message_and_refuses_the_rest(
    hooks: Api, receiver: Receiver
) -> None:
    answers = at_once(hooks.operator, 20, "ops-hook")
    assert sorted(a.status_code for a in answers) == [200] + [429] * 19
    assert len(receiver.on("/hook")) == 1
    for refused in (a for a in answers if a.status_code == 429):
        assert refused.headers["content-type"] == "application/problem+json"
        # Under way, or ended less than the 10 s of test_interval ago.
        assert 1 <= int(refused.headers["retry-after"]) <= 10 + 21
        problem = refused.json()
        assert problem["title"] == "Too many requests"
        assert problem["detail"].startswith(
            "channel 'ops-hook' takes one test alert at a time, 10 s apart "
            "(alerts.delivery.test_interval); retry in "
        )

    # Once sent, the same channel again is refused for the interval; another channel is
    # not held up; all of them at once is refused whole, naming the one too soon.
    again = hooks.operator.post("/alerts/test", params={"channel": "ops-hook"})
    assert again.status_code == 429 and 1 <= int(again.headers["retry-after"]) <= 10
    other = hooks.operator.post("/alerts/test", params={"channel": "other-hook"})
    assert other.status_code == 200 and other.json()["delivered"] is True
    every = hooks.admin.post("/alerts/test")
    assert every.status_code == 429
    assert every.json()["detail"].startswith(
        "channels 'ops-hook', 'other-hook' take one test alert at a time"
    )
    assert len(receiver.on("/hook")) == 1 and len(receiver.on("/other")) == 1

    # Each message sent is an audit event naming who asked; refusals sent nothing.
    node = hooks.viewer.get("/ready").json()["node_id"]
    events = audited(hooks)
    assert [(e["actor"], e["target"], e["detail"]) for e in events] == [
        ("operator-bot", "channel:other-hook", f"test alert from node {node}: delivered"),
        ("operator-bot", "channel:ops-hook", f"test alert from node {node}: delivered"),
    ]
    assert events[1]["after"] == {
        "node": node,
        "channel": "ops-hook",
        "scheme": "json",
        "delivered": True,
        "error": None,
    }


@pytest.fixture
def hanging(tmp_path: Path, receiver: Receiver, blackhole: int) -> Iterator[Api]:
    channels = {
        "ok": f"json://127.0.0.1:{receiver.port}/ok",
        "hang": f"json://127.0.0.1:{blackhole}/hook",
    }
    # A send is waited for 2 × 3 + 1 = 7 s.
    yield from serve(tmp_path, channels, timeout=3.0)


def test_a_flood_of_tests_at_a_hanging_channel_leaves_real_alerts_on_time(
    hanging: Api, receiver: Receiver
) -> None:
    with ThreadPoolExecutor(1) as flood:
        tests = flood.submit(at_once, hanging.operator, 40, "hang")
        time.sleep(0.5)
        started = time.monotonic()
        ran = hanging.operator.post("/tasks/boom/execute", json={})
        assert ran.status_code == 202, ran.text
        deadline = started + 10
        while not receiver.on("/ok") and time.monotonic() < deadline:
            time.sleep(0.02)
        took = time.monotonic() - started
        answers = tests.result()
    (alert,) = receiver.on("/ok")
    assert alert.json()["title"] == "[ERROR] Task failed: boom"
    # Its normal time: well within one attempt's timeout (before: "no answer within 7 s").
    assert took < 3, f"the real alert took {took:.1f} s"
    channels = hanging.viewer.get("/alerts/status").json()["channels"]
    (ok,) = (c for c in channels if c["name"] == "ok")
    assert (ok["sent"], ok["failed"], ok["healthy"]) == (1, 0, True)

    assert sorted(a.status_code for a in answers) == [200] + [429] * 39
    (sent,) = (a.json() for a in answers if a.status_code == 200)
    assert sent["delivered"] is False
    (event,) = audited(hanging)
    assert event["target"] == "channel:hang" and event["actor"] == "operator-bot"
    assert str(event["detail"]).startswith(f"test alert from node {sent['node']}: not delivered: ")
