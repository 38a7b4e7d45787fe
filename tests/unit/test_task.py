"""Task definitions: the decorator, declared parameters, results and retry policy."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime
from typing import Any, Optional

import pytest

from schedkit import (
    BaseTask,
    RetryPolicy,
    TaskContext,
    TaskDefinitionError,
    TaskPriority,
    TaskResult,
    ValidationError,
    task,
)
from schedkit.errors import ResultNotReadable
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


def test_a_dict_is_the_documents_result_only_by_the_documented_rule() -> None:
    # Any other dict is the task's data, whole: not keys spread beside success/message.
    plain = TaskResult.from_value({"n": 3, "flag": False})
    assert plain.to_json() == {
        "success": True,
        "message": "",
        "data": {"n": 3, "flag": False},
        "statistics": {},
    }
    assert TaskResult.from_value({"message": "x", "n": 3}).data == {"message": "x", "n": 3}
    # With ``success``: the document's result, other keys kept beside its four.
    doc = TaskResult.from_value({"success": True, "data": [1], "report": "x.xlsx"})
    assert (doc.success, doc.data, doc.extra) == (True, [1], {"report": "x.xlsx"})
    # Without ``success`` but only the document's keys: its result, a success.
    short = TaskResult.from_value({"message": "done", "statistics": {"rows": 3}})
    assert (short.success, short.message, short.statistics) == (True, "done", {"rows": 3})
    assert short.data is None and short.extra == {}
    # A stored result reads back as itself (isolation sends it through to_json).
    assert TaskResult.from_value(plain.to_json()) == plain


@pytest.mark.parametrize("success", ["false", "true", 0, 1, None, [False]])
def test_a_success_that_is_not_a_bool_is_an_error_naming_it(success: Any) -> None:
    with pytest.raises(ResultNotReadable) as err:
        TaskResult.from_value({"success": success, "message": "m"})
    assert str(err.value) == (
        f"the result's 'success' is {success!r} ({type(success).__name__}), not True or False"
    )


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


def _run_with_context(fn: FunctionTask, **kwargs: Any) -> Any:
    ctx = TaskContext(
        run_id="r1",
        task_name=fn.task_name,
        schedule_id=None,
        scheduled_for=datetime(2026, 12, 2, tzinfo=UTC),
        attempt=1,
        kwargs=kwargs,
    )
    token = ctx.activate()
    try:
        return ctx, fn.execute(**kwargs)
    finally:
        TaskContext.deactivate(token)


def test_a_parameter_annotated_task_context_receives_the_context_under_any_name() -> None:
    # ``context`` is the natural guess (class tasks read ``self.context``); it used to
    # fail at import with pydantic's PydanticSchemaGenerationError.
    @task("by_annotation")
    def by_annotation(day: int, context: TaskContext) -> tuple[int, TaskContext]:
        return day, context

    @task("optional_annotation")
    def optional_annotation(run: Optional[TaskContext] = None) -> TaskContext | None:  # noqa: UP045
        return run

    schema = by_annotation.parameters_schema()
    assert schema is not None and list(schema["properties"]) == ["day"]
    assert by_annotation.validate_kwargs({"day": 3}) == {"day": 3}
    ctx, result = _run_with_context(by_annotation, day=3)
    assert result == (3, ctx)
    assert optional_annotation.parameters is None or not optional_annotation.parameters.model_fields
    ctx, result = _run_with_context(optional_annotation)
    assert result is ctx


def test_two_context_parameters_are_refused_naming_task_and_parameters() -> None:
    with pytest.raises(TaskDefinitionError) as err:

        @task("two_contexts")
        def two_contexts(ctx: TaskContext, context: TaskContext) -> None: ...

    message = str(err.value)
    assert "'two_contexts'" in message and "'ctx'" in message and "'context'" in message


def test_an_unresolvable_task_context_annotation_says_how_to_fix_it() -> None:
    # TaskContext imported only under TYPE_CHECKING: the postponed annotation cannot be
    # resolved, so the parameter cannot be recognized as the context by its annotation.
    namespace: dict[str, Any] = {}
    source = "from __future__ import annotations\ndef only_typing(context: TaskContext): ..."
    exec(source, namespace)
    with pytest.raises(TaskDefinitionError) as err:
        task("only_typing")(namespace["only_typing"])
    message = str(err.value)
    assert "'only_typing'" in message and "'context'" in message
    assert "ctx" in message and "TYPE_CHECKING" in message


class Connection:
    """Not something pydantic can validate nor a store can keep."""


def test_an_unusable_parameter_type_names_the_task_and_parameter() -> None:
    with pytest.raises(TaskDefinitionError) as err:

        @task("takes_a_connection")
        def takes_a_connection(conn: Connection) -> None: ...

    message = str(err.value)
    assert "'takes_a_connection'" in message and "'conn'" in message and "parameters=" in message


# -- a BaseTask's typed execute ----------------------------------------------------------


class _Settle(BaseTask):
    """A class task whose ``execute`` names its parameters (and takes nothing else)."""

    task_name = "settle"  # type: ignore[assignment]
    task_description = "settle"  # type: ignore[assignment]
    task_category = "t"  # type: ignore[assignment]

    async def execute(self, day: date, limit: int = 10) -> dict[str, Any]:
        return {"day": day, "limit": limit}


def test_a_base_task_s_typed_execute_declares_its_parameters() -> None:
    """Read off the signature, as a function task's are: they were neither validated
    before anything was stored nor offered as a form, and a wrong or unknown key failed
    only when the run started (a TypeError, or a string where a date was meant)."""
    settle = _Settle()
    schema = settle.parameters_schema()
    assert schema is not None and schema["required"] == ["day"]
    stored = settle.validate_kwargs({"day": "2026-12-01", "limit": "5"})
    assert stored == {"day": "2026-12-01", "limit": 5}
    assert settle.prepare_kwargs(stored) == {"day": date(2026, 12, 1), "limit": 5}
    for bad, field in (({"limit": 5}, "kwargs.day"), ({"day": "2026-12-01", "x": 1}, "kwargs.x")):
        with pytest.raises(ValidationError) as err:
            settle.validate_kwargs(bad)
        assert err.value.field == field


def test_a_base_task_s_declared_parameters_win_and_an_override_is_read_again() -> None:
    class Declared(BaseTask):
        task_name = "declared"  # type: ignore[assignment]
        task_description = "declared"  # type: ignore[assignment]
        task_category = "t"  # type: ignore[assignment]
        parameters = None  # said outright: undeclared, whatever the signature

        async def execute(self, day: date) -> dict[str, Any]:
            return {}

    class Wider(_Settle):
        async def execute(
            self, day: date, limit: int = 10, dry_run: bool = False
        ) -> dict[str, Any]:
            return {}

    class Same(_Settle):
        pass

    assert Declared.parameters is None
    assert Wider().validate_kwargs({"day": "2026-12-01", "dry_run": True})["dry_run"] is True
    assert Same.parameters is _Settle.parameters


def test_a_base_task_s_unreadable_signature_is_logged_and_left_undeclared(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Such classes imported before their signatures were read: they still do."""
    with caplog.at_level(logging.WARNING, logger="schedkit.signatures"):

        class Pooled(BaseTask):
            task_name = "pooled"  # type: ignore[assignment]
            task_description = "pooled"  # type: ignore[assignment]
            task_category = "t"  # type: ignore[assignment]

            async def execute(self, conn: Connection | None = None) -> dict[str, Any]:
                return {}

    assert Pooled.parameters is None
    [record] = caplog.records
    assert (
        "'conn'" in record.getMessage()
        and "declares them in a `parameters` model" in record.getMessage()
    )
    assert "ctx" not in record.getMessage()  # advice for function tasks only
