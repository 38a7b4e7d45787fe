"""Tasks whose errors, results, progress notes and log lines carry credentials (the CLI
redaction tests)."""

from __future__ import annotations

import logging
from typing import Any

from schedkit import TaskContext, task

#: A logger outside ``schedkit.*``: its lines are stored as written, masked when read.
logger = logging.getLogger(__name__)

LEAK = (
    "could not log in to postgresql://app:Hunter2pw@db.internal/x "
    "with password=Hunter2pw token=Tk999 secret: ShhSecret"
)
RESULT_LEAK = "loaded from postgresql://u:ResPw1@h/db"
#: What none of the CLI's output may show.
SECRETS = ("Hunter2pw", "Tk999", "ShhSecret", "ResPw1")


@task(
    "leaky_retry",
    category="leaky",
    description="Fails with credentials; retries in an hour.",
    retry={"max_retries": 1, "retry_delay": 3600},
)
def leaky_retry() -> dict[str, Any]:
    raise RuntimeError(LEAK)


@task(
    "leaky_fail", category="leaky", description="Fails with credentials.", retry={"max_retries": 0}
)
def leaky_fail(ctx: TaskContext | None = None) -> dict[str, Any]:
    if ctx is not None:
        ctx.progress(1, 2, "retrying with token=Tk999")
    logger.warning("connecting: %s", LEAK)
    raise RuntimeError(LEAK)


@task(
    "leaky_result",
    category="leaky",
    description="Reports credentials in its result.",
    retry={"max_retries": 0},
)
def leaky_result() -> dict[str, Any]:
    return {
        "success": True,
        "message": f"done, {RESULT_LEAK}",
        "data": None,
        "statistics": {"source": RESULT_LEAK, "db_password": "ResPw1"},
    }


@task("leaky_any", category="leaky", description="Takes any kwargs.", retry={"max_retries": 0})
def leaky_any(**kwargs: Any) -> dict[str, Any]:
    return {"success": True, "message": "ok", "data": None, "statistics": {}}
