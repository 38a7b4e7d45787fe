"""A task's declaration checked as a whole when it is registered.

Everything a task declares is read when its runs are built, on the scheduler's path; a
value that cannot be used there (a misspelt ``retry_config`` key, ``task_priority =
"urgent"``, a default schedule its ``execute`` cannot accept) must stop its
registration, naming the task and the attribute, instead of failing every fire.
What needs every task registered (``depends_on``, workflow steps) is checked at start
by the registry.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, NoReturn

import pydantic

from schedkit.errors import TaskDefinitionError, ValidationError
from schedkit.placement import check_executor, check_isolation, check_labels
from schedkit.task import PRIORITY_CHOICES, BaseTask, TaskPriority
from schedkit.triggers import ScheduleSpec

__all__ = [
    "check_definition",
    "checked_name",
    "default_schedule_error",
    "inherits_default_schedule",
]


def checked_name(task: BaseTask) -> str:
    """The task's name; TaskDefinitionError naming where it is defined if it cannot
    be one (it is a path segment of the API: ``/tasks/{name}``)."""
    name = _read(task, "task_name", task.source)
    if (
        not isinstance(name, str)
        or not name
        or name != name.strip()
        or "/" in name
        or any(unicodedata.category(c) == "Cc" for c in name)
    ):
        raise TaskDefinitionError(
            f"{task.source}: task_name must be a non-empty string without surrounding "
            f"whitespace, '/' or control characters, not {name!r}"
        )
    return name


def check_definition(task: BaseTask, name: str) -> None:
    """Every attribute of task ``name`` that its runs are built from, and its default
    schedule as far as it does not depend on the configuration."""
    for attribute in ("task_description", "task_category"):
        text = _read(task, attribute, name)
        if not isinstance(text, str):
            _fail(name, attribute, f"must be a string, not {text!r}")
    _check_strings(name, "task_tags", _read(task, "task_tags", name))
    priority = _read(task, "task_priority", name)
    if (
        not isinstance(priority, int)
        or isinstance(priority, bool)
        or priority not in set(TaskPriority)
    ):
        _fail(name, "task_priority", f"must be one of {PRIORITY_CHOICES}, not {priority!r}")
    _read(task, "retry_policy", name)  # built from retry_config, which it checks
    timeout = _read(task, "timeout", name)
    if timeout is not None and not (
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and math.isfinite(timeout)
        and timeout > 0
    ):
        _fail(name, "timeout", f"must be None or a number of seconds > 0, not {timeout!r}")
    _check_strings(name, "depends_on", _read(task, "depends_on", name))
    owner = f"task {name!r}"
    check_isolation(_read(task, "isolation", name), owner)
    check_executor(_read(task, "executor", name), owner)
    check_labels(_read(task, "labels", name), owner)
    parameters = _read(task, "parameters", name)
    if parameters is not None and not (
        isinstance(parameters, type) and issubclass(parameters, pydantic.BaseModel)
    ):
        _fail(name, "parameters", f"must be a pydantic model class, not {parameters!r}")
    _check_default_schedule(task, name)


def inherits_default_schedule(task: BaseTask) -> bool:
    """Whether ``task`` keeps BaseTask's built-in default schedule (daily at 02:00): a
    class task that does not declare ``default_schedule`` itself."""
    return type(task).default_schedule is BaseTask.default_schedule


def default_schedule_error(task: BaseTask, name: str, error: Exception) -> TaskDefinitionError:
    """The error for a default schedule that cannot be registered: it says which one
    (BaseTask's built-in one, when the task kept it) and what to do."""
    built_in = inherits_default_schedule(task)
    attribute = "default schedule" + (" (BaseTask's built-in: daily at 02:00)" if built_in else "")
    fix = (
        'give the default schedule the kwargs its execute needs ("kwargs": {...})'
        if isinstance(error, ValidationError) and (error.field or "").startswith("kwargs")
        else "correct the default schedule"
    )
    return TaskDefinitionError(
        f"{error}; {fix}, or set default_schedule = None (@task: no schedule=) to run "
        "the task only on demand",
        task=name,
        attribute=attribute,
    )


def _check_default_schedule(task: BaseTask, name: str) -> None:
    config = _read(task, "default_schedule", name)
    if config is None:
        return
    try:
        # The zone only places the fires (the configured one is used at start).
        spec = ScheduleSpec.parse(config, default_timezone="UTC")
        task.validate_kwargs(spec.kwargs)
    except (ValidationError, TypeError, ValueError) as exc:
        raise default_schedule_error(task, name, exc) from None


def _check_strings(name: str, attribute: str, value: object) -> None:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        _fail(name, attribute, f"must be a list of strings, not {value!r}")
    bad = [v for v in value if not isinstance(v, str) or not v]
    if bad:
        _fail(name, attribute, f"must be a list of non-empty strings; {bad[0]!r} is not one")


def _read(task: BaseTask, attribute: str, name: str) -> Any:
    """``task.<attribute>``; a property that raises is the definition's fault."""
    try:
        return getattr(task, attribute)
    except ValidationError as exc:
        # A value checked on the way, such as retry_config's: the field it names.
        raise TaskDefinitionError(
            exc.message, task=name, attribute=exc.field or attribute
        ) from None
    except Exception as exc:
        raise TaskDefinitionError(
            f"reading it raised {type(exc).__name__}: {exc}", task=name, attribute=attribute
        ) from exc


def _fail(name: str, attribute: str, problem: str) -> NoReturn:
    raise TaskDefinitionError(problem, task=name, attribute=attribute)
