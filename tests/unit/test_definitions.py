"""A task's whole declaration is checked when it is registered (schedkit.definitions):
a value its runs cannot be built from stops the registration, naming the task and the
attribute, instead of failing every fire inside the scheduler loop."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schedkit import BaseTask, TaskDefinitionError, TaskRegistry, task


def _task_class(**attributes: Any) -> type[BaseTask]:
    """A valid task class ("bad", run on demand) with ``attributes`` set on it."""

    async def execute(self: BaseTask, **kwargs: Any) -> None:
        return None

    namespace = {
        "task_name": "bad",
        "task_description": "d",
        "task_category": "c",
        "default_schedule": None,
        "execute": execute,
        **attributes,
    }
    return type("Bad", (BaseTask,), namespace)


def _raising(message: str) -> property:
    def read(self: BaseTask) -> Any:
        raise RuntimeError(message)

    return property(read)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"retry_config": {"max_retries": 3, "retry_dealy": 60}},
            "task 'bad': retry_config.retry_dealy: unknown retry setting",
        ),
        (
            {"retry_config": {"max_retries": -1}},
            "task 'bad': retry_config.max_retries: must be >= 0",
        ),
        (
            {"retry_config": {"backoff_factor": 0}},
            "task 'bad': retry_config.backoff_factor: must be >= 1",
        ),
        (
            {"retry_config": {"max_retries": "3"}},
            "task 'bad': retry_config.max_retries: must be a whole number, not '3'",
        ),
        ({"retry_config": [3]}, "task 'bad': retry_config: must be a dict"),
        (
            {"task_priority": "urgent"},
            "task 'bad': task_priority: must be one of 1 (LOW), 2 (NORMAL), 3 (HIGH), "
            "4 (CRITICAL), not 'urgent'",
        ),
        ({"task_priority": 7}, "task 'bad': task_priority: must be one of"),
        ({"timeout": -5}, "task 'bad': timeout: must be None or a number of seconds > 0, not -5"),
        ({"timeout": 0}, "task 'bad': timeout: must be None"),
        ({"timeout": "60"}, "task 'bad': timeout: must be None"),
        ({"depends_on": "up"}, "task 'bad': depends_on: must be a list of strings, not 'up'"),
        ({"depends_on": ("up", 1)}, "task 'bad': depends_on: must be a list of non-empty strings"),
        ({"task_tags": "nightly"}, "task 'bad': task_tags: must be a list of strings"),
        ({"task_description": None}, "task 'bad': task_description: must be a string, not None"),
        ({"task_category": 3}, "task 'bad': task_category: must be a string"),
        ({"labels": property(lambda self: 123)}, "task 'bad': labels must be a list"),
        ({"executor": property(lambda self: "no such")}, "task 'bad': executor must be a name"),
        ({"parameters": dict}, "task 'bad': parameters: must be a pydantic model class"),
        (
            {"task_priority": _raising("priority service down")},
            "task 'bad': task_priority: reading it raised RuntimeError: priority service down",
        ),
        (
            {"default_schedule": {"trigger": "cron", "hour": 25}},
            "task 'bad': default schedule: trigger.hour: invalid hour '25': 25 is outside 0-23; "
            "correct the default schedule, or set default_schedule = None",
        ),
        (
            {"default_schedule": "0 25 * * *"},
            "task 'bad': default schedule: trigger.expression: bad hour '25'",
        ),
    ],
)
def test_a_bad_attribute_stops_registration_naming_task_and_attribute(
    attributes: dict[str, Any], expected: str
) -> None:
    reg = TaskRegistry()
    with pytest.raises(TaskDefinitionError) as info:
        reg.register_task(_task_class(**attributes))
    assert str(info.value).startswith(expected), str(info.value)
    assert "bad" not in reg


@pytest.mark.parametrize("name", ["", " padded", "a/b", "tab\there", "new\nline", 123, None])
def test_a_task_name_that_cannot_be_a_path_segment_is_refused(name: object) -> None:
    with pytest.raises(TaskDefinitionError, match="task_name must be a non-empty string"):
        TaskRegistry().register_task(_task_class(task_name=name))


@pytest.mark.parametrize("name", ["workflow.daily_close", "日报", "report daily", "a-b_c.d"])
def test_names_in_use_stay_valid(name: str) -> None:
    reg = TaskRegistry()
    reg.register_task(_task_class(task_name=name))
    assert name in reg


class _Settle(BaseTask):
    task_name = "settle_day"  # type: ignore[assignment]
    task_description = "d"  # type: ignore[assignment]
    task_category = "c"  # type: ignore[assignment]

    async def execute(self, day: date, limit: int = 10) -> dict[str, Any]:
        return {"day": day.isoformat(), "limit": limit}


def test_required_parameters_need_kwargs_in_the_default_schedule_or_none() -> None:
    with pytest.raises(TaskDefinitionError) as info:
        TaskRegistry().register_task(_Settle)
    assert str(info.value) == (
        "task 'settle_day': default schedule (BaseTask's built-in: daily at 02:00): "
        "kwargs.day: Field required; give the default schedule the kwargs its execute needs "
        '("kwargs": {...}), or set default_schedule = None (@task: no schedule=) to run the '
        "task only on demand"
    )
    on_demand = type("OnDemand", (_Settle,), {"default_schedule": None})
    given = type(
        "Given",
        (_Settle,),
        {"default_schedule": {"trigger": "cron", "hour": 2, "kwargs": {"day": "2026-01-05"}}},
    )
    reg = TaskRegistry()
    reg.register_task(on_demand)
    with pytest.raises(TaskDefinitionError, match="defined twice"):
        reg.register_task(given)  # the same name: the check passed, the name is taken
    assert TaskRegistry().register_task(given).default_schedule is not None


def test_function_task_arguments_are_checked_naming_the_task() -> None:
    @task("negative", timeout=-1)
    def negative() -> None: ...

    with pytest.raises(TaskDefinitionError, match="task 'negative': timeout: must be None"):
        TaskRegistry().register_task(negative)
    with pytest.raises(TaskDefinitionError, match=r"task 'r': retry_config\.retry_dealy: unknown"):
        task("r", retry={"retry_dealy": 1})(negative.func)
    with pytest.raises(TaskDefinitionError, match="task 'p': priority: must be one of"):
        task("p", priority="urgent")(negative.func)  # type: ignore[arg-type]
    with pytest.raises(TaskDefinitionError, match="task 'd': depends_on: must be a list"):
        task("d", depends_on="up")(negative.func)
    with pytest.raises(TaskDefinitionError, match=r"task 's': default schedule: trigger\.expr"):
        TaskRegistry().register_task(task("s", schedule="0 25 * * *")(negative.func))


def test_bare_task_decorator_is_refused_with_the_fix() -> None:
    with pytest.raises(TaskDefinitionError) as info:

        @task  # type: ignore[arg-type]
        def nightly() -> None: ...

    assert str(info.value) == (
        "@task needs parentheses: use @task('nightly') (or @task() to name the task after "
        "the function)"
    )
