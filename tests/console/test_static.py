"""The console's server side and files, without a browser: pages, assets, mounting under a
sub-path, and every text in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from schedkit._controls import CONTROLS
from schedkit.console import CONSOLE_PAGES, STATIC_DIR, mount, mount_console
from schedkit.models import OverlapPolicy, RunStatus, TriggerSource
from schedkit.task import TaskPriority
from tests.audit_actions import audit_actions

PAGES = [
    "/",
    "/login",
    "/tasks",
    "/tasks/nightly_report",
    "/runs",
    "/runs/01abc",
    "/calendars",
    "/calendars/cn_workdays",
    "/workflows",
    "/workflow-runs/01abc",
    "/audit",
    "/nodes",
]


def _client(app: FastAPI, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://console.test")


@pytest.mark.parametrize("page", PAGES)
async def test_every_page_url_serves_the_app(page: str) -> None:
    app = FastAPI()
    mount_console(app)
    async with _client(app) as client:
        response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<base href="/">' in response.text
    assert '<meta name="schedkit-api" content="/api/v1/scheduler">' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert response.headers["cache-control"] == "no-cache"


async def test_assets_are_served_as_es_modules() -> None:
    app = FastAPI()
    mount(app)  # the short alias
    async with _client(app) as client:
        script = await client.get("/assets/app.js")
        css = await client.get("/assets/app.css")
        view = await client.get("/assets/views/tasks.js")
        missing = await client.get("/assets/nope.js")
        unknown_page = await client.get("/nope")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "etag" in script.headers
    assert script.headers["cache-control"] == "no-cache"
    assert css.headers["content-type"].startswith("text/css")
    assert view.status_code == 200
    assert missing.status_code == 404
    assert unknown_page.status_code == 404


async def test_mounted_under_a_sub_path_behind_a_proxy() -> None:
    app = FastAPI()

    @app.get("/")
    def host_home() -> dict[str, str]:
        return {"host": "home"}

    mount_console(app, api_prefix="/internal/scheduler/", path="/ops/console")
    async with _client(app, root_path="/app") as client:
        page = await client.get("/app/ops/console/runs/42")
        bare = await client.get("/app/ops/console")
        asset = await client.get("/app/ops/console/assets/i18n.js")
        home = await client.get("/app/")
    assert page.status_code == 200
    assert '<base href="/app/ops/console/">' in page.text
    assert '<meta name="schedkit-api" content="/app/internal/scheduler">' in page.text
    assert bare.status_code == 308
    assert bare.headers["location"] == "/app/ops/console/"
    assert asset.status_code == 200
    assert home.json() == {"host": "home"}  # the host's own "/" is left alone


def test_routes_in_app_js_match_the_server_pages() -> None:
    """A page the browser routes must be served by the server (deep links, alert links)."""
    app_js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    patterns = re.findall(r"\{ pattern: /\^(.*?)\$/", app_js)
    as_urls = [p.replace(r"\/", "/").replace("([^/]+)", "{x}") for p in patterns]
    served = [re.sub(r"\{\w+\}", "{x}", page) for page in CONSOLE_PAGES]
    assert sorted(as_urls) == sorted(served)


def test_the_docs_list_every_page_url() -> None:
    """An audit: docs/console.md listed seven of the twelve page URLs (no calendars,
    workflows, workflow runs or nodes)."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "console.md").read_text("utf-8")
    sentence = docs[docs.index("the page URLs") : docs.index("each answered with the same")]
    listed = re.findall(r"`PATH(/[^`]*)?`", sentence)
    as_pages = {re.sub(r"\{\w+\}", "{x}", url.lstrip("/")) for url in listed}
    served = {re.sub(r"\{\w+\}", "{x}", page) for page in CONSOLE_PAGES}
    assert as_pages == served


def _messages(lang: str) -> dict[str, str]:
    block = (STATIC_DIR / "strings" / f"{lang}.js").read_text(encoding="utf-8")
    pairs = re.findall(
        r"""^\s{2}(\w+):\s*\n?\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""", block, flags=re.M
    )
    return {key: double or single for key, double, single in pairs}


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in Path(STATIC_DIR).rglob("*.js"):
        lines = path.read_text(encoding="utf-8").splitlines()
        source = "\n".join(line for line in lines if not line.lstrip().startswith("//"))
        keys.update(re.findall(r"\bt\(\s*\"(\w+)\"", source))
        keys.update(re.findall(r'data-i18n="(\w+)"', source))
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    keys.update(re.findall(r'data-i18n="(\w+)"', html))
    keys.update(re.findall(r'data-i18n-attr="[\w-]+:(\w+)"', html))
    return keys


