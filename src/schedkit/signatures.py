"""A task's parameters read off a signature: an ``@task`` function's, a ``BaseTask``'s
``execute``. The parameter that receives the run's :class:`TaskContext` is found by its
name or annotation; the others become a pydantic model that validates kwargs before
anything is stored and gives the API and console their forms."""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any

import pydantic

from schedkit.context import TaskContext
from schedkit.errors import TaskDefinitionError

__all__ = ["context_parameter", "execute_model", "mimic", "signature_model"]

logger = logging.getLogger(__name__)


def _resolve_annotation(annotation: Any, func: Callable[..., Any]) -> Any:
    """A postponed (string) annotation evaluated in the function's module."""
    if isinstance(annotation, str):
        return eval(annotation, getattr(func, "__globals__", {}))
    return annotation


def context_parameter(func: Callable[..., Any], name: str) -> str | None:
    """The parameter that receives the run's TaskContext: the one named ``ctx`` or
    annotated with TaskContext under any other name (a TaskContext cannot be a declared,
    stored parameter, so the annotation can only mean the context)."""
    found: list[str] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if param.name == "ctx":
            found.append(param.name)
            continue
        try:
            annotation = _resolve_annotation(param.annotation, func)
        except Exception as exc:
            if isinstance(param.annotation, str) and "TaskContext" in param.annotation:
                raise TaskDefinitionError(
                    f"task {name!r}: cannot resolve the annotation {param.annotation!r} of "
                    f"parameter {param.name!r} ({exc}); to receive the run's context, "
                    "name the parameter `ctx` or import TaskContext outside "
                    "`if TYPE_CHECKING:`"
                ) from None
            # Any other unresolvable annotation is reported by _signature_model, which
            # is skipped when the task declares ``parameters=``.
            continue
        # ``TaskContext`` itself or a union holding it (``TaskContext | None``).
        if annotation is TaskContext or TaskContext in typing.get_args(annotation):
            found.append(param.name)
    if len(found) > 1:
        listed = " and ".join(repr(n) for n in found)
        raise TaskDefinitionError(
            f"task {name!r}: parameters {listed} both ask for the run's TaskContext; "
            "keep one (`ctx`, or one parameter annotated TaskContext)"
        )
    return found[0] if found else None


def signature_model(
    func: Callable[..., Any], name: str, context_param: str | None, *, method: bool = False
) -> type[pydantic.BaseModel] | None:
    """A pydantic model from the function's annotated parameters but the context's (and,
    for a ``method``, but ``self``)."""
    fields: dict[str, Any] = {}
    params = list(inspect.signature(func).parameters.values())[1 if method else 0 :]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params)
    for param in params:
        pname = param.name
        if pname == context_param or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        annotation: Any = Any if param.annotation is param.empty else param.annotation
        # Postponed annotations are resolved one by one, so an unresolvable annotation
        # of the context parameter (skipped above) cannot break the others.
        try:
            annotation = _resolve_annotation(annotation, func)
        except Exception as exc:
            raise TaskDefinitionError(
                f"task {name!r}: cannot resolve the annotation {annotation!r} of "
                f"parameter {pname!r} ({exc})"
            ) from None
        default = ... if param.default is param.empty else param.default
        fields[pname] = (annotation, default)
    if not fields and open_ended:
        return None
    # A function without **kwargs takes exactly its parameters: anything else is an
    # error at submission, not a TypeError when the run starts.
    try:
        model: type[pydantic.BaseModel] = pydantic.create_model(
            f"{name}_parameters",
            __config__=pydantic.ConfigDict(extra="allow" if open_ended else "forbid"),
            **fields,
        )
    except pydantic.PydanticSchemaGenerationError as exc:
        # pydantic names neither the task nor the parameter, only the type.
        culprit = next((p for p, (a, _) in fields.items() if not _validatable(a)), None)
        which = f"parameter {culprit!r}" if culprit else "a parameter"
        reason = str(exc).split(". ", 1)[0]
        advice = (
            ""
            if method
            else "; give `parameters=` a pydantic model, or take the run's context in a "
            "parameter named `ctx`"
        )
        raise TaskDefinitionError(
            f"task {name!r}: {which} is not a JSON value pydantic can validate ({reason})" + advice
        ) from None
    return model


def execute_model(execute: Callable[..., Any], name: str) -> type[pydantic.BaseModel] | None:
    """The parameters of a ``BaseTask`` subclass (``name``) read off its ``execute``
    method, as a function task's are (``execute(self, **kwargs)``, the design document's,
    declares none). One that cannot be read (an annotation that does not resolve, a type
    pydantic cannot validate) is logged and leaves the task undeclared, as such classes
    were before their signatures were read: an import that worked keeps working."""
    try:
        return signature_model(execute, name, None, method=True)
    except TaskDefinitionError as exc:
        logger.warning(
            "%s: its kwargs are not validated until the class declares them in a "
            "`parameters` model",
            exc,
        )
        return None


def _validatable(annotation: Any) -> bool:
    try:
        pydantic.TypeAdapter(annotation)
    except pydantic.PydanticSchemaGenerationError:
        return False
    return True


def on_loop(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is task code for the event loop: an ``async def``, including an
    async generator (its body runs as it is iterated; in a thread it was never
    iterated, and the run recorded the generator object as its data)."""
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


#: What ``functools.update_wrapper`` copies, and what ``inspect`` reads of an object it
#: takes for a function (``inspect._signature_is_functionlike``, as for Cython's).
_FUNCTION_LIKE = (*functools.WRAPPER_ASSIGNMENTS, "__code__", "__defaults__", "__kwdefaults__")


def mimic(wrapper: Callable[..., Any], func: Callable[..., Any]) -> None:
    """Give ``wrapper`` (an ``@task`` object) ``func``'s ``__name__``, ``__qualname__``,
    ``__module__``, ``__doc__`` and ``__wrapped__``, and its code: so that
    ``inspect.iscoroutinefunction`` (and ``asyncio``'s, which asks it) is true of the task
    of an ``async def`` on Python 3.11, whose inspect reads only a code object's flags
    (``inspect.markcoroutinefunction`` came in 3.12; asyncio's own ``_is_coroutine``
    marker would not satisfy inspect's). Attributes ``func`` lacks (a callable object's)
    are left unset."""
    functools.update_wrapper(wrapper, func, assigned=_FUNCTION_LIKE, updated=())
