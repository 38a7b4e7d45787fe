"""The Celery app a test's worker runs (``celery -A tests.celery_executor.celery_app worker``),
written as an application would: its own ``Celery()`` and config, then ``install``.

The test passes the broker and the schedkit store through the environment; a worker lent
to one test after another (conftest.SharedWorker) is told each test's store by the
control command below."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.worker.control import control_command

from schedkit import TaskRegistry
from schedkit.integrations.celery import install
from tests.celery_executor.celery_tasks import TASKS
from tests.engine.conftest import FAST

REDIS = os.environ.get("SCHEDKIT_TEST_REDIS_URL", "memory://")

app = Celery("schedkit_test", broker=REDIS, backend=REDIS)
app.conf.update(
    broker_connection_retry_on_startup=True,
    result_expires=300,
)

# Read by the bridge as each of this process's schedkit nodes starts (tests.engine's
# fast_config, as a mapping).
CONFIG: dict[str, Any] = {
    **FAST,
    "store_url": os.environ.get("SCHEDKIT_TEST_CELERY_STORE", "sqlite:///celery-test.db"),
}

bridge = install(app, CONFIG, registry=TaskRegistry(), tasks=TASKS)


@control_command(args=[("store_url", str)], signature="[store_url]")
def schedkit_test_store(state: Any, store_url: str | None = None) -> dict[str, str]:
    """Stop this worker's schedkit node (before its test's store is dropped); the next
    message starts one on ``store_url`` (a solo or threads pool: the node is the worker
    process's own)."""
    bridge.close()
    if store_url is not None:
        CONFIG["store_url"] = store_url
    return {"ok": "schedkit node stopped"}
