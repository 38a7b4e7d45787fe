"""Who may call what: token roles (standalone), the host's user dependency (embedded),
and the opt-in no-auth mode."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException

from schedkit.api import create_app
from schedkit.integrations.fastapi import mount_scheduler, scheduler_lifespan
from tests.api.conftest import PREFIX, Api
from tests.api.helpers import problem
from tests.api.server import LiveServer, fast_config
from tests.api.tasks import api_registry

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = [VIEWER, OPERATOR, ADMIN]

#: Every route, the least role it needs (None: open) and a harmless concrete call.
ROUTES: list[tuple[str, str, str | None, str, Any]] = [
    ("GET", "/health", None, "/health", None),
    ("GET", "/ready", None, "/ready", None),
    ("GET", "/tasks", VIEWER, "/tasks", None),
    ("GET", "/tasks/{task_name}", VIEWER, "/tasks/nope", None),
    ("POST", "/tasks/{task_name}/execute", OPERATOR, "/tasks/nope/execute", {}),
    ("POST", "/tasks/{task_name}/schedule", ADMIN, "/tasks/nope/schedule", "0 2 * * *"),
    ("DELETE", "/tasks/{task_name}/schedule", ADMIN, "/tasks/nope/schedule", None),
    ("POST", "/tasks/{task_name}/pause", OPERATOR, "/tasks/nope/pause", {}),
    ("POST", "/tasks/{task_name}/resume", OPERATOR, "/tasks/nope/resume", None),
    ("GET", "/tasks/{task_name}/history", VIEWER, "/tasks/nope/history", None),
    ("GET", "/schedules", VIEWER, "/schedules", None),
    ("POST", "/schedules", ADMIN, "/schedules", [{"task": "nope", "schedule": "0 2 * * *"}]),
    ("GET", "/schedules/{schedule_id}", VIEWER, "/schedules/nope", None),
    ("DELETE", "/schedules/{schedule_id}", ADMIN, "/schedules/nope", None),
    ("POST", "/schedules/preview", VIEWER, "/schedules/preview", "0 2 * * *"),
    (
        "POST",
        "/schedules/{schedule_id}/backfill",
        OPERATOR,
        "/schedules/nope/backfill",
        {"from": "2026-11-01", "to": "2026-11-02"},
    ),
    ("GET", "/schedules/{schedule_id}/backfill", VIEWER, "/schedules/nope/backfill", None),
    (
        "POST",
        "/schedules/{schedule_id}/backfill/cancel",
        OPERATOR,
        "/schedules/nope/backfill/cancel",
        None,
    ),
    ("GET", "/runs", VIEWER, "/runs", None),
    ("GET", "/runs/{run_id}", VIEWER, "/runs/nope", None),
    ("GET", "/runs/{run_id}/logs", VIEWER, "/runs/nope/logs", None),
    ("GET", "/runs/{run_id}/files/{name}", VIEWER, "/runs/nope/files/report.csv", None),
    ("POST", "/runs/{run_id}/cancel", OPERATOR, "/runs/nope/cancel", None),
    ("POST", "/runs/{run_id}/retry", OPERATOR, "/runs/nope/retry", None),
    ("GET", "/stats", VIEWER, "/stats", None),
    ("GET", "/events", VIEWER, "/events?duration=0.05", None),
    ("GET", "/nodes", VIEWER, "/nodes", None),
    ("POST", "/nodes/{node_id}/drain", OPERATOR, "/nodes/nope/drain", None),
    ("POST", "/nodes/{node_id}/undrain", OPERATOR, "/nodes/nope/undrain", None),
    ("GET", "/alerts/status", VIEWER, "/alerts/status", None),
    ("POST", "/alerts/test", OPERATOR, "/alerts/test", None),
    ("GET", "/audit", VIEWER, "/audit", None),
    ("GET", "/me", VIEWER, "/me", None),
    ("GET", "/tokens", ADMIN, "/tokens", None),
    ("POST", "/tokens", ADMIN, "/tokens", {"name": "x", "role": "nobody"}),
    ("DELETE", "/tokens/{token_id}", ADMIN, "/tokens/nope", None),
    ("GET", "/calendars", VIEWER, "/calendars", None),
    ("GET", "/calendar-warnings", VIEWER, "/calendar-warnings", None),
    ("GET", "/calendar-notices/{year}", VIEWER, "/calendar-notices/2027", None),
    ("PUT", "/calendar-notices/{year}", ADMIN, "/calendar-notices/2027", {"text": "bad"}),
    ("GET", "/calendars/{name}", VIEWER, "/calendars/nope", None),
    ("PUT", "/calendars/{name}", ADMIN, "/calendars/nope", {"base": "?", "expected_version": 0}),
    ("DELETE", "/calendars/{name}", ADMIN, "/calendars/nope?expected_version=1", None),
    ("POST", "/calendars/{name}/overrides", ADMIN, "/calendars/nope/overrides", {"overrides": []}),
    (
        "DELETE",
        "/calendars/{name}/overrides/{day}",
        ADMIN,
        "/calendars/nope/overrides/2027-01-01",
        None,
    ),
    (
        "PUT",
        "/calendars/{name}/years/{year}/confirmed",
        ADMIN,
        "/calendars/nope/years/2027/confirmed",
        {},
    ),
    ("GET", "/calendars/{name}/years/{year}", VIEWER, "/calendars/nope/years/2027", None),
    (
        "POST",
        "/calendars/{name}/import",
        ADMIN,
        "/calendars/nope/import",
        {"text": "", "format": "csv"},
    ),
    ("GET", "/calendars/{name}/export", VIEWER, "/calendars/nope/export?format=csv", None),
    ("GET", "/workflows", VIEWER, "/workflows", None),
    ("GET", "/workflows/{name}", VIEWER, "/workflows/nope", None),
    ("POST", "/workflows/{name}/start", OPERATOR, "/workflows/nope/start", {}),
    ("GET", "/workflow-runs", VIEWER, "/workflow-runs", None),
    ("GET", "/workflow-runs/{run_id}", VIEWER, "/workflow-runs/nope", None),
    (
        "POST",
        "/workflow-runs/{run_id}/steps/{step}/retry",
        OPERATOR,
        "/workflow-runs/nope/steps/a/retry",
        None,
    ),
]


def _call(client: httpx.Client, method: str, url: str, body: Any) -> httpx.Response:
    if body is None:
        return client.request(method, url, headers={"X-Requested-With": "tests"})
    return client.request(method, url, json=body)


def test_the_table_covers_every_route(api: Api) -> None:
    document = httpx.get(api.url + "/openapi.json").json()
    served = {
        (method.upper(), path.removeprefix(PREFIX))
        for path, operations in document["paths"].items()
        if path.startswith(PREFIX)
        for method in operations
    }
    assert served == {(method, path) for method, path, *_ in ROUTES}


@pytest.mark.parametrize(
    ("method", "template", "least", "url", "body"), ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES]
)
def test_roles(
    api: Api, method: str, template: str, least: str | None, url: str, body: Any
) -> None:
    anonymous = _call(api.anon, method, url, body)
    if least is None:
        assert anonymous.status_code == 200
        return
    body_401 = problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert body_401["type"].endswith(":unauthorized")
    with httpx.Client(
        base_url=api.url + PREFIX, headers={"Authorization": "Bearer skt_not-a-real-token"}
    ) as forged:
        problem(_call(forged, method, url, body), 401)
    for role in ROLES:
        response = _call(api.clients[role], method, url, body)
        if ROLES.index(role) < ROLES.index(least):
            refused = problem(response, 403)
            assert refused["required_role"] == least and refused["role"] == role
        else:
            # Admitted: whatever the answer (404 for the made-up names), not an auth one.
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500


def test_me_names_the_caller_and_its_role(api: Api) -> None:
    """The console offers only what the caller's role may do: it asks /me."""
    for role in ROLES:
        assert api.clients[role].get("/me").json() == {"name": f"{role}-bot", "role": role}


