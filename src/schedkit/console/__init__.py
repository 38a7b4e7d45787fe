"""The web console: static files (HTML, ES modules, CSS) over the management API.

The console holds no business logic: the browser calls the JSON API under ``api_prefix``
with the operator's API token (or the host application's session cookie when embedded).
The server side only serves the files and answers every console page URL with the same
``index.html`` (so links such as ``/runs/<id>`` in alerts open the right view)::

    from schedkit.console import mount_console

    mount_console(app)  # console at "/", API at "/api/v1/scheduler"
    mount_console(app, path="/scheduler/console")  # embedded under a host app's path
    mount_console(app, path="/ops", login_url="/login")  # link to the host's own login

``schedkit.api.create_app`` calls :func:`mount_console` itself.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from schedkit.api.lifespan import api_sign_in

__all__ = ["CONSOLE_PAGES", "STATIC_DIR", "mount", "mount_console"]

#: The console's files; packaged with schedkit (hatchling includes them in the wheel).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Page URLs (relative to the console's path) answered with ``index.html``; the browser
#: picks the view. Keep in step with ``ROUTES`` in ``static/app.js``.
CONSOLE_PAGES: tuple[str, ...] = (
    "",
    "login",
    "tasks",
    "tasks/{task_name}",
    "runs",
    "runs/{run_id}",
    "calendars",
    "calendars/{name}",
    "workflows",
    "workflow-runs/{run_id}",
    "audit",
    "nodes",
)

_DEFAULT_API_PREFIX = "/api/v1/scheduler"

#: Sent with every page: the console loads only its own files and talks only to its origin.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class _ConsoleFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) instead of caching stale code."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _normalize(path: str) -> str:
    """``path`` as ``/`` or ``/a/b/`` (leading and trailing slash)."""
    stripped = path.strip().strip("/")
    return f"/{stripped}/" if stripped else "/"


SignIn = Literal["token", "host", "auto"]


def _timezone(request: Request) -> str:
    """The scheduler's zone (times are shown in it), known before anyone signs in."""
    scheduler = getattr(request.app.state, "scheduler", None)
    zone = getattr(scheduler, "tz", None)
    return str(zone) if zone is not None else ""


def mount_console(
    app: FastAPI,
    *,
    api_prefix: str = _DEFAULT_API_PREFIX,
    path: str = "/",
    sign_in: SignIn = "auto",
    login_url: str | None = None,
) -> None:
    """Serve the console on ``app`` under ``path`` (default ``/``), talking to the API
    mounted at ``api_prefix`` on the same app. Call it after the API routes are added
    (the console's pages must not shadow them).

    ``sign_in``: ``"token"`` when the API wants API tokens (``schedkit serve``): without
    one the console goes straight to its sign-in page; ``"host"`` when the host
    application's own login (its cookie) authenticates the API: the console never asks
    for a token and, refused, shows the host's answer ("sign in first") with a link to
    ``login_url`` when given (used as is: the host's sign-in page); ``"auto"`` (default)
    takes what the API mounted at ``api_prefix`` on the same app says
    (``mount_scheduler(..., user_dependency=...)``: ``"host"``; API tokens: ``"token"``),
    else first asks the API whether the browser is admitted and offers the token form
    when it is not."""
    base = _normalize(path)
    api = "/" + api_prefix.strip().strip("/")
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    def render(request: Request) -> HTMLResponse:
        # root_path: the app may be served behind a proxy under a sub-path.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        values = {
            "%BASE%": root + base,
            "%API%": root + api,
            "%SIGN_IN%": sign_in if sign_in != "auto" else api_sign_in(request.app, api),
            "%LOGIN_URL%": login_url or "",
            "%TZ%": _timezone(request),
        }
        page = template
        for marker, value in values.items():
            page = page.replace(marker, html.escape(value, quote=True))
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    router = APIRouter(include_in_schema=False)
    for page in CONSOLE_PAGES:
        router.add_api_route(base + page, render, methods=["GET", "HEAD"], name=f"console:{page}")
    if base != "/":
        target = base

        def to_base(request: Request) -> RedirectResponse:
            root = str(request.scope.get("root_path", "")).rstrip("/")
            return RedirectResponse(root + target, status_code=308)

        router.add_api_route(base.rstrip("/"), to_base, methods=["GET"], name="console:base")
    app.include_router(router)
    app.mount(base + "assets", _ConsoleFiles(directory=STATIC_DIR), name="schedkit-console")


#: Short alias: ``schedkit.console.mount(app, api_prefix=...)``.
mount = mount_console
