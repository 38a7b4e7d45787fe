"""The app ``uvicorn tests.api.workers_app:app --workers 2`` serves in test_workers.py.

Each worker process imports this module and so runs its own schedkit node on the shared
SQLite store named by $SCHEDKIT_TEST_STORE_URL.
"""

from __future__ import annotations

import os

from schedkit import TaskRegistry
from schedkit.api import create_app
from tests.api.server import fast_config
from tests.api.tasks import tick

registry = TaskRegistry()
registry.register_task(tick)
app = create_app(fast_config(os.environ["SCHEDKIT_TEST_STORE_URL"]), registry=registry)
