"""A workflow: a named DAG of steps, each running one task, checked when it is defined.

A definition is plain data (``to_json`` / ``from_json``): a workflow run keeps the
definition it was started with, so changing the code never changes a run in flight.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pydantic

from schedkit.errors import ValidationError
from schedkit.models import JSON, storable_json

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_E = TypeVar("_E", bound=enum.StrEnum)


class StepCondition(enum.StrEnum):
    """When a step runs, once every step it comes ``after`` has finished."""

    #: Every upstream step succeeded (the default).
    SUCCESS = "success"
    #: At least one upstream step failed (failed, timed out, lost or cancelled).
    FAILURE = "failure"
    #: Whatever the upstream steps did.
    ALWAYS = "always"


#: :class:`StepCondition`'s values, as ``Step(on=...)`` takes them written out.
StepConditionName = Literal["success", "failure", "always"]


class FailurePolicy(enum.StrEnum):
    """What a failed step does to the steps not started yet."""

    #: Start no further step that needs success: only ``failure`` / ``always`` steps
    #: still run. Steps already running finish.
    STOP = "stop"
    #: Steps that do not depend on the failed one go on (independent branches).
    CONTINUE = "continue"


class WorkflowDefinitionError(ValidationError):
    """A workflow definition is malformed: a bad name, an unknown upstream, a cycle."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One node of the DAG: run ``task`` (a registered task name) with ``kwargs`` when the
    steps named in ``after`` have finished and ``on`` holds (a :class:`StepCondition`
    or its value, as ``Workflow(failure_policy=)`` takes a :class:`FailurePolicy`'s)."""

    name: str
    task: str
    after: tuple[str, ...] = ()
    on: StepCondition = StepCondition.SUCCESS
    kwargs: JSON = field(default_factory=dict)

    def __init__(
        self,
        *,
        name: str,
        task: str,
        after: tuple[str, ...] = (),
        on: StepCondition | StepConditionName = StepCondition.SUCCESS,
        kwargs: JSON | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "task", task)
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "on", _enum(StepCondition, on, f"steps.{name}.on"))
        object.__setattr__(self, "kwargs", {} if kwargs is None else kwargs)

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "task": self.task,
            "after": list(self.after),
            "on": self.on.value,
            "kwargs": dict(self.kwargs),
        }


@dataclass(frozen=True, slots=True)
class Workflow:
    """A named DAG of steps. Construction validates it: unique step names, known
    upstream steps, no cycle (the error names one), JSON-storable kwargs.

    ``schedule``: the workflow's default schedule (the same forms as a task's
    ``default_schedule``), or None to start it only by hand. ``params``: the params it
    takes, as a pydantic model (None: any, see :mod:`schedkit.workflows.params`); checked
    when a run starts, so not part of the stored definition.
    """

    name: str
    steps: tuple[Step, ...]
    failure_policy: FailurePolicy = FailurePolicy.STOP
    description: str = ""
    schedule: dict[str, Any] | str | None = None
    params: type[pydantic.BaseModel] | None = None

    def __init__(
        self,
        name: str,
        steps: Iterable[Step],
        *,
        failure_policy: FailurePolicy | str = FailurePolicy.STOP,
        description: str = "",
        schedule: dict[str, Any] | str | None = None,
        params: type[pydantic.BaseModel] | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", tuple(_step(s) for s in steps))
        object.__setattr__(
            self, "failure_policy", _enum(FailurePolicy, failure_policy, "failure_policy")
        )
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "schedule", schedule)
        object.__setattr__(self, "params", params)
        _validate(self)

    @classmethod
    def chain(cls, name: str, tasks: Sequence[str], **options: Any) -> Workflow:
        """A straight line: each task after the one before (steps named after tasks)."""
        steps = [
            Step(name=t, task=t, after=(tasks[i - 1],) if i else ()) for i, t in enumerate(tasks)
        ]
        return cls(name, steps, **options)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise WorkflowDefinitionError(f"workflow {self.name!r} has no step {name!r}", field="step")

    @property
    def task_names(self) -> list[str]:
        return sorted({s.task for s in self.steps})

    def layers(self) -> list[list[str]]:
        """Step names by depth (a step sits one layer below its deepest upstream step),
        each layer in definition order: the graph view's columns."""
        depth: dict[str, int] = {}
        for s in topological(self.steps):
            depth[s.name] = 1 + max((depth[u] for u in s.after), default=-1)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for s in self.steps:
            out[depth[s.name]].append(s.name)
        return out

    def downstream(self, name: str) -> list[str]:
        """Steps that come directly after ``name``."""
        return [s.name for s in self.steps if name in s.after]

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "failure_policy": self.failure_policy.value,
            "description": self.description,
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Workflow:
        """The definition stored with a workflow run (validated again)."""
        try:
            steps = [
                Step(
                    name=s["name"],
                    task=s["task"],
                    after=tuple(s.get("after", ())),
                    on=s.get("on", StepCondition.SUCCESS),
                    kwargs=dict(s.get("kwargs") or {}),
                )
                for s in data["steps"]
            ]
            return cls(
                data["name"],
                steps,
                failure_policy=data.get("failure_policy", FailurePolicy.STOP),
                description=data.get("description", ""),
            )
        except (KeyError, TypeError) as exc:
            raise WorkflowDefinitionError(f"malformed workflow definition: {exc!r}") from None


