"""Command-line values → plain data: durations (``90d``), ``--param k=v`` pairs, the
text of files given as arguments."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from .errors import UsageProblem

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_duration(text: str, option: str = "duration") -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w`` or combinations such as ``1h30m``."""
    if "M" in text:
        # Months have no fixed length, and "6M" read as minutes deleted a purge's history.
        raise UsageProblem(
            f"{option}: {text!r}: M is not a unit (months have no fixed length); use m for "
            "minutes, or days: 180d is about six months"
        )
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise UsageProblem(
            f"{option}: {text!r} is not a duration; use a number and a unit "
            "(w, d, h, m, s), e.g. 90d, 12h, 30m or 1h30m"
        )
    try:
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
    except OverflowError:
        raise UsageProblem(f"{option}: {text!r} is too long") from None


def _accepts_string(schema: Mapping[str, Any]) -> bool:
    if schema.get("type") == "string":
        return True
    return any(_accepts_string(s) for s in schema.get("anyOf", ()) if isinstance(s, Mapping))


def parse_params(
    pairs: Sequence[str],
    params_json: str | None = None,
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``["day=2024-05-01", "limit=10"]`` (+ a JSON object) → kwargs.

    A value is read as JSON when it is valid JSON (``10``, ``true``, ``[1, 2]``) unless
    the task declares that parameter as a string; otherwise it stays text.
    ``schema`` is the task's parameters JSON Schema, if it declares one.
    """
    kwargs: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"--params: not valid JSON ({exc.msg})") from None
        if not isinstance(loaded, dict):
            raise UsageProblem("--params: must be a JSON object, e.g. '{\"limit\": 10}'")
        kwargs.update(loaded)
    properties: Mapping[str, Any] = (schema or {}).get("properties") or {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageProblem(f"--param: expected KEY=VALUE, got {pair!r}")
        field_schema = properties.get(key)
        if isinstance(field_schema, Mapping) and _accepts_string(field_schema) and raw != "null":
            kwargs[key] = raw
            continue
        try:
            kwargs[key] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key] = raw
    return kwargs


#: Bytes UTF-8 takes for one character at most: a file over ``4 * max_chars`` bytes
#: cannot hold ``max_chars`` characters, whatever it holds.
_MAX_UTF8_BYTES = 4


def read_text_file(path: Path, *, max_chars: int | None = None, what: str = "file") -> str:
    """The text of a UTF-8 file (a byte order mark is dropped); a file that is not UTF-8
    is an invalid value naming the file and the line of the first bad byte. With
    ``max_chars``, a longer text is refused, and a file too large to be that short is
    refused from its size, before it is read (a 300 MB file took 8 s and 635 MB)."""
    if max_chars is not None:
        size = path.stat().st_size
        if size > _MAX_UTF8_BYTES * max_chars:
            raise UsageProblem(
                f"{path.name}: {size:,} bytes, over the {max_chars:,} characters a {what} may "
                "have; check that this is the right file"
            )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageProblem(
            f"{path.name}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    if max_chars is not None and len(text) > max_chars:
        raise UsageProblem(
            f"{path.name}: {len(text):,} characters, over the {max_chars:,} a {what} may "
            "have; check that this is the right file"
        )
    return text
