"""How an attempt ended and whether it is retried: pure functions, no run executed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from schedkit.engine import attempt, retries
from schedkit.errors import ResultNotReadable
from schedkit.limits import MAX_RESULT_BYTES
from schedkit.models import Run, RunStatus, TriggerSource
from schedkit.task import RetryPolicy, TaskContext, TaskResult

T0 = datetime(2026, 12, 2, tzinfo=UTC)


def ctx() -> TaskContext:
    return TaskContext(
        run_id="r", task_name="t", schedule_id=None, scheduled_for=T0, attempt=1, kwargs={}
    )


def run(attempt_no: int = 1, max_attempts: int = 3) -> Run:
    return Run(
        id="r",
        task_name="t",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=T0,
        attempt=attempt_no,
        max_attempts=max_attempts,
    )


class TestJudgeResult:
    def test_success(self) -> None:
        outcome, failure = attempt.judge_result(TaskResult(success=True, data=1), ctx())
        assert outcome.status is RunStatus.SUCCESS and failure is None
        assert outcome.result is not None and outcome.result["data"] == 1

    def test_reported_failure_keeps_the_result_and_calls_on_failure(self) -> None:
        outcome, failure = attempt.judge_result(TaskResult(success=False, message="no data"), ctx())
        assert outcome.status is RunStatus.FAILED
        assert outcome.error == {"type": "TaskReportedFailure", "message": "no data"}
        assert isinstance(failure, attempt.TaskReportedFailure)

    def test_a_result_over_the_limit_fails_with_the_size(self) -> None:
        big = TaskResult(data="x" * (MAX_RESULT_BYTES + 1))
        outcome, _ = attempt.judge_result(big, ctx())
        assert outcome.status is RunStatus.FAILED
        assert outcome.error is not None and outcome.error["type"] == "ResultTooLargeError"

    def test_a_result_no_store_accepts_fails(self) -> None:
        outcome, _ = attempt.judge_result(TaskResult(data=float("nan")), ctx())
        assert outcome.error is not None and outcome.error["type"] == "ResultNotStorable"

    def test_a_cancel_asked_meanwhile_wins_over_the_result(self) -> None:
        c = ctx()
        c.cancel("by alice")
        outcome, failure = attempt.judge_result(TaskResult(success=True), c)
        assert (outcome.status, outcome.reason, failure) == (RunStatus.CANCELLED, "by alice", None)


class TestJudgeError:
    def test_an_exception_fails_the_run_with_its_traceback(self) -> None:
        try:
            raise ValueError("bad row 7")
        except ValueError as exc:
            outcome, failure = attempt.judge_error(exc, ctx())
        assert outcome.status is RunStatus.FAILED and failure is not None
        assert outcome.error is not None
        assert (outcome.error["type"], outcome.error["message"]) == ("ValueError", "bad row 7")
        assert "Traceback" in outcome.error["traceback"]
        assert outcome.retryable

    def test_an_unreadable_result_is_not_retried(self) -> None:
        """Like a result that cannot be stored: the task did its work."""
        outcome, failure = attempt.judge_error(ResultNotReadable("'success' is 'false'"), ctx())
        assert outcome.status is RunStatus.FAILED and isinstance(failure, ResultNotReadable)
        assert not outcome.retryable

    def test_the_error_of_a_cancelled_run_is_its_cancellation(self) -> None:
        c = ctx()
        c.cancel("replaced")
        outcome, failure = attempt.judge_error(RuntimeError("interrupted"), c)
        assert (outcome.status, failure) == (RunStatus.CANCELLED, None)


def test_timed_out_names_the_timeout() -> None:
    outcome, failure = attempt.timed_out(0.3)
    assert outcome.status is RunStatus.TIMEOUT
    assert str(failure) == "run exceeded its timeout of 0.3 s"


class TestRetries:
    policy = RetryPolicy(max_retries=2, retry_delay=10, backoff_factor=3, jitter=0)

    def test_a_failed_attempt_with_retries_left_is_retried_after_the_backoff(self) -> None:
        assert retries.retry_at(self.policy, run(1), RunStatus.FAILED, T0) == T0 + timedelta(
            seconds=10
        )
        assert retries.retry_at(self.policy, run(2), RunStatus.TIMEOUT, T0) == T0 + timedelta(
            seconds=30
        )

    def test_the_last_attempt_is_final(self) -> None:
        assert retries.retry_at(self.policy, run(3), RunStatus.FAILED, T0) is None
        assert retries.is_final(run(3), RunStatus.FAILED, registered=True)

    def test_success_and_cancel_are_never_retried(self) -> None:
        for status in (RunStatus.SUCCESS, RunStatus.CANCELLED):
            assert retries.retry_at(self.policy, run(1), status, T0) is None
            assert retries.is_final(run(1), status, registered=True)

    def test_a_lost_attempt_is_retried_like_a_failure(self) -> None:
        assert retries.retry_at(self.policy, run(1), RunStatus.LOST, T0) is not None
        assert not retries.is_final(run(1), RunStatus.LOST, registered=True)

    def test_a_task_unknown_here_is_not_retried(self) -> None:
        assert retries.retry_at(None, run(1), RunStatus.FAILED, T0) is None
        assert retries.is_final(run(1), RunStatus.FAILED, registered=False)

    def test_the_attempt_record_keeps_status_error_and_times(self) -> None:
        on_node = replace(run(2), node_id="n1")
        record = retries.attempt_error(
            on_node, RunStatus.TIMEOUT, {"type": "TimeoutError"}, T0, T0 + timedelta(seconds=1)
        )
        assert record == {
            "attempt": 2,
            "node_id": "n1",
            "status": "timeout",
            "error": {"type": "TimeoutError"},
            "started_at": T0.isoformat(),
            "finished_at": (T0 + timedelta(seconds=1)).isoformat(),
        }
