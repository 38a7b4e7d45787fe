"""The JSON form of a result value pydantic has none for: the few with a lossless one,
and for any other a :class:`~schedkit.errors.ResultNotStorable` saying how to convert it.

Their text (``str(value)``) was stored before, and the run was a success: a numpy array
became its abbreviated printout (``[0.000e+00 1.000e+00 ... 4.999e+03]``), a count
``np.int64(1200)`` the string ``'1200'``, an object ``<object object at 0x...>``: data lost
without a word. A result no one can read back fails its run instead, as a NaN does.
"""

from __future__ import annotations

from typing import Any

from schedkit.errors import ResultNotStorable

#: numpy dtype kinds whose ``tolist()`` gives Python values equal to the items: booleans,
#: integers (Python's have no bound) and text. Floats too, up to 64 bits (below).
_EXACT_KINDS = frozenset("biuU")
#: numpy's float16/32/64 widen to a Python float exactly; a longdouble would be rounded.
_FLOAT_BYTES = 8


def lossless_form(value: Any) -> Any:
    """The fallback of :func:`schedkit.models.result_json` for a value of a type it does
    not know: an ObjectId as its 24 hex digits; a numpy array or scalar of booleans,
    integers, floats (up to 64 bits) or text as Python values (``tolist()``, which for an
    array nests lists, and whose items are then converted as any other); else
    ResultNotStorable naming the type and a conversion.

    numpy is recognised by its types' module, never imported: schedkit does not depend on
    it, and a value of its types exists only where it was imported. Other array-likes
    (pandas' Series drops its index in ``tolist()``, masked arrays their mask) are
    refused: what of them to keep is the task's choice.
    """
    kind = type(value)
    if kind.__module__ == "bson.objectid" and kind.__name__ == "ObjectId":
        return str(value)
    if kind.__module__ == "numpy":
        dtype = getattr(value, "dtype", None)
        if _exact(dtype):
            return value.tolist()
        shown = kind.__name__ if str(dtype) == kind.__name__ else f"{kind.__name__} of {dtype}"
        raise ResultNotStorable(
            f"not storable as JSON: a numpy {shown} has no JSON form "
            "that keeps it exactly; return it converted (value.tolist(), float(value), "
            "str(value)), choosing what may be lost"
        )
    raise ResultNotStorable(
        f"not storable as JSON: a value of type {_type_name(kind)}; return JSON values "
        "(dict, list, str, int, float, bool, None; dates, decimals, UUIDs, enums, pydantic "
        f"models and dataclasses are converted), e.g. {_conversion(value)}"
    )


def _exact(dtype: Any) -> bool:
    kind = getattr(dtype, "kind", None)
    if kind == "f":
        return getattr(dtype, "itemsize", _FLOAT_BYTES + 1) <= _FLOAT_BYTES
    return kind in _EXACT_KINDS


def _type_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _conversion(value: Any) -> str:
    """A conversion the value offers: pandas' DataFrame has ``to_dict``, array-likes
    ``tolist``."""
    for method in ("to_dict", "tolist"):
        if callable(getattr(value, method, None)):
            return f"value.{method}()"
    return "int(value), float(value), str(value) or a dict of its fields"
