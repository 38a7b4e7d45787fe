"""Running a scheduler for the lifetime of a FastAPI app, and mounting its router once.

Shared by the standalone app (:mod:`schedkit.api.app`) and the embedding helpers
(:mod:`schedkit.integrations.fastapi`); it imports neither, so both import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from schedkit.api.auth import Authenticator, SignIn, sign_in_of
from schedkit.api.router import DEFAULT_PREFIX, create_router
from schedkit.registry import TaskRegistry
from schedkit.service import ConfigInput, Extension, Scheduler
from schedkit.service.store_wait import StoreWait

__all__ = ["ConfigInput", "api_sign_in", "include_scheduler_router", "scheduler_running"]

_MOUNTED = "_schedkit_router_prefixes"
#: {API prefix: how a browser signs in to it}, for the console's pages.
_SIGN_INS = "_schedkit_sign_ins"


def _prefix_key(prefix: str) -> str:
    return "/" + prefix.strip().strip("/")


def api_sign_in(app: FastAPI, prefix: str) -> SignIn:
    """How a browser signs in to the API mounted on ``app`` under ``prefix`` by
    :func:`include_scheduler_router` (``"auto"`` when unknown)."""
    sign_ins: dict[str, SignIn] = getattr(app.state, _SIGN_INS, {})
    return sign_ins.get(_prefix_key(prefix), "auto")


@asynccontextmanager
async def scheduler_running(
    app: FastAPI,
    scheduler: Scheduler | None = None,
    *,
    config: ConfigInput = None,
    registry: TaskRegistry | None = None,
    extensions: Iterable[Extension] = (),
) -> AsyncIterator[Scheduler]:
    """Start ``scheduler`` (or one made from ``config``/``registry``/``extensions``),
    expose it on ``app.state.scheduler`` and stop it on exit. A scheduler that is already
    started is left running on exit: its owner stops it. With ``scheduler.store_wait =
    "retry"``, a store that cannot be reached lets the app start while the scheduler
    waits for it (:mod:`schedkit.service.store_wait`)."""
    if scheduler is None:
        scheduler = Scheduler(config, registry=registry, extensions=extensions)
    owned = not scheduler.started
    waiting = (
        StoreWait(scheduler) if owned and scheduler.config.scheduler.store_wait == "retry" else None
    )
    if waiting is not None:
        await waiting.start()
    elif owned:
        await scheduler.start()
    app.state.scheduler = scheduler
    try:
        yield scheduler
    finally:
        if waiting is not None:
            await waiting.stop()
        elif owned:
            await scheduler.stop()
        if getattr(app.state, "scheduler", None) is scheduler:
            del app.state.scheduler


def include_scheduler_router(
    app: FastAPI,
    authenticate: Authenticator,
    *,
    prefix: str = DEFAULT_PREFIX,
    tags: Sequence[str] = ("Scheduler",),
) -> None:
    """Mount the management API on ``app`` once per prefix."""
    mounted: set[str] = getattr(app.state, _MOUNTED, set())
    if prefix in mounted:
        return
    app.include_router(create_router(authenticate, prefix=prefix, tags=tags))
    mounted.add(prefix)
    setattr(app.state, _MOUNTED, mounted)
    sign_ins: dict[str, SignIn] = getattr(app.state, _SIGN_INS, {})
    sign_ins[_prefix_key(prefix)] = sign_in_of(authenticate)
    setattr(app.state, _SIGN_INS, sign_ins)
    app.openapi_schema = None  # routes changed: let /docs show them
