"""What ``schedkit history`` says of a run waiting to be executed again: the error of the
attempt a retry follows, or that a drain handed the attempt back (which is no failure)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from schedkit import SchedkitConfig, SyncScheduler, TaskRegistry
from schedkit.cli.render import run_message
from schedkit.models import Run, RunStatus, TriggerSource
from schedkit.readmodels import run_view
from tests.cli.conftest import Cli

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def attempt_record(attempt: int, status: str, error: dict[str, str]) -> dict[str, object]:
    """An ``attempt_errors`` record as the engine writes it."""
    return {
        "attempt": attempt,
        "node_id": "node-a",
        "status": status,
        "error": {**error, "traceback": "Traceback (most recent call last): ..."},
        "started_at": NOW.isoformat(),
        "finished_at": NOW.isoformat(),
    }


def test_history_shows_the_error_a_pending_retry_follows(stored: Cli) -> None:
    """The message read ``type`` and ``message`` from the record itself, where the
    engine keeps them under ``error``: it said ``retry pending after: :``."""
    cli = stored
    node = SyncScheduler(SchedkitConfig.load(cli.config), registry=TaskRegistry())
    node.start()
    try:
        # The retry waits the default minute: the run stays pending at attempt 2.
        run = node.run_now("boom", max_attempts=2)
        deadline = time.monotonic() + 20
        while (run := node.get_run(run.id)).attempt < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        node.stop()
    assert (run.status, run.attempt) == (RunStatus.PENDING, 2)
    history = cli("history", "boom")
    assert history.exit_code == 0, history.output
    assert "retry pending after: ValueError: boom on purpose" in history.stdout
    # In Chinese too (an audit: the sentence stayed English in a Chinese table).
    zh = cli("--lang", "zh", "history", "boom")
    assert "等待重试，上次失败：ValueError: boom on purpose" in zh.stdout, zh.stdout
    (shown,) = json.loads(cli("--json", "history", "boom").stdout)["runs"]
    assert shown["failed_attempts"] == 1


def test_an_attempt_handed_back_by_a_drain_is_no_failed_attempt() -> None:
    run = Run(
        id="0190000000000000000000000000abcd",
        task_name="boom",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=NOW,
        attempt=3,
        max_attempts=4,
        attempt_errors=[
            attempt_record(1, "failed", {"type": "ValueError", "message": "boom on purpose"}),
            attempt_record(2, "cancelled", {"type": "HandedBack", "message": "the node drained"}),
        ],
    )
    assert run_message(run, "en", UTC) == "handed back: the node drained"
    view = run_view(run, UTC)
    assert view.failed_attempts == 1
    assert len(view.attempt_errors) == 2
    # What the run last failed with is the failure, not the drain's hand-back after it.
    assert view.last_failure == {"type": "ValueError", "message": "boom on purpose"}
