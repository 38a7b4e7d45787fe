"""Findings 5 and 6: a revoked token loses its open event stream within seconds, and only
admins read the token audit events."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import PREFIX, Api, open_api
from tests.security.tasks import security_registry


@pytest.fixture
def quick_recheck(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(
        f"sqlite:///{tmp_path / 'stream.db'}",
        registry=security_registry(),
        api={"stream_recheck": 0.2},
    )


def test_a_revoked_tokens_event_stream_is_closed(quick_recheck: Api) -> None:
    api = quick_recheck
    secret = api.admin.post("/tokens", json={"name": "watcher", "role": "viewer"}).json()["secret"]
    ended: list[float] = []
    lines: list[str] = []

    def watch() -> None:
        with httpx.stream(
            "GET",
            api.url + PREFIX + "/events?duration=60",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=70,
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                lines.append(line)
        ended.append(time.monotonic())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    deadline = time.monotonic() + 10
    while "event: ready" not in lines and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "event: ready" in lines
    revoked_at = time.monotonic()
    assert api.admin.delete("/tokens/watcher").status_code == 204
    watcher.join(10)
    assert ended, "the stream of a revoked token stayed open"
    assert ended[0] - revoked_at < 3.0
    # The same secret cannot open a new one.
    again = httpx.get(api.url + PREFIX + "/events", headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401


def test_token_audit_events_are_for_admins_only(api: Api) -> None:
    api.admin.post("/tokens", json={"name": "audited-token", "role": "operator"})
    api.admin.delete("/tokens/audited-token")
    api.operator.post("/tasks/anything/execute", json={})
    for client in (api.viewer, api.operator):
        assert client.get("/audit", params={"action": "token.create"}).json() == {
            "items": [],
            "total": 0,
            "limit": 50,
            "offset": 0,
        }
        assert client.get("/audit", params={"target": "token:audited-token"}).json()["total"] == 0
        page = client.get("/audit", params={"limit": 500}).json()
        assert page["total"] == len(page["items"]) >= 1
        assert not [e for e in page["items"] if e["action"].startswith("token.")]
        # Pages skip token events consistently.
        first = client.get("/audit", params={"limit": 1}).json()["items"]
        assert first == page["items"][:1]
    admin = api.admin.get("/audit", params={"action": "token.create"}).json()
    assert "audited-token" in {e["target"].removeprefix("token:") for e in admin["items"]}
    everything = api.admin.get("/audit", params={"limit": 500}).json()
    assert any(e["action"] == "token.revoke" for e in everything["items"])
