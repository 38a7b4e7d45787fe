"""A wait for a run executing on another node ends when that node announces its end on
the notify channel, not at the wait's next read of the store (every 0.5 s: ``schedkit
run --wait`` and ``wait_for_run`` on a cluster answered up to half a second late)."""

from __future__ import annotations

import asyncio
import time

import pytest

from schedkit import RunStatus, TaskRegistry, task
from schedkit.service import runs
from tests.conftest import REDIS_VAR, service_url

from .conftest import MakeScheduler


@task("remote_quick")
async def remote_quick() -> str:
    await asyncio.sleep(0.2)
    return "done"


def _channel(kind: str) -> dict[str, object]:
    if kind == "redis":
        return {"notify": "redis", "redis_url": service_url(REDIS_VAR)}
    return {"notify": "postgres"}


@pytest.mark.parametrize(
    ("store_url", "kind"),
    [
        pytest.param("postgres", "postgres", id="postgres", marks=pytest.mark.external_service),
        pytest.param("mongo", "redis", id="mongo-redis", marks=pytest.mark.external_service),
    ],
    indirect=["store_url"],
)
async def test_a_wait_ends_when_another_node_announces_the_run_s_end(
    make_scheduler: MakeScheduler, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its reads of the store alone would now end it only after the bound below.
    monkeypatch.setattr(runs, "WAIT_POLL", 30.0)
    cluster = _channel(kind)
    worker = await make_scheduler(remote_quick, cluster=cluster)
    api_only = TaskRegistry()
    api_only.register_task(remote_quick)
    front = await make_scheduler(registry=api_only, cluster=cluster, executor={"enabled": False})
    run = await front.run_now("remote_quick")
    started = time.monotonic()
    ended = await front.wait_for_run(run.id, timeout=10)
    waited = time.monotonic() - started
    assert ended.status is RunStatus.SUCCESS, ended
    assert ended.node_id == worker.node_id
    assert waited < 5, f"the wait ended {waited:.1f} s after it began"
