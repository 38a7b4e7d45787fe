"""The management API: a router built from the route table, each route guarded by the
given authenticator (API tokens standalone, the host's user dependency when embedded) and
the role it needs. Routes are thin translations between HTTP and the service façade
(see :mod:`schedkit.api.routes`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends

from schedkit.api.auth import Authenticator, offer_authenticator, require_role
from schedkit.api.guards import MUTATING_METHODS
from schedkit.api.problems import problem_responses
from schedkit.api.routes import ROUTES
from schedkit.api.routing import ProblemRoute
from schedkit.tokens import Role

__all__ = ["DEFAULT_PREFIX", "create_router"]

DEFAULT_PREFIX = "/api/v1/scheduler"


def create_router(
    authenticate: Authenticator,
    *,
    prefix: str = DEFAULT_PREFIX,
    tags: Sequence[str] = ("Scheduler",),
    open_only: bool = False,
) -> APIRouter:
    """The management API under ``prefix``, every route but health/readiness guarded by
    ``authenticate`` (see :mod:`schedkit.api.auth`) and the role the route needs;
    ``open_only``: health and readiness alone (a worker's probes)."""
    router = APIRouter(prefix=prefix, tags=list(tags), route_class=ProblemRoute)
    guards = {role: [Depends(require_role(authenticate, role))] for role in Role}
    # Open routes may tell an authenticated caller more (see optional_principal).
    open_route = [Depends(offer_authenticator(authenticate))]
    for spec in ROUTES.specs:
        if open_only and spec.role is not None:
            continue
        statuses = set(spec.errors) | {503}
        if spec.method in MUTATING_METHODS:
            # A body (or Content-Length) that cannot be decoded, too large, not JSON.
            statuses |= {400, 413, 415}
        if spec.role is not None:
            statuses |= {401, 403, 422}
        options = dict(spec.options)
        responses: dict[int | str, dict[str, Any]] = problem_responses(sorted(statuses))
        responses.update(options.pop("responses", {}))
        description = (spec.endpoint.__doc__ or "").strip()
        if spec.role is not None:
            description = f"{description}\n\nRequires role **{spec.role.value}** or higher.".strip()
        router.add_api_route(
            spec.path,
            spec.endpoint,
            methods=[spec.method],
            dependencies=guards[spec.role] if spec.role is not None else open_route,
            responses=responses,
            description=description,
            **options,
        )
    return router
