"""Every setting written inline as ``section.key = value`` in the docs and in the source's
docstrings and comments is one a configuration accepts (the docs' TOML blocks are loaded
by tests/docs). An audit: SystemClock's docstring said ``scheduler.clock = "system"``,
which is refused: the values are "store" and "local"."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pydantic
import pytest

from schedkit import SchedkitConfig

REPO = Path(__file__).resolve().parents[2]
#: ``scheduler.clock = "local"`` between one or two backticks.
_SETTING = re.compile(r"``?([a-z_]+)\.([a-z_]+) = ([^`]+?)``?")
#: The configuration's sections (``scheduler``, ``executor``, ...).
SECTIONS = {
    name
    for name, field in SchedkitConfig.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, pydantic.BaseModel)
}


def _written() -> list[tuple[str, str]]:
    """(where, TOML) of each inline setting of a section; placeholders (``...``) left out."""
    paths = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "src").rglob("*.py")]
    found = []
    for path in paths:
        for match in _SETTING.finditer(path.read_text(encoding="utf-8")):
            section, key, value = match.groups()
            if section in SECTIONS and "..." not in value:
                where = f"{path.relative_to(REPO)}: {match.group(0)}"
                found.append((where, f"[{section}]\n{key} = {value}\n"))
    return found


def test_every_setting_written_inline_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SCHEDKIT_"):
            monkeypatch.delenv(name)
    written = _written()
    assert len(written) > 10
    refused = []
    for where, toml in written:
        try:
            SchedkitConfig(**tomllib.loads(toml))
        except Exception as exc:
            refused.append(f"{where}: {exc}")
    assert refused == []
