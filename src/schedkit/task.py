"""Tasks: the design document's ``BaseTask``, the ``@task`` decorator, and what a task
sees while it runs (:class:`TaskContext`).

A class written exactly as in the design document (abstract properties, ``async def
execute(**kwargs)`` returning ``success/message/data/statistics``) works unchanged; a
synchronous ``execute`` runs in the executor's thread pool.
"""

from __future__ import annotations

import abc
import enum
import inspect
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar

import pydantic

from schedkit.context import TaskContext, current_context
from schedkit.errors import (
    ResultNotReadable,
    StaleKwargsError,
    TaskDefinitionError,
    ValidationError,
)
from schedkit.models import RunStatus, result_json, storable_json
from schedkit.parameters import declared_in_zone, stored_form, validated
from schedkit.placement import (
    LOCAL_EXECUTOR,
    Isolation,
    check_executor,
    check_isolation,
    check_labels,
)
from schedkit.signatures import context_parameter, execute_model, mimic, on_loop, signature_model

__all__ = [
    "BaseTask",
    "FunctionTask",
    "RetryPolicy",
    "TaskContext",
    "TaskPriority",
    "TaskResult",
    "TaskStatus",
    "current_context",
    "task",
]

#: The design document's name for the run status enum.
TaskStatus = RunStatus

#: The parameters and the return type of an ``@task`` function, kept by its FunctionTask.
P = ParamSpec("P")
R = TypeVar("R")


class TaskPriority(enum.IntEnum):
    """A task's priority: due runs of a higher one are claimed first."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    CRITICAL = 4


#: The priorities a task may declare, as errors list them.
PRIORITY_CHOICES = ", ".join(f"{p.value} ({p.name})" for p in TaskPriority)


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Retries of a failed, timed-out or lost attempt.

    Attempt n (1-based) that fails is retried after
    ``min(retry_delay * backoff_factor ** (n - 1), max_delay)`` seconds, spread by
    ``± jitter`` (a fraction) so that many failing runs do not retry in lockstep.
    """

    max_retries: int = 3
    retry_delay: float = 60.0
    backoff_factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        for name in ("max_retries", "retry_delay", "backoff_factor", "max_delay", "jitter"):
            value = getattr(self, name)
            whole = name == "max_retries"
            if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
                kind = "a whole number" if whole else "a number"
                field_name = f"retry_config.{name}"
                raise ValidationError(f"must be {kind}, not {value!r}", field=field_name)
        if self.max_retries < 0:
            raise ValidationError("must be >= 0", field="retry_config.max_retries")
        if self.retry_delay < 0:
            raise ValidationError("must be >= 0", field="retry_config.retry_delay")
        if self.max_delay < 0:
            raise ValidationError("must be >= 0", field="retry_config.max_delay")
        if self.backoff_factor < 1:
            raise ValidationError("must be >= 1", field="retry_config.backoff_factor")
        if not 0 <= self.jitter <= 1:
            raise ValidationError("must be between 0 and 1", field="retry_config.jitter")

    @classmethod
    def from_config(cls, config: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy:
        """Accept the design document's ``retry_config`` dict (unknown keys rejected)."""
        if config is None:
            return cls()
        if isinstance(config, RetryPolicy):
            return config
        if not isinstance(config, Mapping):
            raise ValidationError(f"must be a dict, not {config!r}", field="retry_config")
        allowed = {"max_retries", "retry_delay", "backoff_factor", "max_delay", "jitter"}
        unknown = set(config) - allowed
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError("unknown retry setting", field=f"retry_config.{name}")
        return cls(**config)

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.retry_delay * self.backoff_factor ** (failed_attempt - 1), self.max_delay)
        if not self.jitter or not base:
            return base
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))


