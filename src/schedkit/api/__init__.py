"""The management API: FastAPI routes over the service façade.

``create_router(authenticate)`` for embedding (see :mod:`schedkit.integrations.fastapi`),
``create_app(config)`` for standalone serving with API tokens.
"""

from __future__ import annotations

from schedkit.api.app import create_app
from schedkit.api.auth import (
    Principal,
    Role,
    anonymous_authenticator,
    host_authenticator,
    token_authenticator,
)
from schedkit.api.router import DEFAULT_PREFIX, create_router

__all__ = [
    "DEFAULT_PREFIX",
    "Principal",
    "Role",
    "anonymous_authenticator",
    "create_app",
    "create_router",
    "host_authenticator",
    "token_authenticator",
]
