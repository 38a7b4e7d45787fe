"""One step that fails its first attempt and retries ten minutes later."""

from __future__ import annotations

from schedkit import Step, Workflow, task


@task("flaky", retry={"max_retries": 1, "retry_delay": 600}, schedule=None)
def flaky() -> None:
    raise ValueError("the market feed was late")


FLAKY_CLOSE = Workflow("flaky_close", [Step(name="fetch", task="flaky")])
