"""Findings 8 and 9: /metrics needs a token unless configured public, ``--auth none``
binds to loopback only and cannot mint tokens, and the OpenAPI document lists the
statuses routes answer."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from schedkit.api import create_app
from schedkit.api.problems import problem_for
from schedkit.errors import StoreError
from schedkit.integrations.fastapi import mount_scheduler
from schedkit.store import create_store
from tests.api.conftest import PREFIX, Api, open_api
from tests.api.helpers import problem
from tests.api.server import LiveServer, fast_config
from tests.security.tasks import security_registry


def test_metrics_need_a_token_unless_public(api: Api, tmp_path: Path) -> None:
    problem(httpx.get(api.url + "/metrics"), 401)
    scraped = httpx.get(api.url + "/metrics", headers=api.viewer.headers)
    assert scraped.status_code == 200 and "schedkit_" in scraped.text
    public = open_api(
        f"sqlite:///{tmp_path / 'public.db'}",
        registry=security_registry(),
        api={"metrics_public": True},
    )
    for server in public:
        assert httpx.get(server.url + "/metrics").status_code == 200


def test_an_unauthenticated_scrape_is_a_plain_401_not_a_logged_error(api: Api) -> None:
    """Hole (an audit): the 401 of /metrics (a router-level guard) reached Starlette's
    catch-all handler, which answers and re-raises, so uvicorn logged "Exception in ASGI
    application" with a 60-line traceback at every scrape of an unconfigured scraper."""
    seen: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Catch(logging.ERROR)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        problem(httpx.get(api.url + "/metrics"), 401)
        problem(httpx.get(api.url + "/metrics", headers={"Authorization": "Bearer nope"}), 401)
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen] == []


def test_auth_none_refuses_an_address_others_can_reach(tmp_path: Path) -> None:
    env = {**os.environ, "SCHEDKIT_STORE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "schedkit",
                "serve",
                "--auth",
                "none",
                "--host",
                "0.0.0.0",
                "--port",
                "0",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("schedkit serve --auth none served on 0.0.0.0") from exc
    assert done.returncode != 0
    assert "loopback" in done.stderr + done.stdout


def test_auth_none_cannot_mint_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'anon.db'}"
    app = create_app(fast_config(url), registry=security_registry(), auth="none")
    with LiveServer(app) as server:
        made = httpx.post(
            server.url + PREFIX + "/tokens", json={"name": "backdoor", "role": "admin"}
        )
        assert "--auth none" in problem(made, 403)["detail"]

    async def tokens() -> int:
        store = create_store(url)
        await store.open()
        try:
            return len(await store.list_tokens())
        finally:
            await store.close()

    assert asyncio.run(tokens()) == 0


def test_pausing_a_task_without_schedules_is_a_documented_409(api: Api) -> None:
    problem(api.operator.post("/tasks/anything/pause", json={}), 409)
    document = httpx.get(api.url + "/openapi.json").json()
    pause = document["paths"][PREFIX + "/tasks/{task_name}/pause"]["post"]
    assert "409" in pause["responses"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "delete") and path.startswith(PREFIX):
                assert {"413", "415"} <= set(operation["responses"]), (method, path)


def test_ready_tells_anonymous_callers_only_whether_the_node_is_ready(api: Api) -> None:
    """Audit finding: the open /ready named the host (node_id is host:pid), the calendars
    and the alert health. Anonymous callers (load balancers) get the status only."""
    anon = api.anon.get("/ready")
    assert anon.status_code == 200, anon.text
    assert anon.json() == {"status": "ready", "store": "ok"}
    wrong = api.anon.get("/ready", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 200 and wrong.json() == {"status": "ready", "store": "ok"}
    viewer = api.viewer.get("/ready").json()
    assert viewer["status"] == "ready" and viewer["node_id"] and viewer["scheduler"]
    assert "calendar_warnings" in viewer and "alerts" in viewer


def test_ready_embedded_gives_details_to_the_host_s_users_only(tmp_path: Path) -> None:
    def cookie_user(request: Request) -> dict[str, str]:
        if request.cookies.get("session") != "alice-session":
            raise HTTPException(401, "sign in")  # as host dependencies often do
        return {"username": "alice"}

    host = FastAPI()
    mount_scheduler(
        host,
        fast_config(f"sqlite:///{tmp_path / 'host.db'}"),
        registry=security_registry(),
        user_dependency=cookie_user,
    )
    with LiveServer(host) as server:
        anon = httpx.get(server.url + PREFIX + "/ready")
        assert anon.status_code == 200 and anon.json() == {"status": "ready", "store": "ok"}
        alice = httpx.get(server.url + PREFIX + "/ready", cookies={"session": "alice-session"})
        assert alice.status_code == 200 and alice.json()["node_id"]


def test_a_store_failure_answers_503_without_naming_the_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Left out last round (an attack): the 503 of a store failure named the store's
    URL — user, host, port and database, the password masked — to any token holder,
    viewers included. The answer now gives a reference; the node's log has the cause."""
    url = "postgresql://trader:hunter2@127.0.0.1:1/settlement_prod"
    with pytest.raises(StoreError) as raised:
        asyncio.run(create_store(url).open())
    assert "settlement_prod" in str(raised.value)  # what the node's log must keep
    with caplog.at_level(logging.WARNING, logger="schedkit.api.problems"):
        response = problem_for(raised.value)
    assert response is not None and response.status_code == 503
    body = json.loads(bytes(response.body))
    assert body["type"] == "urn:schedkit:problem:store-unavailable"
    assert response.headers["Retry-After"] == "5"
    for secret in ("trader", "hunter2", "127.0.0.1", "settlement_prod", "postgresql"):
        assert secret not in body["detail"], body
    ref = body["ref"]
    assert f"(ref {ref})" in body["detail"]
    [logged] = [r.getMessage() for r in caplog.records if ref in r.getMessage()]
    assert "settlement_prod" in logged and "hunter2" not in logged
