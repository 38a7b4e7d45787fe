"""The standalone management app (``schedkit serve``): API-token auth, ``/docs``, problems.

``create_app(config_or_scheduler)`` builds a FastAPI app whose lifespan starts the
scheduler (or runs a given one), mounts the API under ``/api/v1/scheduler`` guarded by
built-in API tokens, and adds the optional parts that are installed (``/metrics`` and the
web console) in the one place marked below.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI

from schedkit.api.auth import (
    Authenticator,
    anonymous_authenticator,
    token_authenticator,
)
from schedkit.api.docs import add_docs
from schedkit.api.hosts import LoopbackHostOnly
from schedkit.api.lifespan import ConfigInput, include_scheduler_router, scheduler_running
from schedkit.api.problems import install_problem_handlers
from schedkit.api.router import DEFAULT_PREFIX
from schedkit.config_sections import ApiConfig
from schedkit.registry import TaskRegistry
from schedkit.service import Extension, Scheduler, __version__, load_config

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

API_DESCRIPTION = """\
Manage schedkit tasks, schedules and runs.

Authenticate with `Authorization: Bearer <token>`; create tokens with
`schedkit token create --name NAME --role viewer|operator|admin`. Roles: **viewer** reads,
**operator** also runs, cancels, pauses and resumes, **admin** also changes schedules and
manages tokens. Every error is an RFC 9457 problem (`application/problem+json`).
"""


def create_app(
    config_or_scheduler: Scheduler | ConfigInput = None,
    *,
    registry: TaskRegistry | None = None,
    extensions: Iterable[Extension] | None = None,
    auth: Literal["token", "none"] = "token",
    authenticate: Authenticator | None = None,
    prefix: str = DEFAULT_PREFIX,
    title: str = "schedkit",
) -> FastAPI:
    """The standalone app. ``config_or_scheduler``: a Scheduler (started with the app
    unless already started), or a config for a new one (see :class:`schedkit.Scheduler`).

    ``auth="token"`` (default) requires an API token on every route but health/readiness;
    ``auth="none"`` admits everyone as admin, for local development only (logged loudly),
    and answers only requests whose ``Host`` is a loopback name (400 otherwise: DNS
    rebinding, see :mod:`schedkit.api.hosts`).
    ``authenticate`` replaces both with your own authenticator. ``extensions`` go to a
    scheduler made here (every node also gets a Monitor when its extra is installed).
    The config's ``api`` section decides whether ``/metrics`` needs a token and whether
    ``/docs`` is served.
    """
    if isinstance(config_or_scheduler, Scheduler):
        given: Scheduler | None = config_or_scheduler
        config: ConfigInput = None
        settings = config_or_scheduler.config.api
    else:
        given, config = None, config_or_scheduler
        # Loaded once more by the lifespan's scheduler; here for what the app serves.
        settings = load_config(config).api
    token_sign_in = auth == "token" and authenticate is None
    custom_auth = authenticate is not None
    if authenticate is None:
        if auth == "token":
            authenticate = token_authenticator()
        elif auth == "none":
            authenticate = anonymous_authenticator()
        else:
            raise ValueError(f"auth must be 'token' or 'none', not {auth!r}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        parts = list(extensions or ())
        async with scheduler_running(
            app, given, config=config, registry=registry, extensions=parts
        ):
            yield

    app = FastAPI(
        title=title,
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    if auth == "none" and not custom_auth:
        # Everyone is admin: only requests addressed to loopback (DNS rebinding).
        app.add_middleware(LoopbackHostOnly)
    install_problem_handlers(app)
    include_scheduler_router(app, authenticate, prefix=prefix)
    if settings.docs:
        add_docs(app)
    _add_optional_parts(app, prefix, authenticate, settings, token_sign_in=token_sign_in)
    return app


# -- optional parts: each is used when its module is installed. Keep them all here. ----


def _add_optional_parts(
    app: FastAPI,
    prefix: str,
    authenticate: Authenticator,
    settings: ApiConfig,
    *,
    token_sign_in: bool,
) -> None:
    # Prometheus metrics: schedkit.api.metrics exposes `router` with GET /metrics (app
    # root), for viewers unless configured public (it names tasks, channels, hosts).
    # It needs the alerts extra (prometheus-client); the API does not.
    if importlib.util.find_spec("prometheus_client") is not None:
        metrics = importlib.import_module("schedkit.api.metrics")
        metrics.include_metrics(app, authenticate, public=settings.metrics_public)
    # Web console: schedkit.console exposes `mount_console(app, *, api_prefix, sign_in)`,
    # mounted last because it serves "/" (API routes and /docs must match first). With
    # API tokens, the console signs in with a token at once (no probe answered 401).
    if importlib.util.find_spec("schedkit.console") is not None:
        console = importlib.import_module("schedkit.console")
        mount = getattr(console, "mount_console", None)
        if mount is None:
            logger.warning("schedkit.console has no mount_console(app, *, api_prefix); not mounted")
        else:
            mount(app, api_prefix=prefix, sign_in="token" if token_sign_in else "auto")
