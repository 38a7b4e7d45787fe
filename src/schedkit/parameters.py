"""A task's declared parameters as they are stored: validated against the declaration
(errors named ``kwargs.<field>``, every one listed), with naive date-times made aware
and the real values of secrets kept (:func:`stored_form`).

Naive date-times are wall times in the scheduler's zone. A run's kwargs come from an
operator (the console's form, ``schedkit run -p``, the API) who means the clock of the
configured zone, the zone every time is shown in. Stored as given, a naive value would
reach the task naive: read in the machine's zone (8 hours off on a UTC host for
``Asia/Shanghai``), and a TypeError once compared with an aware datetime. So a declared
date-time without an offset is read as a wall time in that zone and stored with the
offset it has there, as schedules read a naive ``start_date`` or ``run_date``; the task
always receives an aware datetime.

DST: a naive value is read with ``fold=0`` (PEP 495; RFC 5545 and JavaScript read local
times the same way): a wall time repeated in autumn is its first occurrence; one skipped
in spring (02:30 in Europe/Berlin's 02:00→03:00 gap) takes the offset before the gap and
so lands as far past the gap's end (03:30+02:00). A Python datetime given with
``fold=1`` keeps its second occurrence. The console computes the same instant.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

import pydantic
from pydantic_core import CoreSchema, PydanticCustomError, SchemaValidator, to_jsonable_python
from pydantic_core import core_schema as cs

from schedkit._suggest import error_message
from schedkit.errors import ValidationError

__all__ = [
    "aware",
    "declared_in_zone",
    "refusing_checker",
    "secret_fields",
    "stored_form",
    "validated",
]

Model = TypeVar("Model", bound=pydantic.BaseModel)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SECRETS = (pydantic.SecretStr, pydantic.SecretBytes, pydantic.Secret)


def validated(model: type[Model], kwargs: Mapping[str, Any], field: str = "kwargs") -> Model:
    """``kwargs`` validated by ``model``; ValidationError naming ``<field>.<name>`` (the
    first error) and listing every error otherwise, the refused conversions
    (:func:`refusing_checker`) among them."""
    try:
        # The refusals and pydantic's own errors in one pass, so that every error is
        # listed together; then the model itself, which alone builds the instance.
        _checker(model).validate_python(kwargs)
        return model.model_validate(kwargs)
    except pydantic.ValidationError as exc:
        # An unknown key first: a mistyped name (``regin``) is also its parameter missing
        # (``region``), and "did you mean" says what to fix where "Field required" does not.
        first = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        path = ".".join(str(p) for p in first["loc"])
        raise ValidationError(
            # An unknown kwarg named with the parameters meant (``regin``: ``region``).
            # The per-field errors keep pydantic's own wording: the console translates it.
            error_message(first, model),
            field=f"{field}.{path}" if path else field,
            errors=[
                {"loc": [field, *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from None


@functools.lru_cache(maxsize=512)
def _checker(model: type[pydantic.BaseModel]) -> SchemaValidator:
    return refusing_checker(model.__pydantic_core_schema__)


def refusing_checker(schema: CoreSchema) -> SchemaValidator:
    """A validator of what ``schema`` validates that also refuses, at any depth (nested
    models, dataclasses, lists, dicts, tuples), two conversions of pydantic's lax mode
    that turn a wrong value into a plausible one: a boolean given for a number (``true``
    → 1: "keep the last 1 backup") and a number, or the text of one, given for a date
    or time (0 → 1970-01-01). Its other conversions ("3" → 3, "off" → False, an ISO
    string → a date) stay: operators type them. A union member that takes the value as
    it is wins as before (``int | bool`` keeps ``true``, ``date | str`` keeps ``"0"``).

    For checking only: what it returns is no instance of the models. pydantic would use a
    model's own validator for a model node of ``schema`` (its prebuilt validator), so each
    one validates into a stand-in class; and validators that run after a model is built
    (``mode="after"``) are left out, as they would be given the stand-in: the model's
    own validation, which follows, runs them."""
    return SchemaValidator(_refusing(schema))


#: The keys of a core schema that hold schemas (or lists or maps of them).
_SCHEMA_KEYS = frozenset(
    {
        "schema",
        "choices",
        "items_schema",
        "keys_schema",
        "values_schema",
        "fields",
        "lax_schema",
        "strict_schema",
        "python_schema",
        "json_schema",
        "definitions",
        "steps",
        "extras_schema",
        "arguments_schema",
        "var_args_schema",
        "var_kwargs_schema",
    }
)


class _StandIn(type):
    """The class of a model's stand-in: its instances pass as the model's, so a model
    instance given (a Python caller's) is taken as it is."""

    stands_for: type

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.stands_for)


