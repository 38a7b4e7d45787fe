"""The management API: FastAPI routes over the service façade.

``create_router(authenticate)`` for embedding (see :mod:`schedkit.integrations.fastapi`),
``create_app(config)`` for standalone serving with API tokens. A host app's own routes
reach the scheduler with ``Depends(get_scheduler)`` and answer its errors as problems
with ``app.add_exception_handler(SchedkitError, schedkit_error_handler)``.
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
from schedkit.api.deps import get_scheduler
from schedkit.api.problems import schedkit_error_handler
from schedkit.api.router import DEFAULT_PREFIX, create_router

__all__ = [
    "DEFAULT_PREFIX",
    "Principal",
    "Role",
    "anonymous_authenticator",
    "create_app",
    "create_router",
    "get_scheduler",
    "host_authenticator",
    "schedkit_error_handler",
    "token_authenticator",
]
