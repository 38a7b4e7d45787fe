"""A task that fails on every attempt with a short retry delay (tests/cli/test_run_here.py):
a run of two attempts that takes about a second, each attempt a moment."""

from __future__ import annotations

from schedkit import task


@task(
    "fails_twice",
    category="demo",
    description="Fails on both of its attempts.",
    retry={"max_retries": 1, "retry_delay": 0.8, "jitter": 0},
)
def fails_twice() -> None:
    raise RuntimeError("still broken")
