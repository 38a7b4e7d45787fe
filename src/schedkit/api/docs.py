"""The interactive API documentation (``/docs``: Swagger UI), served with its script and
styles from this installation (the ``fastapi-offline`` package ships them), never from a
CDN: the page works offline, and no third-party script runs on the origin whose session
storage holds the console's API token. No other site may frame the page (see
:data:`PAGE_HEADERS`). (ReDoc is not offered: its bundle loads a logo from its vendor's
CDN.)"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "PAGE_HEADERS", "add_docs"]

logger = logging.getLogger(__name__)

#: Where the documentation pages load their scripts and styles from.
ASSETS_PATH = "/docs-assets"

#: Sent with the documentation page: no other site may frame it (a framed Swagger UI,
#: with a token the user authorized in it, could be clicked through "Try it out" from
#: underneath a decoy: clickjacking). Nothing frames it on purpose, so "none"; the
#: X-Frame-Options twin is for browsers without CSP. Only frame-ancestors, not a whole
#: policy: Swagger UI starts from an inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _assets_dir() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    return Path(fastapi_offline.__file__).parent / "static"


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs`` on ``app`` (made with ``docs_url=None``); without the assets
    installed, no documentation page."""
    assets = _assets_dir()
    if assets is None or not (assets / "swagger-ui-bundle.js").is_file():
        logger.warning("API documentation pages disabled: install fastapi-offline")
        return
    app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )
        page.headers.update(PAGE_HEADERS)
        return page
