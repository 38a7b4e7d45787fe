"""A task's declared parameters as they are stored: validated against the declaration
(errors named ``kwargs.<field>``), with naive date-times made aware.

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
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import pydantic
from pydantic.fields import FieldInfo

from schedkit._suggest import error_message
from schedkit.errors import ValidationError

__all__ = ["aware", "declared_in_zone", "lax_conversion", "validated"]

Model = TypeVar("Model", bound=pydantic.BaseModel)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def validated(model: type[Model], kwargs: Mapping[str, Any], field: str = "kwargs") -> Model:
    """``kwargs`` validated by ``model``; ValidationError naming ``<field>.<name>`` (the
    first error) and listing every error otherwise."""
    for name, declared in model.model_fields.items():
        key = name if name in kwargs else declared.alias
        if key is not None and key in kwargs:
            problem = lax_conversion(declared, kwargs[key])
            if problem is not None:
                raise ValidationError(problem, field=f"{field}.{key}")
    try:
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


def lax_conversion(declared: FieldInfo, value: Any) -> str | None:
    """The problem with ``value`` for the ``declared`` field if pydantic's lax mode
    would make it one of two conversions that turn a wrong value into a plausible one:
    a boolean given for a number (``true`` → 1: "keep the last 1 backup") and a number,
    or the text of one, given for a date or time (0 → 1970-01-01). Its other
    conversions ("3" → 3, "off" → False, an ISO string → a date) stay: operators type
    them."""
    kinds = _plain_types(declared.annotation)
    if isinstance(value, bool) and bool not in kinds and kinds & {int, float, Decimal}:
        return "Input should be a number, not a boolean"
    moments = kinds & {date, datetime, time} and not kinds & {int, float, Decimal, str}
    if moments and _numeric(value):
        return "Input should be a date or time in ISO 8601 form, not a number"
    return None


def _numeric(value: Any) -> bool:
    """A number, or a text of one ("0", "1764547200": ``-p day=0`` arrives as text, and
    pydantic reads either as seconds since 1970)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _NUMBER.fullmatch(value.strip()) is not None


def _plain_types(annotation: Any) -> set[Any]:
    """The classes an annotation accepts at its top level (``X | None``, ``Annotated``)."""
    if get_origin(annotation) is Annotated:
        return _plain_types(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return set().union(*(_plain_types(arg) for arg in get_args(annotation)))
    return {annotation} if isinstance(annotation, type) else set()


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
        type(instance).model_validate(result.model_dump(mode="json", exclude_unset=True))
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