def _refusing(node: Any) -> Any:
    if isinstance(node, list | tuple):
        return type(node)(_refusing(item) for item in node)
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if not isinstance(kind, str):  # fields by name, tagged choices by tag
        return {key: _refusing(value) for key, value in node.items()}
    out = {key: _refusing(value) if key in _SCHEMA_KEYS else value for key, value in node.items()}
    if kind == "function-after":
        inner: dict[str, Any] = out["schema"]
        return {**inner, "ref": node["ref"]} if "ref" in node else inner
    if kind in ("model", "dataclass"):
        out["cls"] = _StandIn(node["cls"].__name__, (), {"stands_for": node["cls"]})
        out.pop("post_init", None)
        out.pop("generic_origin", None)
        if kind == "model":
            out["custom_init"] = False
    if kind in ("int", "float", "decimal"):
        return cs.no_info_before_validator_function(_no_boolean, out)
    if kind in ("date", "datetime", "time"):
        return cs.no_info_before_validator_function(_no_number, out)
    return out


def _no_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("boolean_for_number", "Input should be a number, not a boolean")
    return value


def _no_number(value: Any) -> Any:
    """A number, or a text of one ("0", "1764547200": ``-p day=0`` arrives as text, and
    pydantic reads either as seconds since 1970), is refused."""
    text = isinstance(value, str) and _NUMBER.fullmatch(value.strip()) is not None
    if text or (isinstance(value, int | float) and not isinstance(value, bool)):
        raise PydanticCustomError(
            "number_for_date", "Input should be a date or time in ISO 8601 form, not a number"
        )
    return value


def stored_form(instance: pydantic.BaseModel) -> dict[str, Any]:
    """The given values of validated parameters ``instance`` in JSON form, as stored:
    pydantic's JSON form with the real values of secrets (``SecretStr``...), which it
    writes as ``"**********"``. Readers are shown them masked (schedkit.redaction)."""
    json: dict[str, Any] = instance.model_dump(mode="json", exclude_unset=True)
    if not secret_fields(type(instance)):
        return json
    # The Python dump only where there are secrets to reveal: every run of a task with
    # parameters is made through here.
    revealed: dict[str, Any] = _revealed(instance.model_dump(exclude_unset=True), json)
    return revealed


def _revealed(plain: Any, json: Any) -> Any:
    """``json`` (a JSON dump) with each secret revealed from ``plain``, the Python dump
    of the same value: the two have the same shape (the keys of a mapping in the same
    order), else ``json`` is kept as it is."""
    if isinstance(plain, _SECRETS):
        return to_jsonable_python(plain.get_secret_value())
    if isinstance(plain, Mapping) and isinstance(json, dict) and len(plain) == len(json):
        return {k: _revealed(p, j) for (k, j), p in zip(json.items(), plain.values(), strict=True)}
    if isinstance(plain, list | tuple) and isinstance(json, list) and len(plain) == len(json):
        return [_revealed(p, j) for p, j in zip(plain, json, strict=True)]
    return json


@functools.lru_cache(maxsize=512)
def secret_fields(model: type[pydantic.BaseModel]) -> frozenset[str]:
    """The parameters of ``model`` whose type holds a pydantic secret (``SecretStr``,
    ``SecretBytes``, ``Secret[...]``), at any depth: ``SecretStr | None``,
    ``list[SecretStr]``, a model or dataclass with a ``SecretStr`` field."""
    return frozenset(
        name for name, f in model.model_fields.items() if _holds_secret(f.annotation, set())
    )


