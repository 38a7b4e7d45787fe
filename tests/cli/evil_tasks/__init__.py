"""A task whose error message and log line are whatever it is given: terminal escapes,
forged log lines, bidi controls (the log escaping tests)."""

from __future__ import annotations

import logging

from schedkit import task

logger = logging.getLogger(__name__)


@task(
    "evil_fail", category="evil", description="Fails with the text given.", retry={"max_retries": 0}
)
def evil_fail(msg: str) -> None:
    logger.warning("about to fail: %s", msg)
    raise RuntimeError(msg)
