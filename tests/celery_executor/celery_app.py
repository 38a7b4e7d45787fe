"""The Celery app a test's worker runs (``celery -A tests.celery_executor.celery_app worker``),
written as an application would: its own ``Celery()`` and config, then ``install``.

The test passes the broker and the schedkit store through the environment."""

from __future__ import annotations

import os

from celery import Celery

from schedkit import TaskRegistry
from schedkit.integrations.celery import install
from tests.celery_executor.celery_tasks import TASKS
from tests.engine.conftest import fast_config

REDIS = os.environ.get("SCHEDKIT_TEST_REDIS_URL", "memory://")

app = Celery("schedkit_test", broker=REDIS, backend=REDIS)
app.conf.update(
    broker_connection_retry_on_startup=True,
    result_expires=300,
)

bridge = install(
    app,
    fast_config(os.environ.get("SCHEDKIT_TEST_CELERY_STORE", "sqlite:///celery-test.db")),
    registry=TaskRegistry(),
    tasks=TASKS,
)
