"""Who calls, and what they may do.

An *authenticator* is a FastAPI dependency returning a :class:`Principal`:

* :func:`token_authenticator` — standalone serving: ``Authorization: Bearer <token>``
  checked against the store's API tokens (see :mod:`schedkit.tokens`);
* :func:`host_authenticator` — embedded in a host app: the host's own user dependency
  (the design document's ``get_current_active_user``), every user mapped to a role;
* :func:`anonymous_authenticator` — local development only, everyone is admin.

:func:`require_role` guards a route with a minimum role: 401 without valid credentials,
403 when the role is too low. The route reads the caller through :data:`ActorDep`.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schedkit.api.deps import get_scheduler
from schedkit.api.problems import ApiProblem
from schedkit.errors import StoreError
from schedkit.tokens import Role

__all__ = [
    "ActorDep",
    "Authenticator",
    "Principal",
    "Role",
    "anonymous_authenticator",
    "current_principal",
    "host_authenticator",
    "offer_authenticator",
    "optional_principal",
    "require_role",
    "sign_in_of",
    "token_authenticator",
]

logger = logging.getLogger(__name__)

_STATE_KEY = "schedkit_principal"
#: The authenticator of an open route, for :func:`optional_principal`.
_AUTHENTICATOR_KEY = "schedkit_authenticator"
#: (secret, token) verified earlier in the same request (routes with a body authenticate
#: before reading it, then FastAPI runs the guard again).
_TOKEN_KEY = "schedkit_verified_token"
#: Requests that change nothing (a method not listed is taken for a write).
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """The authenticated caller: ``name`` goes to the audit trail."""

    name: str
    role: Role
    kind: Literal["token", "host", "anonymous"]
    user: Any = None
    #: The API token's id (token principals): open event streams re-check it.
    token_id: str | None = None


#: A FastAPI dependency (sync or async, with its own sub-dependencies) returning a Principal.
Authenticator = Callable[..., Principal | Awaitable[Principal]]

#: How a browser signs in to an API an authenticator guards: ``"token"`` (API tokens),
#: ``"host"`` (the host application's own login; API tokens are not read), ``"auto"``
#: (unknown: an authenticator of your own, or none needed).
SignIn = Literal["token", "host", "auto"]
_SIGN_IN: weakref.WeakKeyDictionary[Callable[..., Any], SignIn] = weakref.WeakKeyDictionary()


def sign_in_of(authenticate: Authenticator) -> SignIn:
    """How a browser signs in to an API guarded by ``authenticate`` (the console asks)."""
    return _SIGN_IN.get(authenticate, "auto")


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401,
        detail,
        slug="unauthorized",
        title="Authentication required",
        headers={"WWW-Authenticate": 'Bearer realm="schedkit"'},
    )


def token_authenticator() -> Authenticator:
    """Bearer API tokens from the scheduler's store."""
    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="ApiToken",
        description="A schedkit API token: `schedkit token create --name NAME --role ROLE`.",
    )

    async def authenticate_token(
        request: Request,
        # Defaults, not Annotated: the names are local to this factory, and string
        # annotations (from __future__) are resolved in the module's globals.
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("send an API token: 'Authorization: Bearer <token>'")
        secret = credentials.credentials
        known = getattr(request.state, _TOKEN_KEY, None)
        if known is not None and known[0] == secret:
            token = known[1]
        else:
            # A request that changes nothing may be admitted on a recent verification,
            # and through a store outage (schedkit.token_trust); a write asks the store.
            read_only = request.method in _READ_METHODS
            token = await get_scheduler(request).verify_token(secret, read_only=read_only)
            setattr(request.state, _TOKEN_KEY, (secret, token))
        if token is None:
            raise _unauthorized("the API token is invalid or revoked")
        return Principal(name=token.name, role=Role(token.role), kind="token", token_id=token.id)

    _SIGN_IN[authenticate_token] = "token"
    return authenticate_token


def _user_name(user: Any) -> str:
    for key in ("username", "name", "email", "id"):
        value = user.get(key) if isinstance(user, dict) else getattr(user, key, None)
        if value:
            return str(value)
    return str(user)


def host_authenticator(
    user_dependency: Callable[..., Any],
    role_of: Callable[[Any], Role | str] | None = None,
) -> Authenticator:
    """The host app's user dependency; ``role_of(user)`` gives the role (default: admin,
    i.e. every authenticated user may do everything, as in the design document)."""
    if role_of is None:
        # Said once, where the API is mounted: every user of the host app may then mint
        # admin API tokens, which outlive the session and the user's own account.
        logger.warning(
            "the scheduler API is mounted without role_of: every user the host app "
            "authenticates is a schedkit admin (may change schedules, purge runs and "
            "create API tokens); pass role_of=... to give roles"
        )

    async def authenticate_user(user: Any = Depends(user_dependency)) -> Principal:  # noqa: B008
        if user is None:
            raise _unauthorized("authentication required")
        role = Role.ADMIN
        if role_of is not None:
            resolved = role_of(user)
            if inspect.isawaitable(resolved):
                resolved = await resolved
            try:
                role = Role(resolved)
            except ValueError:
                raise ApiProblem(
                    403,
                    f"user has no schedkit role ({resolved!r})",
                    slug="forbidden",
                    title="Forbidden",
                ) from None
        return Principal(name=_user_name(user), role=role, kind="host", user=user)

    # The host's user dependency alone decides: an API token sent along is not read.
    _SIGN_IN[authenticate_user] = "host"
    return authenticate_user


def anonymous_authenticator() -> Authenticator:
    """Everyone is ``anonymous`` with the admin role. For local development only."""
    logger.warning(
        "schedkit API authentication is DISABLED (auth='none'): anyone who can reach the "
        "server may run, change and delete schedules. Never use this outside local development."
    )

    def authenticate_nobody() -> Principal:
        return Principal(name="anonymous", role=Role.ADMIN, kind="anonymous")

    return authenticate_nobody


def require_role(authenticate: Authenticator, role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose role includes ``role`` (403 otherwise)."""

    async def guard(request: Request, principal: Principal = Depends(authenticate)) -> Principal:  # noqa: B008
        if not principal.role.allows(role):
            raise ApiProblem(
                403,
                f"role {principal.role.value!r} may not do this; it needs {role.value!r}",
                slug="forbidden",
                title="Forbidden",
                extra={"required_role": role.value, "role": principal.role.value},
            )
        setattr(request.state, _STATE_KEY, principal)
        return principal

    guard.__name__ = f"require_{role.value}"
    return guard


def current_principal(request: Request) -> Principal:
    """The caller admitted by the route's :func:`require_role` guard."""
    principal = getattr(request.state, _STATE_KEY, None)
    if not isinstance(principal, Principal):
        raise RuntimeError("route has no require_role guard; cannot tell who calls")
    return principal


def _actor(principal: Annotated[Principal, Depends(current_principal)]) -> str:
    return principal.name


#: The caller's name, for the ``actor=`` of the façade's mutating methods.
ActorDep = Annotated[str, Depends(_actor)]


def offer_authenticator(authenticate: Authenticator) -> Callable[[Request], None]:
    """A dependency of the open routes (no role): makes ``authenticate`` available to
    :func:`optional_principal` without requiring it."""

    def offer(request: Request) -> None:
        setattr(request.state, _AUTHENTICATOR_KEY, authenticate)

    return offer


async def optional_principal(request: Request) -> Principal | None:
    """The caller of an open route if it authenticates (any role), else None; never a
    401. The authenticator runs with its own dependencies (a host's user dependency
    raising 401 for anonymous callers included), and whatever it refuses with, a
    problem or an HTTPException, means "anonymous" here."""
    authenticate = getattr(request.state, _AUTHENTICATOR_KEY, None)
    if authenticate is None:
        return None
    dependant = get_dependant(path=request.url.path, call=authenticate)
    # The app's dependency_overrides apply, as on the guarded routes.
    overrides = request.app if hasattr(request.app, "dependency_overrides") else None
    async with AsyncExitStack() as stack:
        try:
            solved = await solve_dependencies(
                request=request,
                dependant=dependant,
                dependency_overrides_provider=overrides,
                async_exit_stack=stack,
                embed_body_fields=False,
            )
            if solved.errors:
                return None
            principal = authenticate(**solved.values)
            if inspect.isawaitable(principal):
                principal = await principal
        except (ApiProblem, HTTPException, StoreError):
            # Anonymous when the store cannot say who it is: an open route (a liveness
            # probe with a token) must not answer 503 for a lookup it only uses to say more.
            return None
    return principal if isinstance(principal, Principal) else None
