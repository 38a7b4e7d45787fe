"""Run schedkit inside a host FastAPI application.

The design document's ``startup``/``shutdown`` hooks, done the current FastAPI way::

    app = FastAPI(lifespan=scheduler_lifespan(SCHEDULER_CONFIG,
                                              user_dependency=get_current_active_user))

creates the :class:`~schedkit.Scheduler` when the app starts, puts it on
``app.state.scheduler``, mounts the management API under ``/api/v1/scheduler`` with the
host's own user dependency on every route, and stops the scheduler on shutdown. An app
that already has a lifespan uses :func:`mount_scheduler` (or :func:`scheduler_running`
inside its own lifespan). With several uvicorn/gunicorn workers, each worker is a node:
the store's lease decides which one fires schedules, so nothing fires twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from schedkit.api.auth import Authenticator, host_authenticator
from schedkit.api.lifespan import ConfigInput, include_scheduler_router, scheduler_running
from schedkit.api.router import DEFAULT_PREFIX
from schedkit.registry import TaskRegistry
from schedkit.service import Extension, Scheduler
from schedkit.tokens import Role

__all__ = ["DEFAULT_PREFIX", "mount_scheduler", "scheduler_lifespan", "scheduler_running"]

logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _authenticator(
    user_dependency: Callable[..., Any] | None,
    role_of: Callable[[Any], Role | str] | None,
    authenticate: Authenticator | None,
) -> Authenticator:
    if authenticate is not None:
        return authenticate
    if user_dependency is None:
        raise ValueError(
            "the scheduler API needs the host's user dependency: pass "
            "user_dependency=get_current_active_user (or authenticate=..., or "
            "include_router=False to mount the API yourself)"
        )
    return host_authenticator(user_dependency, role_of)


def scheduler_lifespan(
    config: ConfigInput = None,
    *,
    scheduler: Scheduler | None = None,
    registry: TaskRegistry | None = None,
    extensions: Iterable[Extension] = (),
    user_dependency: Callable[..., Any] | None = None,
    role_of: Callable[[Any], Role | str] | None = None,
    authenticate: Authenticator | None = None,
    prefix: str = DEFAULT_PREFIX,
    tags: Sequence[str] = ("Scheduler",),
    include_router: bool = True,
) -> Lifespan:
    """A lifespan for ``FastAPI(lifespan=...)``: mounts the API (guarded by the host's
    ``user_dependency``; ``role_of(user)`` gives each user's role, default admin) and runs
    the scheduler while the app runs."""
    guard = _authenticator(user_dependency, role_of, authenticate) if include_router else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if guard is not None:
            include_scheduler_router(app, guard, prefix=prefix, tags=tags)
        async with scheduler_running(
            app, scheduler, config=config, registry=registry, extensions=extensions
        ):
            yield

    return lifespan


def mount_scheduler(
    app: FastAPI,
    config: ConfigInput = None,
    *,
    scheduler: Scheduler | None = None,
    registry: TaskRegistry | None = None,
    extensions: Iterable[Extension] = (),
    user_dependency: Callable[..., Any] | None = None,
    role_of: Callable[[Any], Role | str] | None = None,
    authenticate: Authenticator | None = None,
    prefix: str = DEFAULT_PREFIX,
    tags: Sequence[str] = ("Scheduler",),
) -> None:
    """Mount the API on an existing ``app`` now and run the scheduler around the app's
    own lifespan (started before it, stopped after it)."""
    include_scheduler_router(
        app, _authenticator(user_dependency, role_of, authenticate), prefix=prefix, tags=tags
    )
    host_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(host: Any) -> AsyncIterator[Any]:
        async with (
            scheduler_running(
                app, scheduler, config=config, registry=registry, extensions=extensions
            ),
            host_lifespan(host) as state,
        ):
            yield state

    app.router.lifespan_context = lifespan