#: The keys of the design document's result.
_DOCUMENT_KEYS = frozenset({"success", "message", "data", "statistics"})


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskResult:
    """The normalized outcome of ``execute``: the document's four keys plus any extras."""

    success: bool = True
    message: str = ""
    data: Any = None
    statistics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: Any) -> TaskResult:
        """What ``execute`` returned, read by the rule of docs/tasks.md:

        * ``None``: success, no data;
        * a dict with a ``success`` key: the document's result. ``success`` must be a
          bool, else :class:`ResultNotReadable` (``bool("false")`` is true). Keys other
          than the document's four are kept beside them (``extra``), as they always were;
        * a dict whose keys are all among ``message``, ``data``, ``statistics`` (the
          document's result without ``success``): that result, a success;
        * anything else, any other dict included: success, the value whole as ``data``
          (a function's ``{"n": 3}`` is its data, not keys of the run's result).
        """
        if value is None:
            return cls()
        if isinstance(value, TaskResult):
            return value
        if isinstance(value, Mapping) and (
            "success" in value or value.keys() <= _DOCUMENT_KEYS - {"success"}
        ):
            success = value.get("success", True)
            if not isinstance(success, bool):
                raise ResultNotReadable(
                    f"the result's 'success' is {success!r} ({type(success).__name__}), "
                    "not True or False"
                )
            stats = value.get("statistics") or {}
            return cls(
                success=success,
                message=str(value.get("message") or ""),
                data=value.get("data"),
                statistics=dict(stats) if isinstance(stats, Mapping) else {"value": stats},
                extra={k: v for k, v in value.items() if k not in _DOCUMENT_KEYS},
            )
        return cls(data=value)

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict; values JSON cannot carry natively (dates, decimals, ObjectIds)
        become their string form rather than failing the run after it did its work.
        ResultNotStorable if there is none (see :func:`~schedkit.models.result_json`)."""
        out: dict[str, Any] = {
            "success": self.success,
            "message": self.message,
            "data": self.data,
            "statistics": self.statistics,
            **self.extra,
        }
        converted: dict[str, Any] = result_json(out)
        return converted


def _json_kwargs(kwargs: Mapping[str, Any], field_prefix: str = "kwargs") -> dict[str, Any]:
    """Check that every value can be stored as JSON by every store."""
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise ValidationError("parameter names must be strings", field=field_prefix)
        try:
            storable_json(value)
        except ValueError as exc:
            raise ValidationError(str(exc), field=f"{field_prefix}.{key}") from None
    return dict(kwargs)


class BaseTask(abc.ABC):
    """The design document's task base class, unchanged, plus optional extras.

    Extras a subclass may set as class attributes:
    ``parameters`` (a pydantic model validating kwargs; exposed to API/console forms),
    ``timeout`` (seconds per attempt), ``depends_on`` (task names whose success triggers
    this task), ``isolation`` (``"process"``: each attempt runs in a child process that is
    killed at the timeout or on cancel; see docs/tasks.md), ``executor`` (``"celery"``:
    runs are sent to Celery workers instead of executing on schedkit nodes; see
    docs/celery.md), ``labels`` (labels a node must offer to execute its runs, e.g.
    ``("gpu",)``; see docs/cluster.md).
    """

    parameters: ClassVar[type[pydantic.BaseModel] | None] = None
    #: Whether ``parameters`` was read off ``execute``'s signature, not declared: a
    #: subclass overriding ``execute`` then has its own read.
    _parameters_inferred: ClassVar[bool] = False
    timeout: ClassVar[float | None] = None
    depends_on: ClassVar[tuple[str, ...]] = ()
    isolation: ClassVar[Isolation] = "thread"
    executor: ClassVar[str] = LOCAL_EXECUTOR
    labels: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if "isolation" in own and not isinstance(own["isolation"], property):
            check_isolation(cls.isolation, cls.__qualname__)
        if "executor" in own and not isinstance(own["executor"], property):
            check_executor(cls.executor, cls.__qualname__)
        if "labels" in own and not isinstance(own["labels"], property):
            cls.labels = check_labels(cls.labels, cls.__qualname__)
        if "parameters" in own:
            cls._parameters_inferred = False
        elif "execute" in own and (cls.parameters is None or cls._parameters_inferred):
            cls.parameters = execute_model(cls.execute, cls.__qualname__)
            cls._parameters_inferred = True

    def __init__(self) -> None:
        self.task_id: str | None = None
        self.execution_context: dict[str, Any] = {}

    @property
    @abc.abstractmethod
    def task_name(self) -> str:
        """Unique name of the task."""

    @property
    @abc.abstractmethod
    def task_description(self) -> str: ...

    @property
    @abc.abstractmethod
    def task_category(self) -> str: ...

    @property
    def task_tags(self) -> list[str]:
        return []

    @property
    def task_priority(self) -> TaskPriority:
        return TaskPriority.NORMAL

    @property
    def default_schedule(self) -> dict[str, Any] | str | None:
        """The schedule registered on start. ``None``: the task only runs on demand."""
        return {
            "trigger": "cron",
            "hour": 2,
            "minute": 0,
            "misfire_grace_time": 300,
            "max_instances": 1,
        }

    @property
    def retry_config(self) -> dict[str, Any]:
        return {"max_retries": 3, "retry_delay": 60, "backoff_factor": 2}

    # Declared ``(*args: Any, **kwargs: Any) -> Any``, not as the document's ``async def
    # execute(self, **kwargs) -> dict``: type checkers (mypy, pyright) read that signature
    # as "any parameters, any result", so a subclass may name its own parameters
    # (``execute(self, day: date, limit: int = 10)``, which schedkit reads as its
    # declaration) and be sync or async without an incompatible-override error.
    @abc.abstractmethod
    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """The task's work, called with the run's kwargs (``async def`` or a plain
        ``def``). Returns ``success``, ``message``, ``data``, ``statistics`` (see
        :meth:`TaskResult.from_value` for what else it may return)."""

    # The hooks' results are declared "or awaitable" so that an ``async def`` override
    # (tasks.md: hooks may be async) is not an incompatible override to type checkers.
    def validate_execution_environment(self) -> bool | Awaitable[bool]:
        return True

    def before_execution(self) -> Awaitable[None] | None:
        return None

    def after_execution(self, result: dict[str, Any]) -> Awaitable[None] | None:
        return None

    def on_failure(self, error: Exception) -> Awaitable[None] | None:
        return None

    # -- schedkit extras ------------------------------------------------------------------

    @property
    def context(self) -> TaskContext:
        """The context of the current run (only valid inside a run)."""
        ctx = current_context()
        if ctx is None:
            raise RuntimeError(f"task {self.task_name!r}: no run is executing in this context")
        return ctx

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy.from_config(self.retry_config)

    @property
    def is_async(self) -> bool:
        return on_loop(self.execute)

    def parameters_schema(self) -> dict[str, Any] | None:
        """JSON Schema of the declared parameters, for forms; None if undeclared."""
        model = self.parameters
        return model.model_json_schema() if model is not None else None

    def validate_kwargs(
        self, kwargs: Mapping[str, Any] | None, *, tz: tzinfo | None = None
    ) -> dict[str, Any]:
        """Check kwargs against the declaration and return their JSON form for storage,
        declared date-times without an offset read as wall times in ``tz`` if given
        (:mod:`schedkit.parameters`). Raises ValidationError naming ``kwargs.<field>``.
        """
        if kwargs is not None and not isinstance(kwargs, Mapping):
            # Callers pass what they were given (a JSON body, a Python call): a list made
            # a TypeError of dict() that named nothing.
            raise ValidationError(
                f"must be an object of parameter names to values, not {type(kwargs).__name__}",
                field="kwargs",
            )
        kwargs = dict(kwargs or {})
        model = self.parameters
        if model is None:
            return _json_kwargs(kwargs)
        return _json_kwargs(stored_form(declared_in_zone(validated(model, kwargs), tz)))

    def prepare_kwargs(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Turn stored (JSON) kwargs into the Python values ``execute`` receives;
        StaleKwargsError when they no longer fit the declaration."""
        model = self.parameters
        if model is None:
            return dict(stored)
        try:
            instance = validated(model, stored)
        except ValidationError as exc:
            raise StaleKwargsError(str(exc), exc.field) from None
        values = {name: getattr(instance, name) for name in model.model_fields}
        return {**(instance.model_extra or {}), **values}

    @property
    def source(self) -> str:
        """Where the task is defined (for duplicate-name messages)."""
        return _location(definition(self))


