"""``schedkit worker`` stopped while its store hangs exits in bounded time
(docs/deployment.md, "Stop timeouts").

A soak audit: with every FerretDB query timing out, ``schedkit serve`` and ``schedkit
worker`` were still running 2 minutes after SIGINT/SIGTERM (a systemd unit's
``TimeoutStopSec=60`` then SIGKILLs them). The worker's store goes through a TCP proxy
that holds its traffic (packets dropped silently, as by a firewall).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schedkit import RunStatus
from schedkit.stopping import STOP_WRITES_AFTER_GRACE
from tests.api.test_token_outage import through
from tests.store.proxy import Proxy

from .conftest import CONFIG, TASKS, Worker, management

pytestmark = pytest.mark.parametrize(
    "store_url",
    [
        pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
        pytest.param("mongo", id="mongo", marks=pytest.mark.external_service),
    ],
    indirect=True,
)

#: CONFIG's shutdown_grace.
GRACE = 1.0


async def test_a_worker_whose_store_hangs_exits_after_sigterm_and_says_what_it_left(
    store_url: str, proxy: Proxy, tmp_path: Path, workers: list[Worker]
) -> None:
    held = tmp_path / "held.toml"
    held.write_text(CONFIG.format(url=through(proxy, store_url), tasks=TASKS), encoding="utf-8")
    direct = tmp_path / "direct.toml"
    direct.write_text(CONFIG.format(url=store_url, tasks=TASKS), encoding="utf-8")

    worker = Worker(held)
    workers.append(worker)
    await asyncio.to_thread(worker.ready)
    async with management(direct) as s:
        run = await s.run_now("sleeper", {"seconds": 60})
        deadline = time.monotonic() + 30
        while (await s.get_run(run.id)).status is not RunStatus.RUNNING:
            assert time.monotonic() < deadline, "the run never started"
            await asyncio.sleep(0.05)

        proxy.held = True
        began = time.monotonic()
        worker.terminate()
        code, err = await asyncio.to_thread(worker.wait, 90)
        took = time.monotonic() - began
        # The drain's grace, the bound of the stop's writes after it, the claim and tick
        # in flight at the signal (10 s and lease_ttl at most), and the process's exit.
        assert took < GRACE + STOP_WRITES_AFTER_GRACE + 10 + 2 + 5, (took, err)
        assert code == 0, err
        assert "without its store's answer" in err, err
        assert run.id in err, err
        await proxy.cut()
