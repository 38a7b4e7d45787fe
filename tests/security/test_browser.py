"""Findings 2 and 8 in Chromium: a page on another origin of the same site cannot change
anything through a cookie-authenticated embedding, and /docs renders with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from playwright.sync_api import sync_playwright

from schedkit.api import create_app
from schedkit.integrations.fastapi import mount_scheduler
from tests.api.conftest import PREFIX
from tests.api.server import LiveServer, fast_config
from tests.console.conftest import CHROMIUM_ARGS
from tests.security.tasks import security_registry

SESSION = ("session", "alice-session")

#: What the other origin's page tries, with the signed-in user's cookie.
ATTACK = """<!doctype html><title>prize</title><script>
const api = "TARGET" + "/api/v1/scheduler";
const attempts = [
  [api + "/tasks/anything/schedule?schedule_id=every-second",
   {method: "POST", body: "* * * * * *", mode: "no-cors"}],
  [api + "/tasks/anything/schedule?schedule_id=nightly",
   {method: "POST", body: "0 3 * * *", mode: "no-cors"}],
  [api + "/tasks/anything/execute", {method: "POST", mode: "no-cors"}],
  [api + "/tasks/anything/execute",
   {method: "POST", body: new URLSearchParams({kwargs: "{}"}), mode: "no-cors"}],
  [api + "/tasks/anything/execute",
   {method: "POST", body: '{"kwargs": {}}', headers: {"Content-Type": "text/plain"},
    mode: "no-cors"}],
  [api + "/tasks/anything/execute",
   {method: "POST", body: "{}", headers: {"Content-Type": "application/json"}}],
];
Promise.allSettled(attempts.map(([url, init]) => fetch(url, {...init, credentials: "include"})))
  .then((results) => {
    window.outcomes = results.map((r) => r.status);
    window.done = true;
  });
</script>"""


def _cookie_user(request: Request) -> dict[str, str] | None:
    if request.cookies.get(SESSION[0]) == SESSION[1]:
        return {"username": "alice"}
    return None


def test_a_page_on_another_origin_cannot_change_anything(chromium: str, tmp_path: Path) -> None:
    host = FastAPI()
    arrived: list[tuple[str, str | None]] = []

    @host.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith(PREFIX):
            arrived.append((request.method, request.cookies.get(SESSION[0])))
        return await call_next(request)

    mount_scheduler(
        host,
        fast_config(f"sqlite:///{tmp_path / 'host.db'}"),
        registry=security_registry(),
        user_dependency=_cookie_user,
    )
    evil = FastAPI()
    with LiveServer(host) as target:

        @evil.get("/")
        def page() -> HTMLResponse:
            return HTMLResponse(ATTACK.replace("TARGET", target.url))

        with LiveServer(evil) as other, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context()
                context.add_cookies([{"name": SESSION[0], "value": SESSION[1], "url": target.url}])
                tab = context.new_page()
                tab.goto(other.url + "/")
                tab.wait_for_function("window.done === true", timeout=15_000)
                outcomes = tab.evaluate("window.outcomes")
            finally:
                browser.close()
        signed_in = httpx.Client(
            base_url=target.url + PREFIX, cookies={SESSION[0]: SESSION[1]}, timeout=10
        )
        with signed_in:
            schedules = signed_in.get("/schedules").json()
            runs = signed_in.get("/runs").json()
    # The browser sent the user's cookie with each simple request (the JSON one was
    # stopped by its CORS preflight) ...
    assert arrived.count(("POST", SESSION[1])) == 5, arrived
    assert outcomes[-1] == "rejected"
    # ... and the API acted on none of them.
    assert schedules["total"] == 0 and runs["total"] == 0


def test_docs_render_without_network(chromium: str, tmp_path: Path) -> None:
    app = create_app(fast_config(f"sqlite:///{tmp_path / 'docs.db'}"), registry=security_registry())
    with LiveServer(app) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            outside: list[str] = []

            def only_local(route: Any) -> None:
                url = route.request.url
                if url.startswith(server.url):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            context.route("**/*", only_local)
            tab = context.new_page()
            tab.goto(server.url + "/docs")
            title = tab.locator(".swagger-ui .info .title")
            title.wait_for(timeout=15_000)
            assert title.inner_text().startswith("schedkit")
            assert tab.locator(".opblock").count() > 10
        finally:
            browser.close()
    assert outside == []


def test_a_page_on_another_origin_cannot_frame_the_api_docs(chromium: str, tmp_path: Path) -> None:
    """Audit finding: /docs could be framed by any site (clickjacking a signed-in user's
    Swagger UI "Try it out"); the console's pages were already protected."""
    app = create_app(
        fast_config(f"sqlite:///{tmp_path / 'frame.db'}"), registry=security_registry()
    )
    evil = FastAPI()
    with LiveServer(app) as target:
        docs = httpx.get(target.url + "/docs")
        assert docs.status_code == 200
        assert docs.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
        # ReDoc is not served: /redoc is the console's page, framed by its own origin only.
        redoc = httpx.get(target.url + "/redoc")
        assert "swagger" not in redoc.text.lower() and "redoc.standalone" not in redoc.text

        @evil.get("/")
        def page() -> HTMLResponse:
            return HTMLResponse(f'<!doctype html><iframe id="f" src="{target.url}/docs"></iframe>')

        with LiveServer(evil) as other, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                tab = browser.new_page()
                blocked: list[str] = []
                tab.on("console", lambda msg: blocked.append(msg.text))
                tab.goto(other.url + "/")
                tab.wait_for_timeout(1500)
                framed = [f for f in tab.frames if f != tab.main_frame]
                assert framed, "the iframe was not created"
                # A refused frame holds Chromium's error page, never the Swagger UI.
                for frame in framed:
                    assert frame.locator(".swagger-ui").count() == 0, frame.url
                assert any("frame" in text.lower() for text in blocked), blocked
            finally:
                browser.close()