def topological(steps: Sequence[Step]) -> list[Step]:
    """``steps`` in an order where each comes after its upstream steps (Kahn's
    algorithm, ties in definition order). Raises WorkflowDefinitionError naming a cycle."""
    by_name = {s.name: s for s in steps}
    remaining = {s.name: len(set(s.after)) for s in steps}
    order: list[Step] = []
    ready = [s.name for s in steps if remaining[s.name] == 0]
    while ready:
        name = ready.pop(0)
        order.append(by_name[name])
        for s in steps:
            if name in s.after:
                remaining[s.name] -= 1
                if remaining[s.name] == 0:
                    ready.append(s.name)
    if len(order) < len(steps):
        cycle = _a_cycle(by_name, {n for n, left in remaining.items() if left > 0})
        raise WorkflowDefinitionError(f"steps form a cycle: {' → '.join(cycle)}", field="steps")
    return order


def _a_cycle(by_name: Mapping[str, Step], stuck: set[str]) -> list[str]:
    """One cycle among the steps Kahn's algorithm could not order: walk upstream from a
    stuck step (every stuck step has a stuck upstream) until a step repeats."""
    path: list[str] = []
    name = min(stuck)
    while name not in path:
        path.append(name)
        name = next(u for u in by_name[name].after if u in stuck)
    cycle = path[path.index(name) :]
    cycle.reverse()  # upstream first: a → b → a reads "b runs after a"
    return [*cycle, cycle[0]]


def _validate(wf: Workflow) -> None:
    if not isinstance(wf.name, str) or not _NAME_RE.fullmatch(wf.name):
        raise WorkflowDefinitionError(
            f"workflow name {wf.name!r}: 1-100 letters, digits, '_', '.' or '-'", field="name"
        )
    if not wf.steps:
        raise WorkflowDefinitionError(f"workflow {wf.name!r} has no steps", field="steps")
    if wf.params is not None and not (
        isinstance(wf.params, type) and issubclass(wf.params, pydantic.BaseModel)
    ):
        raise WorkflowDefinitionError(
            f"workflow {wf.name!r}: params must be a pydantic model class", field="params"
        )
    seen: set[str] = set()
    for s in wf.steps:
        where = f"steps.{s.name}"
        if not isinstance(s.name, str) or not _NAME_RE.fullmatch(s.name):
            raise WorkflowDefinitionError(
                f"step name {s.name!r}: 1-100 letters, digits, '_', '.' or '-'", field="steps"
            )
        if s.name in seen:
            raise WorkflowDefinitionError(f"step {s.name!r} is defined twice", field=where)
        seen.add(s.name)
        if not isinstance(s.task, str) or not s.task:
            raise WorkflowDefinitionError("a step needs a task name", field=f"{where}.task")
        try:
            storable_json(s.kwargs)
        except ValueError as exc:
            raise WorkflowDefinitionError(str(exc), field=f"{where}.kwargs") from None
    for s in wf.steps:
        for up in s.after:
            if up == s.name:
                raise WorkflowDefinitionError(
                    f"step {s.name!r} comes after itself", field=f"steps.{s.name}.after"
                )
            if up not in seen:
                raise WorkflowDefinitionError(
                    f"step {s.name!r} comes after {up!r}, which is not a step of {wf.name!r}",
                    field=f"steps.{s.name}.after",
                )
        if s.on is not StepCondition.SUCCESS and not s.after:
            raise WorkflowDefinitionError(
                f"step {s.name!r} runs on {s.on.value} but comes after no step",
                field=f"steps.{s.name}.on",
            )
    topological(wf.steps)


def _step(value: Step | Mapping[str, Any]) -> Step:
    if isinstance(value, Step):
        # Typed as a tuple, but a single name or a list is what people write.
        after: Any = value.after
        return Step(
            name=value.name,
            task=value.task,
            after=(after,) if isinstance(after, str) else tuple(after),
            on=value.on,
            kwargs=dict(value.kwargs),
        )
    return _step(Step(**value))


def _enum(cls: type[_E], value: Any, where: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise WorkflowDefinitionError(f"{value!r} is not one of {allowed}", field=where) from None
