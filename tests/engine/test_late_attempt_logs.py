"""The log lines of a run's fourth attempt and later are stored, on every backend.

Line numbers of attempt n start at (n - 1) * SEQ_PER_ATTEMPT: attempt 4's first line is
3,000,000,000, past a 32-bit column. A run retried three times (the default policy
allows four attempts) lost every line of its last attempt on PostgreSQL, and the node
sent that batch again every half second, holding up the lines of its other runs."""

from __future__ import annotations

import logging

from schedkit import RunStatus, TaskContext, task
from schedkit.engine.executor import SEQ_PER_ATTEMPT

from .conftest import MakeScheduler

logger = logging.getLogger(__name__)


@task("fails_three_times", category="t", retry={"max_retries": 3, "retry_delay": 0.01})
def fails_three_times(ctx: TaskContext) -> None:
    logger.warning("attempt %d reads", ctx.attempt)
    if ctx.attempt < 4:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    logger.warning("attempt %d done", ctx.attempt)


async def test_lines_of_a_fourth_attempt_are_stored_after_the_others(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(fails_three_times)
    run = await s.run_now("fails_three_times", wait=True, timeout=30)
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.attempt == 4
    lines = [line for line in await s.get_logs(run.id) if line.logger == __name__]
    assert [(line.attempt, line.message) for line in lines] == [
        (1, "attempt 1 reads"),
        (2, "attempt 2 reads"),
        (3, "attempt 3 reads"),
        (4, "attempt 4 reads"),
        (4, "attempt 4 done"),
    ]
    assert lines[3].seq >= 3 * SEQ_PER_ATTEMPT
    # Paged after a line of attempt 3, as the console reads a log on.
    after = await s.get_logs(run.id, after_seq=lines[2].seq)
    assert [line.message for line in after if line.logger == __name__][:1] == ["attempt 4 reads"]
