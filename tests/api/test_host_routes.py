"""A host app's own routes using the embedded scheduler (docs/api.md, "Your own routes,
and testing your app"), served by a real uvicorn per test: each runs the app's lifespan
in an event loop of its own, as each ``TestClient`` of an app's test suite does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from schedkit import Scheduler
from schedkit.api import get_scheduler, schedkit_error_handler
from schedkit.errors import SchedkitError
from schedkit.integrations.fastapi import scheduler_lifespan
from tests.api.server import LiveServer, fast_config
from tests.api.tasks import api_registry


def host_user() -> str:
    return "host-user"


def host_app(lifespan: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_exception_handler(SchedkitError, schedkit_error_handler)

    @app.post("/desk/{task_name}")
    async def start(
        task_name: str,
        kwargs: dict[str, Any],
        scheduler: Annotated[Scheduler, Depends(get_scheduler)],
    ) -> dict[str, str]:
        run = await scheduler.run_now(task_name, kwargs, wait=True, timeout=5)
        return {"status": run.status.value}

    return app


def test_host_routes_answer_schedkit_errors_as_problems(tmp_path: Path) -> None:
    """A first user's finding: a host route calling ``run_now`` with an invalid
    parameter answered a bare 500; with the handler, what the embedded routes answer."""
    app = host_app(
        scheduler_lifespan(
            fast_config(f"sqlite:///{tmp_path / 'host.db'}"),
            registry=api_registry(),
            user_dependency=host_user,
        )
    )
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/desk/echo", json={"count": 2}).json() == {"status": "success"}
        bad = client.post("/desk/echo", json={"count": "two"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(
            "application/problem+json"
        )
        assert bad.json()["field"] == "kwargs.count"
        # Where the field was sent, read off the host's route (its body here).
        assert bad.json()["errors"][0]["in"] == "body"
        unknown = client.post("/desk/ech", json={})
        assert unknown.status_code == 404 and unknown.json()["task_name"] == "ech"


def test_one_scheduler_serves_one_test_client_after_another(tmp_path: Path) -> None:
    """A module-level Scheduler given with ``scheduler=``, its lifespan run by one
    server after another (each test's ``TestClient`` in an app's suite): the second
    started no run (see tests/engine/test_nodes.py)."""
    scheduler = Scheduler(fast_config(f"sqlite:///{tmp_path / 'host.db'}"), registry=api_registry())
    app = host_app(scheduler_lifespan(scheduler=scheduler, user_dependency=host_user))
    for _ in range(2):
        with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
            assert client.post("/desk/echo", json={"count": 1}).json() == {"status": "success"}