def test_a_revoked_role_token_is_refused(api: Api) -> None:
    issued = api.admin.post("/tokens", json={"name": "temp", "role": "viewer"}).json()
    headers = {"Authorization": f"Bearer {issued['secret']}"}
    assert httpx.get(api.url + PREFIX + "/tasks", headers=headers).status_code == 200
    api.admin.delete("/tokens/temp")
    problem(httpx.get(api.url + PREFIX + "/tasks", headers=headers), 401)


# -- embedded in a host app ------------------------------------------------------------


class User:
    def __init__(self, username: str) -> None:
        self.username = username


async def get_current_active_user(x_user: str | None = Header(default=None)) -> User:
    """The host's dependency (the design document's ``get_current_active_user``)."""
    if not x_user:
        raise HTTPException(status_code=401, detail="not logged in")
    return User(x_user)


def role_of(user: User) -> str:
    return {"alice": "admin", "olga": "operator"}.get(user.username, "viewer")


def test_embedded_router_uses_the_host_user_dependency(tmp_path: Path) -> None:
    host = FastAPI(
        lifespan=scheduler_lifespan(
            fast_config(f"sqlite:///{tmp_path / 'host.db'}"),
            registry=api_registry(),
            user_dependency=get_current_active_user,
            role_of=role_of,
        )
    )

    @host.get("/hello")
    def hello(n: int) -> dict[str, int]:
        return {"n": n}

    with LiveServer(host) as server, httpx.Client(base_url=server.url) as client:
        base = PREFIX
        # Every schedkit route runs the host's dependency first.
        for method, _, least, url, body in ROUTES:
            if least is None:
                continue
            response = _call(client, method, base + url, body)
            assert problem(response, 401)["detail"] == "not logged in", url
        bob = {"X-User": "bob"}
        assert client.get(base + "/tasks", headers=bob).status_code == 200
        problem(client.post(base + "/tasks/echo/execute", headers=bob, json={}), 403)
        olga = {"X-User": "olga"}
        run = client.post(
            base + "/tasks/echo/execute?wait=true", headers=olga, json={"kwargs": {"count": 1}}
        )
        assert run.status_code == 200 and run.json()["run"]["created_by"] == "olga"
        problem(client.post(base + "/tasks/echo/schedule", headers=olga, json="0 1 * * *"), 403)
        assert client.get(base + "/me", headers=olga).json() == {"name": "olga", "role": "operator"}
        alice = {"X-User": "alice"}
        assert (
            client.post(
                base + "/tasks/nightly_report/schedule", headers=alice, json="0 1 * * *"
            ).status_code
            == 200
        )
        audit = client.get(base + "/audit?actor=alice", headers=alice).json()
        assert [e["action"] for e in audit["items"]] == ["schedule.put"]
        # The host's own routes keep the host's error format.
        assert client.get("/hello?n=x").json()["detail"][0]["loc"] == ["query", "n"]
        assert client.get("/hello?n=2").json() == {"n": 2}
        assert "/openapi.json" and client.get("/docs").status_code == 200
    assert not hasattr(host.state, "scheduler")  # stopped and removed on shutdown


