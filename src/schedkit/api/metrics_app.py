"""The listener of a node that serves no API: ``/metrics`` and the probes, nothing else.

``schedkit worker --metrics-port`` serves it. Run metrics are counted by the node that
executed the run, so without it Prometheus never saw the runs of ``schedkit worker``
nodes (which had no port, short of ``--api``: the whole API and console). The routes and
their rules are the API's own: ``GET /metrics`` needs a viewer token unless
``api.metrics_public``; ``/api/v1/scheduler/health`` and ``/ready`` are open (``/ready``
says more to a caller with a token). It needs prometheus-client (the alerts extra).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from schedkit.api.auth import token_authenticator
from schedkit.api.lifespan import scheduler_running
from schedkit.api.metrics import include_metrics
from schedkit.api.problems import install_problem_handlers
from schedkit.api.router import DEFAULT_PREFIX, create_router
from schedkit.service import Scheduler, __version__

__all__ = ["create_metrics_app"]


def create_metrics_app(scheduler: Scheduler, *, prefix: str = DEFAULT_PREFIX) -> FastAPI:
    """``/metrics`` and ``prefix``'s health and readiness routes of ``scheduler``
    (started with the app unless already started), authenticated with API tokens."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with scheduler_running(app, scheduler):
            yield

    app = FastAPI(
        title="schedkit node",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_problem_handlers(app)
    authenticate = token_authenticator()
    app.include_router(create_router(authenticate, prefix=prefix, open_only=True))
    include_metrics(app, authenticate, public=scheduler.config.api.metrics_public)
    return app
