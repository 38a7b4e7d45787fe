"""The audit actions the core records: the literals of the façade's modules and tokens.py
(the console has words for each, docs/api.md lists each)."""

from __future__ import annotations

import re
from pathlib import Path

import schedkit

_LITERAL = re.compile(
    r'(?<!field=)"((?:schedule|run|runs|token|calendar|node|workflow|audit|alerts)\.[a-z_.]+)"'
)


def audit_actions() -> set[str]:
    src = Path(schedkit.__file__).parent
    return {
        code
        for path in [*src.glob("service/*.py"), src / "tokens.py"]
        for code in _LITERAL.findall(path.read_text(encoding="utf-8"))
    }
