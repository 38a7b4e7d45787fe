"""Task definitions: the decorator, declared parameters, results and retry policy."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from schedkit import RetryPolicy, TaskPriority, TaskResult, ValidationError, task
from schedkit.task import FunctionTask


def test_decorator_keeps_metadata_and_callability() -> None:
    @task(
        "report_monthly",
        description="月报",
        category="report",
        tags=["excel"],
        priority=TaskPriority.HIGH,
        schedule="0 6 1 * *",
        retry={"max_retries": 1},
    )
    def report_monthly(month: str, with_excel: bool = True) -> str:
        return f"{month}:{with_excel}"

    assert isinstance(report_monthly, FunctionTask)
    assert report_monthly.task_name == "report_monthly"
    assert report_monthly.task_description == "月报"
    assert report_monthly.task_priority is TaskPriority.HIGH
    assert report_monthly.default_schedule == "0 6 1 * *"
    assert report_monthly.retry_policy.max_retries == 1
    assert report_monthly("2026-10") == "2026-10:True"
    assert not report_monthly.is_async
    schema = report_monthly.parameters_schema()
    assert schema is not None and schema["required"] == ["month"]


def test_signature_parameters_validated_and_converted() -> None:
    @task(category="t")
    async def as_of_task(as_of: date | None = None, limit: int = 10) -> None:
        return None

    assert as_of_task.is_async
    stored = as_of_task.validate_kwargs({"as_of": "2026-11-28", "limit": "5"})
    assert stored == {"as_of": "2026-11-28", "limit": 5}
    assert as_of_task.prepare_kwargs(stored) == {"as_of": date(2026, 11, 28), "limit": 5}
    with pytest.raises(ValidationError) as err:
        as_of_task.validate_kwargs({"as_of": "not a date"})
    assert err.value.field == "kwargs.as_of"
    with pytest.raises(ValidationError) as err:
        as_of_task.validate_kwargs({"unexpected": 1})
    assert err.value.field == "kwargs.unexpected"


def test_result_normalization() -> None:
    assert TaskResult.from_value(None).success
    r = TaskResult.from_value({"success": False, "message": "失败", "extra_key": 1})
    assert not r.success and r.message == "失败" and r.extra == {"extra_key": 1}
    assert TaskResult.from_value(42).data == 42
    assert TaskResult.from_value({"data": date(2026, 1, 2)}).to_json()["data"] == "2026-01-02"


def test_retry_policy_backoff_capped_and_jittered() -> None:
    policy = RetryPolicy.from_config({"max_retries": 5, "retry_delay": 60, "backoff_factor": 2})
    assert policy.max_attempts == 6
    plain = RetryPolicy(retry_delay=60, backoff_factor=2, jitter=0, max_delay=200)
    assert [plain.delay(n) for n in (1, 2, 3, 4)] == [60, 120, 200, 200]
    rng = random.Random(1)
    delays = [policy.delay(2, rng) for _ in range(200)]
    assert min(delays) >= 108 and max(delays) <= 132 and len(set(delays)) > 100
    with pytest.raises(ValidationError) as err:
        RetryPolicy.from_config({"max_retries": 1, "retry_dleay": 5})
    assert err.value.field == "retry_config.retry_dleay"
    with pytest.raises(ValidationError):
        RetryPolicy(max_retries=-1)


def test_document_defaults() -> None:
    @task("d", category="t")
    def d(**kwargs: Any) -> None:
        return None

    from schedkit import BaseTask

    class Doc(BaseTask):
        task_name = "doc"  # type: ignore[assignment]
        task_description = "doc"  # type: ignore[assignment]
        task_category = "doc"  # type: ignore[assignment]

        async def execute(self, **kwargs: Any) -> dict[str, Any]:
            return {}

    doc = Doc()
    assert doc.task_tags == [] and doc.task_priority is TaskPriority.NORMAL
    assert doc.default_schedule == {
        "trigger": "cron",
        "hour": 2,
        "minute": 0,
        "misfire_grace_time": 300,
        "max_instances": 1,
    }
    assert doc.retry_config == {"max_retries": 3, "retry_delay": 60, "backoff_factor": 2}
    assert d.parameters is None and d.default_schedule is None


def test_storable_json_rejects_what_stores_refuse() -> None:
    from schedkit.models import storable_json

    assert storable_json({"客户": "华东电力"}) == '{"客户": "华东电力"}'.encode()
    assert storable_json("a\\u0000b")  # an escaped backslash before u0000 is plain text
    for bad, why in (("a\x00b", "NUL"), (float("nan"), "Out of range"), ("\ud800", "surrogate")):
        with pytest.raises(ValueError, match=why):
            storable_json(bad)