class FunctionTask(BaseTask, Generic[P, R]):
    """A task made from a plain function by :func:`task`. Calling it calls the function:
    generic over the function's parameters and result, so that type checkers see the
    function's own signature (``FunctionTask[[int], int]``) rather than ``(...) -> Any``."""

    def __init__(
        self,
        func: Callable[P, R],
        *,
        name: str,
        description: str,
        category: str,
        tags: list[str],
        priority: TaskPriority,
        schedule: dict[str, Any] | str | None,
        retry: RetryPolicy | Mapping[str, Any] | None,
        timeout: float | None,
        parameters: type[pydantic.BaseModel] | None,
        depends_on: tuple[str, ...],
        isolation: Isolation = "thread",
        executor: str = LOCAL_EXECUTOR,
        labels: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.func: Callable[P, R] = func
        self._isolation = check_isolation(isolation, f"task {name!r}")
        self._executor = check_executor(executor, f"task {name!r}")
        self._labels = check_labels(labels, f"task {name!r}")
        self._name = name
        self._description = description
        self._category = category
        self._tags = tags
        self._priority = priority
        self._schedule = schedule
        try:
            self._retry = RetryPolicy.from_config(retry)
        except ValidationError as exc:
            raise TaskDefinitionError(exc.message, task=name, attribute=exc.field) from None
        self._timeout = timeout
        self._context_param = context_parameter(func, name)
        # Asked several times per run (thread or loop, each hook); the function is fixed.
        self._is_async = on_loop(func)
        self._parameters = (
            parameters
            if parameters is not None
            else signature_model(func, name, self._context_param)
        )
        self._depends_on = depends_on
        mimic(self, func)

    # Instance attributes shadow the ClassVars of BaseTask on purpose: each function
    # task carries its own declaration.
    @property
    def parameters(self) -> type[pydantic.BaseModel] | None:  # type: ignore[override]
        return self._parameters

    @property
    def timeout(self) -> float | None:  # type: ignore[override]
        return self._timeout

    @property
    def depends_on(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._depends_on

    @property
    def isolation(self) -> Isolation:  # type: ignore[override]
        return self._isolation

    @property
    def executor(self) -> str:  # type: ignore[override]
        return self._executor

    @property
    def labels(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._labels

    @property
    def task_name(self) -> str:
        return self._name

    @property
    def task_description(self) -> str:
        return self._description

    @property
    def task_category(self) -> str:
        return self._category

    @property
    def task_tags(self) -> list[str]:
        return list(self._tags)

    @property
    def task_priority(self) -> TaskPriority:
        return self._priority

    @property
    def default_schedule(self) -> dict[str, Any] | str | None:
        return self._schedule

    @property
    def retry_policy(self) -> RetryPolicy:
        # The policy as given, not rebuilt from retry_config on every fire and run end.
        return self._retry

    @property
    def retry_config(self) -> dict[str, Any]:
        p = self._retry
        return {
            "max_retries": p.max_retries,
            "retry_delay": p.retry_delay,
            "backoff_factor": p.backoff_factor,
            "max_delay": p.max_delay,
            "jitter": p.jitter,
        }

    @property
    def is_async(self) -> bool:
        return self._is_async

    def execute(self, **kwargs: Any) -> Any:
        if self._context_param is not None:
            kwargs[self._context_param] = self.context
        # The run's kwargs were validated against the function's signature, which a
        # type checker cannot know of a dict.
        func: Callable[..., R] = self.func
        return func(**kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)


def definition(task: BaseTask) -> Any:
    """The function of a function task, else the task's class: the object whose module
    holds the task's code (and names the logger its ``logging.getLogger(__name__)`` gets)."""
    return task.func if isinstance(task, FunctionTask) else type(task)


def _location(obj: Any) -> str:
    """``file:line (module.qualname)`` of a class or function, as far as known."""
    name = f"{obj.__module__}.{obj.__qualname__}"
    try:
        return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]} ({name})"
    except (TypeError, OSError):
        return name


def task(
    name: str | None = None,
    *,
    description: str = "",
    category: str = "default",
    tags: list[str] | None = None,
    priority: TaskPriority | int = TaskPriority.NORMAL,
    schedule: dict[str, Any] | str | None = None,
    retry: RetryPolicy | Mapping[str, Any] | None = None,
    timeout: float | None = None,
    parameters: type[pydantic.BaseModel] | None = None,
    depends_on: tuple[str, ...] | list[str] = (),
    isolation: Isolation = "thread",
    executor: str = LOCAL_EXECUTOR,
    labels: tuple[str, ...] | list[str] = (),
) -> Callable[[Callable[P, R]], FunctionTask[P, R]]:
    """Make a task from a function (sync or async)::

        @task("report_daily", category="report", schedule={"trigger": "cron", "hour": 6})
        async def report_daily(day: date | None = None, ctx: TaskContext | None = None): ...

    Annotated parameters become the task's declared parameters unless ``parameters``
    gives a model. A ``ctx`` parameter, or one annotated :class:`TaskContext`, receives
    the run's context. Unlike a BaseTask, a function task has no schedule unless
    ``schedule`` is given. ``isolation="process"`` runs each attempt in a child process
    (the function must be defined at the top level of an importable module);
    ``executor="celery"`` sends its runs to Celery workers (docs/celery.md). Only nodes
    offering every one of ``labels`` execute its runs.
    """

    if callable(name):
        # ``@task`` without parentheses would make the function this decorator's name
        # and return a decorator in its place: no task, and a confusing error later.
        raise TaskDefinitionError(
            f"@task needs parentheses: use @task({name.__name__!r}) "
            "(or @task() to name the task after the function)"
        )

    def decorate(func: Callable[P, R]) -> FunctionTask[P, R]:
        if not callable(func):
            raise TaskDefinitionError(f"@task needs a function, got {func!r}")
        task_name = name or func.__name__
        if priority not in set(TaskPriority) or isinstance(priority, bool):
            raise TaskDefinitionError(
                f"must be one of {PRIORITY_CHOICES}, not {priority!r}",
                task=task_name,
                attribute="priority",
            )
        return FunctionTask(
            func,
            name=task_name,
            description=description or inspect.getdoc(func) or "",
            category=category,
            tags=list(_listed(tags or [], task_name, "tags")),
            priority=TaskPriority(priority),
            schedule=schedule,
            retry=retry,
            timeout=timeout,
            parameters=parameters,
            depends_on=_listed(depends_on, task_name, "depends_on"),
            isolation=isolation,
            executor=executor,
            labels=labels,
        )

    return decorate


def _listed(value: object, name: str, attribute: str) -> tuple[Any, ...]:
    """A list argument of ``@task`` as a tuple (its items are checked on registration):
    a string given for it would otherwise be read as a list of characters."""
    if isinstance(value, list | tuple):
        return tuple(value)
    raise TaskDefinitionError(f"must be a list, not {value!r}", task=name, attribute=attribute)