def _holds_secret(annotation: Any, seen: set[Any]) -> bool:
    kind = typing.get_origin(annotation) or annotation
    if isinstance(kind, type) and issubclass(kind, _SECRETS):
        return True
    if isinstance(annotation, type):
        if annotation in seen:  # a model that holds itself
            return False
        seen.add(annotation)
        if issubclass(annotation, pydantic.BaseModel):
            inner = [f.annotation for f in annotation.model_fields.values()]
        elif dataclasses.is_dataclass(annotation) or _record(annotation):
            try:
                inner = list(typing.get_type_hints(annotation).values())
            except Exception:  # a hint that does not resolve here: pydantic read it
                return False
        else:
            return False
        return any(_holds_secret(a, seen) for a in inner)
    return any(_holds_secret(a, seen) for a in typing.get_args(annotation))


def _record(cls: type) -> bool:
    """A NamedTuple or a TypedDict: fields read from its annotations."""
    typed_dict = isinstance(getattr(cls, "__required_keys__", None), frozenset)
    return typed_dict or (issubclass(cls, tuple) and hasattr(cls, "_fields"))


def aware(value: datetime, tz: tzinfo) -> datetime:
    """Naive ``value`` as a wall time in ``tz``; aware values are returned unchanged.

    The result is shown in ``tz`` with the offset of its instant (through UTC), so a
    wall time in a DST gap is stored as the time it names on the clock, not as one that
    never showed. OverflowError when that instant is outside datetime's range.
    """
    if value.utcoffset() is not None:
        return value
    return value.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def declared_in_zone(instance: Model, tz: tzinfo | None) -> Model:
    """Validated parameters ``instance`` with every naive datetime among the declared
    values it was given made aware in ``tz`` (the same object when there is none, or
    no ``tz``: callers that only check the parameters).

    Values left to their defaults stay unset (the task's own default is passed as it
    is written), and so do undeclared extras, which hold the caller's raw JSON. A
    declaration that refuses aware values (pydantic's ``NaiveDatetime``) keeps the
    parameters as given: the stored form must validate again when the run starts.
    Raises ValidationError naming ``kwargs.<field>`` for a value out of range.
    """
    if tz is None:
        return instance
    changed: dict[str, Any] = {}
    for name, value in _given(instance):
        try:
            localized = _localize(value, tz)
        except OverflowError:
            raise ValidationError(
                "the date-time is out of the supported date range", field=f"kwargs.{name}"
            ) from None
        if localized is not value:
            changed[name] = localized
    if not changed:
        return instance
    # update= names only fields already set, so exclude_unset dumps keep their shape.
    result = instance.model_copy(update=changed)
    try:
        # As the run's start will read it back (BaseTask.prepare_kwargs).
        type(instance).model_validate(stored_form(result))
    except pydantic.ValidationError:
        return instance
    return result


def _given(instance: pydantic.BaseModel) -> list[tuple[str, Any]]:
    """The declared fields of ``instance`` its caller gave, with their values."""
    given = instance.model_fields_set
    return [(n, getattr(instance, n)) for n in type(instance).model_fields if n in given]


def _localize(value: Any, tz: tzinfo) -> Any:
    """``value`` with its naive datetimes made aware, through what a declared parameter
    can hold (models, dataclasses, mappings, collections); the same object if it holds
    none, so that only what changed is copied."""
    if isinstance(value, datetime):
        return aware(value, tz)
    if isinstance(value, pydantic.BaseModel):
        # Checked as a whole by the top-level model's validation in declared_in_zone.
        fields = {n: _localize(v, tz) for n, v in _given(value)}
        if all(new is getattr(value, n) for n, new in fields.items()):
            return value
        return value.model_copy(update=fields)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _localize(getattr(value, f.name), tz)
            for f in dataclasses.fields(value)
            if f.init
        }
        if all(new is getattr(value, n) for n, new in fields.items()):
            return value
        return dataclasses.replace(value, **fields)
    if isinstance(value, Mapping):
        pairs = [(_localize(k, tz), _localize(v, tz)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_localize(item, tz) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)(*items)  # a NamedTuple takes its fields one by one
        return type(value)(items)
    return value
