"""The interactive API documentation (``/docs``: Swagger UI), served with its script and
styles from this installation (the ``fastapi-offline`` package ships them), never from a
CDN: the page works offline, and no third-party script runs on the origin whose session
storage holds the console's API token. (ReDoc is not offered: its bundle loads a logo
from its vendor's CDN.)"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "add_docs"]

logger = logging.getLogger(__name__)

#: Where the documentation pages load their scripts and styles from.
ASSETS_PATH = "/docs-assets"


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
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )
