"""The Server-Sent Events stream delivers run events to the console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.api.conftest import PREFIX, Api
from tests.api.helpers import problem


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse ``text/event-stream`` lines into {"event", "id", "data", "retry"} dicts."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = json.loads(value) if name == "data" else value


def test_stream_delivers_a_runs_events(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}
    with (
        httpx.Client(base_url=api.url + PREFIX, headers=headers, timeout=10) as client,
        client.stream("GET", "/events?task=echo&duration=10") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
        ready = next(events)
        assert ready["event"] == "ready" and ready["retry"] == "2000"
        api.operator.post("/tasks/nightly_report/execute")  # another task: filtered out
        run_id = api.operator.post("/tasks/echo/execute", json={"kwargs": {"count": 4}}).json()[
            "run_id"
        ]
        seen = []
        for event in events:
            seen.append(event)
            if event["event"] == "finished" and event["id"] == run_id:
                break
    assert all(e["data"]["run"]["task_name"] == "echo" for e in seen)
    kinds = [e["event"] for e in seen if e["id"] == run_id]
    assert "started" in kinds and kinds[-1] == "finished"
    finished = seen[-1]["data"]
    assert finished["kind"] == "finished" and finished["run"]["status"] == "success"
    # Events carry the run's summary; the run itself has the kwargs and the result.
    assert "result" not in finished["run"] and "kwargs" not in finished["run"]
    run = api.viewer.get(f"/runs/{run_id}").json()
    assert run["result"]["data"] == {"count": 4, "label": "x"}


def test_stream_needs_a_viewer_token_and_ends_after_its_duration(api: Api) -> None:
    problem(httpx.get(api.url + PREFIX + "/events"), 401)
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}
    response = httpx.get(api.url + PREFIX + "/events?duration=0.2", headers=headers, timeout=5)
    assert response.status_code == 200
    [ready] = list(sse_events(iter(response.text.splitlines())))
    assert ready["event"] == "ready" and "node_id" in ready["data"]