def test_every_text_exists_in_english_and_chinese() -> None:
    en, zh = _messages("en"), _messages("zh")
    assert len(en) > 250
    assert set(en) == set(zh), set(en) ^ set(zh)
    missing = _used_keys() - set(en)
    assert not missing, f"t() keys without a text: {sorted(missing)}"
    # Placeholders match between the languages.
    for key, text in en.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", zh[key])), key
    # The Chinese texts are Chinese (a few are symbols or proper names).
    untranslated = {k for k, v in zh.items() if not re.search(r"[\u4e00-\u9fff]", v) and v == en[k]}
    assert untranslated <= {"none", "col_id", "col_p50", "col_p95", "run_progress_text"}, (
        untranslated
    )


def test_the_console_escapes_the_controls_the_cli_escapes() -> None:
    """dom.js shows as escapes the very set of characters the CLI and the logs escape."""
    source = (STATIC_DIR / "dom.js").read_text(encoding="utf-8")
    found = re.search(r"const CONTROL =\s*/\(\[(.+?)\]\)/;", source)
    assert found is not None
    as_python = found.group(1).encode("ascii").decode("unicode_escape")
    assert as_python == CONTROLS


def test_every_status_source_and_policy_has_a_text() -> None:
    """Texts built from API values (status_*, source_*, ...) exist for every value."""
    en = _messages("en")
    wanted = (
        [f"status_{s.value}" for s in RunStatus]
        + [f"source_{s.value}" for s in TriggerSource]
        + [f"overlap_{p.value}" for p in OverlapPolicy]
        + [f"priority_{p.name}" for p in TaskPriority]
        + [f"calendar_{c}" for c in ("cn_workdays", "cn_skip_holidays")]
        + [f"node_role_{r}" for r in ("leader", "standby", "disabled")]
        + [f"origin_{o}" for o in ("code", "runtime")]
    )
    assert [key for key in wanted if key not in en] == []


async def test_the_page_says_how_to_sign_in_and_the_schedulers_zone(tmp_path: Path) -> None:
    """Before anyone signs in, the page tells the console the scheduler's zone (for the
    footer) and that the API wants a token (so it asks for one instead of probing the API
    and logging a 401)."""
    from schedkit.api import create_app
    from tests.console.tasks import console_registry

    config = {"store_url": f"sqlite:///{tmp_path / 's.db'}", "timezone": "America/Lima"}
    app = create_app(config, registry=console_registry())
    async with app.router.lifespan_context(app), _client(app) as client:
        page = (await client.get("/login")).text
    assert '<meta name="schedkit-sign-in" content="token">' in page
    assert '<meta name="schedkit-tz" content="America/Lima">' in page

    embedded = FastAPI()
    mount_console(embedded)  # a host app's login may admit the browser: probe first
    async with _client(embedded) as client:
        page = (await client.get("/")).text
    assert '<meta name="schedkit-sign-in" content="auto">' in page
    assert '<meta name="schedkit-tz" content="">' in page  # no scheduler on app.state


def test_every_rule_of_the_stylesheet_is_closed() -> None:
    """An unclosed rule makes every rule after it a nested rule that never matches (the
    workflow graph drew black boxes): braces must balance outside comments."""
    css = re.sub(r"/\*.*?\*/", "", (Path(STATIC_DIR) / "app.css").read_text(), flags=re.S)
    depth = 0
    for line_no, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"app.css: a '}}' without its '{{' near line {line_no}"
    assert depth == 0, "app.css: a rule is not closed"


def test_every_audit_action_has_words_in_both_languages() -> None:
    """The audit log shows an action in words plus its code (docs/console.md); an audit
    found six codes shown bare. The actions are the literals the core records."""
    actions = audit_actions()
    assert {"schedule.pause", "calendar.notice", "node.drain", "alerts.test"} <= actions
    for lang in ("en", "zh"):
        texts = _messages(lang)
        missing = sorted(a for a in actions if "act_" + re.sub(r"\W", "_", a) not in texts)
        assert missing == [], (lang, missing)


def test_the_runs_filter_offers_every_trigger_source() -> None:
    """An audit: backfill and workflow runs could not be filtered on the Runs page."""
    text = (STATIC_DIR / "components.js").read_text(encoding="utf-8")
    block = re.search(r"export const SOURCES = \[(.*?)\];", text, flags=re.S)
    assert block is not None
    assert set(re.findall(r'"(\w+)"', block.group(1))) == {s.value for s in TriggerSource}