def test_mount_scheduler_wraps_the_host_lifespan(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    @asynccontextmanager
    async def host_lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen["started"] = app.state.scheduler.started  # the scheduler runs first
        yield
        seen["still_running_at_host_shutdown"] = app.state.scheduler.started

    host = FastAPI(lifespan=host_lifespan)
    mount_scheduler(
        host,
        fast_config(f"sqlite:///{tmp_path / 'host.db'}"),
        registry=api_registry(),
        user_dependency=get_current_active_user,
    )
    with LiveServer(host) as server:
        response = httpx.get(server.url + PREFIX + "/tasks/echo", headers={"X-User": "a"})
        assert response.json()["name"] == "echo"
    assert seen == {"started": True, "still_running_at_host_shutdown": True}


def test_embedding_without_a_user_dependency_is_refused() -> None:
    with pytest.raises(ValueError, match="user_dependency"):
        scheduler_lifespan({"store_url": "sqlite:///unused.db"})


def test_embedding_without_role_of_says_every_host_user_is_an_admin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A security audit: without ``role_of`` every host user is an admin and may mint
    API tokens that outlive their session; nothing said so. With it, nothing is said."""
    with caplog.at_level(logging.WARNING, logger="schedkit.api.auth"):
        scheduler_lifespan(
            {"store_url": "sqlite:///unused.db"}, user_dependency=get_current_active_user
        )
    [warning] = [r for r in caplog.records if "role_of" in r.getMessage()]
    assert "every user the host app authenticates is a schedkit admin" in warning.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="schedkit.api.auth"):
        scheduler_lifespan(
            {"store_url": "sqlite:///unused.db"},
            user_dependency=get_current_active_user,
            role_of=role_of,
        )
    assert not [r for r in caplog.records if "role_of" in r.getMessage()]


# -- no auth (local development) --------------------------------------------------------


def test_auth_none_admits_everyone_as_admin_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="schedkit.api.auth"):
        app = create_app(
            fast_config(f"sqlite:///{tmp_path / 'dev.db'}"), registry=api_registry(), auth="none"
        )
    assert "DISABLED" in caplog.text
    with LiveServer(app) as server, httpx.Client(base_url=server.url + PREFIX) as client:
        assert client.post("/tasks/cleanup/schedule", json="0 4 * * *").status_code == 200
        assert client.get("/audit?action=schedule.put").json()["items"][0]["actor"] == "anonymous"


def test_token_auth_is_the_default() -> None:
    app = create_app({"store_url": "sqlite:///unused.db"})
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes == {
        "ApiToken": {
            "type": "http",
            "description": schemes["ApiToken"]["description"],
            "scheme": "bearer",
        }
    }
