"""Run as ``python -I tests/structure/import_alone.py MODULE...``: import each module in
its own fresh child and print the ones that fail, one ``module<TAB>error`` per line.

The parent imports the third-party libraries schedkit builds on (never schedkit itself)
and forks a child per module, so each child starts from an interpreter where no schedkit
module was imported, without paying for FastAPI, pydantic and SQLAlchemy each time. An
import-order bug inside schedkit (a cycle that only works when another schedkit module
was imported first) still shows.

Importing ``a.b.c`` alone first runs ``a``'s and ``a.b``'s ``__init__``. When importing a
package alone already loaded ``a.b.c``, importing ``a.b.c`` alone runs exactly the same
code and ends the same way, so it is not tried again: packages go first (by depth), and
each child reports the schedkit modules its import loaded. ``import schedkit`` alone
loads half of the package's modules.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from itertools import groupby

PRELOAD = ("pydantic", "pydantic_settings", "sqlalchemy", "fastapi", "starlette", "typer", "rich")


def _start(module: str) -> tuple[int, int]:
    """Fork a child importing ``module``; its pid and the pipe it answers through: the
    schedkit modules it loaded, or its error after a leading ``!``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(module)
            loaded = [m for m in sys.modules if m == "schedkit" or m.startswith("schedkit.")]
            answer, code = "\n".join(loaded), 0
        except BaseException:
            answer, code = "!" + traceback.format_exc().strip().splitlines()[-1], 1
        with os.fdopen(write, "wb") as pipe:
            pipe.write(answer.encode())
        os._exit(code)
    os.close(write)
    return pid, read


def _finish(module: str, pid: int, read: int) -> set[str] | None:
    """Wait for the child: the modules it loaded, or None (printed) if it failed."""
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return set(answer.split("\n"))
    print(f"{module}\t{answer.removeprefix('!') or 'exit ' + str(status)}")
    return None


def _depth(module: str) -> int:
    return module.count(".")


def main(modules: list[str]) -> int:
    for name in PRELOAD:
        importlib.import_module(name)
    assert not any(m == "schedkit" or m.startswith("schedkit.") for m in sys.modules)
    # As many children at once as there are cores: each is independent of the others.
    width = max(1, os.cpu_count() or 1)
    # What importing each package alone loaded (packages are tried before their modules).
    loaded_by: dict[str, set[str]] = {}
    failed = 0
    for _, level in groupby(sorted(modules, key=_depth), key=_depth):
        wanted = [m for m in level if not _proven(m, loaded_by)]
        running: list[tuple[str, int, int]] = []
        for module in wanted:
            running.append((module, *_start(module)))
            if len(running) >= width:
                failed += _record(running.pop(0), loaded_by)
        for child in running:
            failed += _record(child, loaded_by)
    return 1 if failed else 0


def _proven(module: str, loaded_by: dict[str, set[str]]) -> bool:
    """Whether importing one of ``module``'s packages alone already loaded it."""
    parts = module.split(".")
    return any(module in loaded_by.get(".".join(parts[:n]), ()) for n in range(1, len(parts)))


def _record(child: tuple[str, int, int], loaded_by: dict[str, set[str]]) -> int:
    """Finish ``child``; 1 if it failed."""
    loaded = _finish(*child)
    if loaded is None:
        return 1
    loaded_by[child[0]] = loaded
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
