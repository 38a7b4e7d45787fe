"""Result files: a run's result names files; the API serves exactly those, nothing else."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from schedkit import TaskRegistry, task
from schedkit.api import create_app
from schedkit.store import create_store
from schedkit.tokens import Role, create_token
from tests.api.helpers import problem, wait_run
from tests.api.server import LiveServer, fast_config

PREFIX = "/api/v1/scheduler"


def test_download_flow(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "daily").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("not for download")

    @task("make_report", category="report")
    def make_report(day: str = "2026-11-27") -> dict[str, Any]:
        name = f"daily/report-{day}.csv"
        (reports / name).write_text("customer,volume\n电力用户A,120.5\n", encoding="utf-8")
        return {"success": True, "data": {"files": [name, "../secret.txt", "daily/gone.csv"]}}

    registry = TaskRegistry()
    registry.register_task(make_report)
    url = f"sqlite:///{tmp_path / 'schedkit.db'}"

    async def token() -> str:
        async with create_store(url) as store:
            issued = await create_token(store, name="ops", role=Role.OPERATOR, actor="t")
            return issued.secret

    secret = asyncio.run(token())
    app = create_app(fast_config(url, result_files_dir=str(reports)), registry=registry)
    with (
        LiveServer(app) as server,
        httpx.Client(
            base_url=server.url + PREFIX, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        ) as client,
    ):
        run_id = client.post("/tasks/make_report/execute", json={"kwargs": {}}).json()["run_id"]
        run = wait_run(client, run_id)
        assert run["status"] == "success"
        ok = client.get(f"/runs/{run_id}/files/daily/report-2026-11-27.csv")
        assert ok.status_code == 200
        assert ok.content.decode("utf-8") == "customer,volume\n电力用户A,120.5\n"
        assert "report-2026-11-27.csv" in ok.headers["content-disposition"]
        # Listed but outside the folder, listed but deleted, not listed at all: 404.
        for name, why in (
            ("..%2Fsecret.txt", "outside"),  # encoded: clients normalise a literal ../
            ("daily/gone.csv", "no longer exists"),
            ("daily/other.csv", "does not list"),
        ):
            body = problem(client.get(f"/runs/{run_id}/files/{name}"), 404)
            assert why in body["detail"]
