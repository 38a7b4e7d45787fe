"""Screenshots of every console page in both languages (``make screenshots``).

Starts ``schedkit demo`` in a temporary directory (fresh sample data), makes a few runs
through the API so that every page has something to show (a report with files, a run
with progress and logs, a cancelled run), then opens each page in Chromium at 1280 px,
in English and in Chinese, and writes ``<page>-<lang>.png`` into the output directory
(default ``docs/screenshots``). Needs Chromium and a CJK font
(``scripts/services.sh chromium`` installs both).

    python scripts/screenshots.py [OUT_DIR] [--width 1280] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

API = "/api/v1/scheduler"
LANGS = ("en", "zh")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


class Demo:
    """``schedkit demo`` in a subprocess; ``url`` and ``token`` once it serves."""

    def __init__(self, var: Path) -> None:
        command = [sys.executable, "-m", "schedkit", "demo", "--port", "0", "--var-dir", str(var)]
        env = {"PYTHONUNBUFFERED": "1", "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen(
            command, cwd=var.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_ready(self, timeout: float = 120) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = "".join(self.lines)
            url = re.search(r"console\s+(http://\S+/)", text)
            token = re.search(r"admin token\s+(skt_\S+)", text)
            if url and token:
                return url.group(1), token.group(1)
            if self.proc.poll() is not None:
                raise SystemExit(f"the demo exited:\n{text}")
            time.sleep(0.2)
        raise SystemExit("the demo did not start in time:\n" + "".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_demo() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="schedkit-screens-") as tmp:
        demo = Demo(Path(tmp) / "var")
        try:
            yield demo.wait_ready()
        finally:
            demo.stop()


def make_runs(api: httpx.Client) -> dict[str, str]:
    """Runs every page can show: a report with files, a status update with progress and
    log lines, a cancelled backup. Returns run ids by role."""

    def execute(task: str, kwargs: dict[str, object], wait: bool) -> dict[str, object]:
        response = api.post(
            f"/tasks/{task}/execute", params={"wait": str(wait).lower()}, json={"kwargs": kwargs}
        )
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data

    workflow = api.post("/workflows/daily_contract_close/start", json={"params": {}})
    workflow.raise_for_status()
    report = execute("report_daily", {}, True)
    status = execute("customer_status_auto_update", {}, True)
    backup = execute("data_backup", {}, False)
    api.post(f"/runs/{backup['run_id']}/cancel", json={})
    wait_for_workflow(api, str(workflow.json()["id"]))
    return {
        "workflow": str(workflow.json()["id"]),
        "report": str(report["run_id"]),
        "status": str(status["run_id"]),
        "cancelled": str(backup["run_id"]),
    }


def wait_for_workflow(api: httpx.Client, run_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/workflow-runs/{run_id}").json()["status"] == "running":
        if time.monotonic() > deadline:
            raise SystemExit(f"workflow run {run_id} still running after {timeout} s")
        time.sleep(0.2)


async def settle(page: Page) -> None:
    """Wait until the view has loaded (no "Loading…" left, fonts drawn). (Never
    "networkidle": the live event stream stays open.)"""
    await page.locator("main h1").first.wait_for()
    await page.locator("main .loading").first.wait_for(state="detached")
    await page.evaluate("() => document.fonts.ready")
    await page.wait_for_timeout(300)


async def shoot(
    out: Path, width: int, chromium: str, url: str, token: str, only: set[str]
) -> list[Path]:
    with httpx.Client(
        base_url=url.rstrip("/") + API, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:
        runs = make_runs(api)
    pages = {
        "login": "login",
        "overview": "",
        "tasks": "tasks",
        "task": "tasks/report_daily",
        "runs": "runs",
        "run": f"runs/{runs['report']}",
        "run-progress": f"runs/{runs['status']}",
        "run-cancelled": f"runs/{runs['cancelled']}",
        "audit": "audit",
        "calendars": "calendars",
        # The year no package confirms yet: the warning and the estimated days.
        "calendar": "calendars/cn_workdays?year=2027",
        "workflows": "workflows",
        "workflow-run": f"workflow-runs/{runs['workflow']}",
    }
    if only:
        pages = {name: path for name, path in pages.items() if name in only}
    written: list[Path] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for lang in LANGS:
            context = await browser.new_context(
                viewport={"width": width, "height": 800},
                locale="zh-CN" if lang == "zh" else "en-US",
                timezone_id="Europe/Paris",
                color_scheme="light",
            )
            await context.add_init_script(f"localStorage.setItem('schedkit.lang', '{lang}');")
            page = await context.new_page()
            await page.goto(url + "login")  # an origin for the token in sessionStorage
            for name, path in pages.items():
                if name != "login":
                    await page.evaluate(
                        f"sessionStorage.setItem('schedkit.token', {json.dumps(token)})"
                    )
                await page.goto(url + path)
                await settle(page)
                target = out / f"{name}-{lang}.png"
                await page.screenshot(path=str(target), full_page=True)
                written.append(target)
            await context.close()
        await browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="docs/screenshots", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--only", nargs="*", default=[], help="Only these pages (names).")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    if not fonts.stdout.strip():
        raise SystemExit("no CJK font: run scripts/services.sh chromium (Chinese would be boxes)")
    args.out.mkdir(parents=True, exist_ok=True)
    with running_demo() as (url, token):
        written = asyncio.run(
            shoot(args.out, args.width, args.chromium, url, token, set(args.only))
        )
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
