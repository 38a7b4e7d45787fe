"""Suggestions ("did you mean ...") for a name schedkit does not know: one wording for a
task's name, a workflow's, a configuration key, a task's kwarg and a trigger's field.

pydantic says only "Extra inputs are not permitted" of a key a model does not take, so a
config key or kwarg one letter off (``max_wrokers``, ``regin``) was named without the
key meant, unlike a mistyped ``SCHEDKIT_*`` variable or task name.
"""

from __future__ import annotations

import difflib
import typing
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from types import UnionType
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel
from pydantic_core import ErrorDetails

__all__ = ["close_names", "did_you_mean", "error_message", "unknown_key", "unknown_timezone"]


def close_names(name: str, names: Iterable[str], *, n: int = 2, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``names`` spelt close to ``name`` (difflib's ratio over ``cutoff``),
    closest first."""
    return difflib.get_close_matches(name, list(names), n=n, cutoff=cutoff)


def did_you_mean(close: Sequence[str]) -> str:
    """``did you mean 'a' or 'b'?``"""
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_key(name: str, known: Iterable[str]) -> str:
    """The message for ``name``, none of the ``known`` keys: those close to it, else all
    of them (a key far from each is no typo: the reader needs the list, not a guess)."""
    accepted = list(dict.fromkeys(known))
    # Above difflib's 0.6: among a section's many short keys that would also offer
    # ``cluster`` for ``executer``.
    close = close_names(name, accepted, cutoff=0.7)
    if close:
        return f"unknown key {name!r} ({did_you_mean(close)})"
    if not accepted:
        return f"unknown key {name!r} (no key is accepted here)"
    return f"unknown key {name!r} (accepted: {', '.join(accepted)})"


def unknown_timezone(name: str) -> str:
    """``unknown timezone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?`` (the closest
    IANA name, if one is close)."""
    message = f"unknown timezone {name!r}"
    # An offset ("UTC+8", "GMT+8") is spelt like UTC or GMT+0, hours away from it.
    if any(c.isdigit() for c in name):
        return message
    close = close_names(name, sorted(zoneinfo.available_timezones()), n=1, cutoff=0.7)
    return f"{message}; {did_you_mean(close)}" if close else message


def error_message(error: ErrorDetails, model: type[BaseModel] | None) -> str:
    """pydantic's message for ``error`` of a validation by ``model``, but an unknown key
    (``extra_forbidden``) named with the keys meant, from the model at its location."""
    if error["type"] != "extra_forbidden" or not error["loc"]:
        return str(error["msg"])
    *path, name = error["loc"]
    owner = _model_at(model, path) if model is not None else None
    if owner is None:  # a location this walk cannot follow (a dataclass ...): no list
        return f"unknown key {str(name)!r}"
    return unknown_key(str(name), _keys(owner))


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys ``model`` takes, as written in its input (an alias if it has one)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model validating the value at ``path`` (pydantic's location) of ``model``'s
    input, or None when it is not one model."""
    kinds: list[Any] = [model]
    for part in path:
        kinds = [inner for kind in kinds for inner in _inside(kind, part)]
    models = {kind for kind in kinds for kind in _members(kind) if _is_model(kind)}
    return models.pop() if len(models) == 1 else None


def _inside(kind: Any, part: str | int) -> list[Any]:
    """The types of what is at ``part`` of a value of type ``kind``."""
    found: list[Any] = []
    for member in _members(kind):
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if _is_model(member):
            field = next((f for n, f in member.model_fields.items() if part in (n, f.alias)), None)
            if field is not None:
                found.append(field.annotation)
            elif _tagged(member, part):
                found.append(member)  # a union's member, named in the location by its tag
        elif isinstance(origin, type) and issubclass(origin, Mapping):
            found.extend(args[1:2])
        elif isinstance(origin, type) and issubclass(origin, (Sequence, set, frozenset)):
            if not isinstance(part, int):
                continue
            fixed = origin is tuple and args[-1:] != (...,)  # tuple[int, str]: by position
            found.extend(args[part : part + 1] if fixed else args[:1])
    return found


def _members(kind: Any) -> list[Any]:
    """``kind`` without ``Annotated``, a union as its members."""
    origin = typing.get_origin(kind)
    if origin is Annotated:
        return _members(typing.get_args(kind)[0])
    if origin in (Union, UnionType):
        return [m for arg in typing.get_args(kind) for m in _members(arg)]
    return [kind]


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _tagged(model: type[BaseModel], part: str | int) -> bool:
    """Whether pydantic names ``model`` by ``part`` in a union's location: its class name,
    or its discriminator's value (a ``Literal`` field)."""
    if part == model.__name__:
        return True
    return any(
        typing.get_origin(f.annotation) is Literal and part in typing.get_args(f.annotation)
        for f in model.model_fields.values()
    )
