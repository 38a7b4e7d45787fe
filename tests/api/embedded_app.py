"""A host FastAPI app embedding schedkit with ``mount_scheduler``, served by a plain
``uvicorn tests.api.embedded_app:app`` in test_events.py (the user's own server).

Its node runs on the SQLite store named by $SCHEDKIT_TEST_STORE_URL; every caller is
an admin (the host's user dependency answers one user).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from schedkit.integrations.fastapi import mount_scheduler
from tests.api.server import fast_config
from tests.api.tasks import api_registry


def host_user() -> str:
    return "host-user"


app = FastAPI()
mount_scheduler(
    app,
    # A short recheck: the test sees within a second that a stream without a token idles.
    fast_config(os.environ["SCHEDKIT_TEST_STORE_URL"], api={"stream_recheck": 0.2}),
    registry=api_registry(),
    user_dependency=host_user,
)
