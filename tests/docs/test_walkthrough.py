"""The first hour, scripted: a fresh clone, the README's first command, the CLI against
the demo it starts, the console in Chromium, then the API embedded in a host app under
``uvicorn --workers 2`` — each step as the README and docs/ say it.

The clone's ``.venv`` links to this checkout's (``make install`` would build the same),
so ``make`` is told not to remake its install stamp (``-o``); everything else is the
README's own text."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import service_url
from tests.docs.conftest import Demo, clean_env, start_demo
from tests.docs.snippets import REPO, blocks

pytestmark = [pytest.mark.slow, pytest.mark.external_service]

API = "/api/v1/scheduler"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def readme_block(starting: str) -> str:
    """The README's first code block that starts with ``starting``."""
    return next(b.code for b in blocks(REPO / "README.md") if b.code.startswith(starting))


@pytest.mark.timeout(600)
def test_fresh_clone_readme_demo_cli_console_and_embedding(
    fresh_clone: Path, tmp_path: Path
) -> None:
    chromium = service_url("SCHEDKIT_TEST_CHROMIUM")
    first = readme_block("make demo")
    assert first.splitlines()[1].startswith("make test")  # the README's first two commands

    # 1. `make demo`, on a port of our choosing (the README names PORT=).
    port = free_port()
    make = [
        "make", "-o", ".venv/.install-stamp", "demo", f"PORT={port}", "HOST=127.0.0.1",
    ]  # fmt: skip
    demo = start_demo(fresh_clone, *make, env=clean_env(SCHEDKIT_SCHEDULER__SHUTDOWN_GRACE="5"))
    try:
        assert demo.url == f"http://127.0.0.1:{port}/"
        token = demo.token
        database = fresh_clone / "var" / "demo" / "demo.db"
        assert demo.use_line.startswith(f"SCHEDKIT_CONFIG={fresh_clone}/var/demo/schedkit.toml ")

        # 2. The README's shell block, as written, in a second shell in the clone.
        cli = subprocess.run(
            ["bash", "-e", "-c", readme_block(". .venv/bin/activate")],
            cwd=fresh_clone, env=clean_env(PATH=os.environ["PATH"]),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert f"store sqlite:///{database}" in cli.stdout
        assert "report_daily" in cli.stdout and "success" in cli.stdout
        assert not (fresh_clone / "schedkit.db").exists()  # nothing made in the wrong place
        reports = list((fresh_clone / "var" / "demo" / "reports" / "daily").glob("*.xlsx"))
        assert reports, "the report run from the shell is not in the demo's folder"

        # 3. The console: sign in with the printed token; the shell's run is there.
        see_the_run_in_the_console(chromium, demo, token)
    finally:
        demo.stop()  # Ctrl-C: make itself then reports "Interrupt", as in a terminal
    assert re.search(r"^stopped$", demo.text, re.MULTILINE), demo.text  # schedkit's clean end
    assert "Traceback" not in demo.text, demo.text

    # 4. docs/api.md's main.py under `uvicorn main:app --workers 2`.
    embed_under_two_workers(tmp_path)


def see_the_run_in_the_console(chromium: str, demo: Demo, token: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(demo.url + "runs")
            expect(page).to_have_url(demo.url + "login")
            page.get_by_label("API token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Runs")
            page.get_by_label("Task").select_option("report_daily")
            page.get_by_label("Trigger").select_option("manual")
            page.get_by_role("button", name="Apply").click()
            row = page.locator('tbody tr[data-status="success"]').first
            # The filtered page, not the one before Apply (the demo's every-minute
            # report_daily fires made that one's first row a scheduled run: a flake).
            expect(row).to_contain_text("Manual")
            row.get_by_role("link").first.click()
            expect(page.locator(".files button")).to_have_count(2)
            expect(page.locator(".kv")).to_contain_text("command line (")  # made by the CLI
        finally:
            browser.close()
    assert errors == []


def embed_under_two_workers(tmp_path: Path) -> None:
    api_doc = blocks(REPO / "docs" / "api.md")
    (main,) = [b.code for b in api_doc if b.lang == "python" and b.code.startswith("# main.py")]
    app_dir = tmp_path / "host"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(main, encoding="utf-8")
    port = free_port()
    uvicorn = Path(sys.executable).parent / "uvicorn"
    proc = subprocess.Popen(
        [str(uvicorn), "main:app", "--workers", "2", "--port", str(port)],
        cwd=app_dir, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}{API}"
    alice = {"Authorization": "Bearer alice-token"}
    try:
        with httpx.Client(timeout=10) as client:
            nodes: list[dict[str, object]] = []
            # Two workers starting on a machine busy with the rest of the suite.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    answer = client.get(f"{base}/nodes", headers=alice)
                    if answer.status_code == 200:
                        nodes = answer.json()
                        if len(nodes) == 2 and sum(bool(n["leader"]) for n in nodes) == 1:
                            break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
            if len(nodes) != 2:  # each worker is a node of the shared store
                proc.kill()
                output = proc.communicate(timeout=10)[0]
                pytest.fail(f"{len(nodes)} node(s) after 90 s: {nodes}\nuvicorn said:\n{output}")
            assert sum(bool(n["leader"]) for n in nodes) == 1  # exactly one fires
            assert client.get(f"{base}/nodes").status_code == 401  # the host's login guards
            schedules = client.get(f"{base}/schedules", headers=alice).json()["items"]
            assert [s["id"] for s in schedules] == ["nightly_cleanup"]  # registered once
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert not re.search(r"Traceback|ERROR", output), output
