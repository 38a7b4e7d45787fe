"""Finding 7: credentials in run errors and log lines reach neither the process log nor
the readers of the API."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import Api
from tests.api.helpers import wait_run
from tests.security.tasks import SECRETS


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def process_log() -> _Collect:
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_credentials_are_masked_in_the_log_and_for_readers(api: Api, process_log: _Collect) -> None:
    run_id = api.operator.post("/tasks/leaky/execute", json={}).json()["run_id"]
    wait_run(api.viewer, run_id)
    task_lines = [line for line in process_log.lines if line.startswith("schedkit.task.leaky")]
    assert len(task_lines) >= 2  # the task's own warning and "run failed" with traceback
    text = "\n".join(process_log.lines)
    assert "***" in text
    for secret in SECRETS:
        assert secret not in text
    for client in (api.viewer, api.admin):
        run = client.get(f"/runs/{run_id}").json()
        listed = client.get("/runs", params={"task": "leaky"}).json()["items"][0]
        logs = client.get(f"/runs/{run_id}/logs").json()["items"]
        shown = str(run["error"]) + str(listed["error"]) + str(logs)
        assert "postgresql://app:***@db.internal" in run["error"]["message"]
        for secret in SECRETS:
            assert secret not in shown
