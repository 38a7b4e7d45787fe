"""Small helpers shared by the API tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    return body


def wait_run(
    client: httpx.Client, run_id: str, *, until: set[str] | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll ``GET /runs/{id}`` until its status is in ``until`` (default: finished)."""
    finished = {"success", "failed", "timeout", "cancelled", "lost", "skipped", "missed"}
    wanted = until or finished
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/runs/{run_id}").json()
        if run["status"] in wanted:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")
        time.sleep(0.05)
