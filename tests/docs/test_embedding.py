"""docs/api.md "Embedding in a host FastAPI app": each way to embed, followed literally as
a continuation of the section's ``main.py`` (and of the snippets before it), serves
main.py's task and its roles.

The ``mount_scheduler`` and "compose it yourself" snippets once left out
``registry=registry``: the app ran, silently, with no task (``GET /tasks`` → ``[]``). The
walk-through test runs ``main.py`` alone under ``uvicorn --workers 2``; this runs all three
ways in this process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.server import LiveServer
from tests.docs.snippets import REPO, blocks

API = "/api/v1/scheduler"  # main.py's default prefix
ALICE = {"Authorization": "Bearer alice-token"}
BOB = {"Authorization": "Bearer bob-token"}


def _python_blocks() -> list[str]:
    return [b.code for b in blocks(REPO / "docs" / "api.md") if b.lang == "python"]


def _main() -> str:
    (main,) = [code for code in _python_blocks() if code.startswith("# main.py")]
    return main


def _continuations() -> list[str]:
    return [
        code
        for code in _python_blocks()
        if "mount_scheduler(" in code or "scheduler_running(" in code
    ]


def test_the_section_has_the_two_continuations() -> None:
    assert len(_continuations()) == 2


@pytest.mark.parametrize("count", [0, 1, 2], ids=["main.py", "mount_scheduler", "compose"])
def test_each_way_to_embed_serves_the_task_of_main_py(
    count: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``count``: how many of the continuations run after main.py, in order (a snippet
    uses the imports of the ones before it); the last one made ``app``."""
    for name in list(os.environ):
        if name.startswith("SCHEDKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # main.py's store is ./app.db
    namespace: dict[str, Any] = {"__name__": "main"}
    for code in [_main(), *_continuations()[:count]]:
        exec(code, namespace)
    app: FastAPI = namespace["app"]
    with LiveServer(app) as server, httpx.Client(base_url=server.url + API) as client:
        answer = client.get("/tasks", headers=ALICE)
        assert answer.status_code == 200, answer.text
        assert [t["name"] for t in answer.json()] == ["nightly_cleanup"]
        # main.py's role_of reached the API: a user who is not a superuser is a viewer.
        namespace["USERS"]["bob-token"] = {"username": "bob", "is_superuser": False}
        assert client.get("/tokens", headers=ALICE).status_code == 200
        assert client.get("/tokens", headers=BOB).status_code == 403


def test_the_metrics_snippet_serves_metrics_behind_the_host_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: ``GET /metrics`` was 404 on an embedded app (only ``create_app`` adds
    it) and the docs did not say how to include it."""
    for name in list(os.environ):
        if name.startswith("SCHEDKIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (snippet,) = [code for code in _python_blocks() if "metrics_router" in code]
    namespace: dict[str, Any] = {"__name__": "main"}
    exec(_main(), namespace)
    with LiveServer(namespace["app"]) as server:
        assert httpx.get(server.url + "/metrics", headers=ALICE).status_code == 404
    exec(snippet, namespace)
    with LiveServer(namespace["app"]) as server, httpx.Client(base_url=server.url) as client:
        served = client.get("/metrics", headers=ALICE)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"].startswith("text/plain")
        assert "schedkit_node_running_runs" in served.text
        assert client.get("/metrics").status_code == 401  # main.py's login guards it
