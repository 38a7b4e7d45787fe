"""The management API's routes, one module per concern, all registered on
:data:`~schedkit.api.routes.table.ROUTES` when this package is imported."""

from __future__ import annotations

from schedkit.api.routes import admin, calendars, runs, schedules, tasks, workflows
from schedkit.api.routes.table import ROUTES, RouteSpec, RouteTable

__all__ = [
    "ROUTES",
    "RouteSpec",
    "RouteTable",
    "admin",
    "calendars",
    "runs",
    "schedules",
    "tasks",
    "workflows",
]
