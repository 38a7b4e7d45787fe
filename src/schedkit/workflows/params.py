"""A workflow run's params, checked before anything is stored.

Params reach every step in ``TaskContext.workflow["params"]``, and a step's task may
declare a parameter of the same name that it reads the param into when its own kwargs
leave it out (the power-trading tasks' ``as_of``). So a param is checked against:

* the workflow's own declaration (``Workflow(params=Model)``), when it has one: a name
  it does not declare is refused, as is a value it does not accept;
* every step whose task declares a parameter of that name: the value must be one that
  parameter accepts.

Without a declaration, a param no step's task declares is free (steps may read any
param from their context). Errors name ``params.<name>``, or ``kwargs.<name>`` for a
launcher run's kwargs, which become the params of the workflow run it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from schedkit.errors import ValidationError
from schedkit.models import storable_json
from schedkit.parameters import refusing_checker, validated
from schedkit.task import BaseTask
from schedkit.workflows.definition import Workflow

__all__ = ["check_params"]

#: Finds a step's task by name (None: not registered, which the registry reports).
TaskLookup = Callable[[str], BaseTask | None]


def check_params(
    wf: Workflow, find_task: TaskLookup, params: Any, *, field: str = "params"
) -> dict[str, Any]:
    """``params`` as a dict, once checked (see the module docstring), each declared
    value as its declaration reads it; ValidationError naming ``<field>.<name>``
    otherwise."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValidationError(
            f"must be an object of param names to values, not {type(params).__name__}",
            field=field,
        )
    values = dict(params)
    # Each value as the first declaration of it reads it (the workflow's, else a step's),
    # so steps reading params from their context get "2026-12-01", not the
    # "2026-12-01T00:00:00" the declaration accepted for a date.
    normalized: dict[str, Any] = {}
    if wf.params is not None:
        declared = _check_declared(wf, wf.params, values, field).model_dump(mode="json")
        normalized = {name: declared[name] for name in values if name in declared}
    for step in wf.steps:
        task = find_task(step.task)
        model = task.parameters if task is not None else None
        for name, value in values.items():
            found = model.model_fields.get(name) if model is not None else None
            if found is not None:
                where = f"step {step.name} (task {step.task})"
                read = _check_value(found, value, f"{field}.{name}", where)
                normalized.setdefault(name, read)
    values |= normalized
    for name, value in values.items():
        try:
            storable_json(value)
        except ValueError as exc:
            raise ValidationError(str(exc), field=f"{field}.{name}") from None
    return values


def _check_declared(
    wf: Workflow, model: type[pydantic.BaseModel], values: dict[str, Any], field: str
) -> pydantic.BaseModel:
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        known = ", ".join(model.model_fields) or "none"
        raise ValidationError(
            f"workflow {wf.name!r} takes no param {unknown[0]!r} (its params: {known})",
            field=f"{field}.{unknown[0]}",
        )
    return validated(model, values, field)


def _check_value(declared: pydantic.fields.FieldInfo, value: Any, field: str, where: str) -> Any:
    """``value`` as the parameter ``declared`` reads it, in JSON form."""
    adapter = pydantic.TypeAdapter(declared.rebuild_annotation())
    try:
        refusing_checker(adapter.core_schema).validate_python(value)
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    except pydantic.ValidationError as exc:
        message = exc.errors()[0]["msg"]
    raise ValidationError(f"{message} (as {where} takes it)", field=field)
