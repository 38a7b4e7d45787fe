"""Run as ``python -I tests/structure/import_alone.py MODULE...``: import each module in
its own fresh child and print the ones that fail, one ``module<TAB>error`` per line.

The parent imports the third-party libraries schedkit builds on (never schedkit itself)
and forks a child per module, so each child starts from an interpreter where no schedkit
module was imported, without paying for FastAPI, pydantic and SQLAlchemy each time. An
import-order bug inside schedkit (a cycle that only works when another schedkit module
was imported first) still shows.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

PRELOAD = ("pydantic", "pydantic_settings", "sqlalchemy", "fastapi", "starlette", "typer", "rich")


def _start(module: str) -> tuple[int, int]:
    """Fork a child importing ``module``; its pid and the pipe its error comes through."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(module)
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().strip().splitlines()[-1].encode())
            code = 1
        os._exit(code)
    os.close(write)
    return pid, read


def _finish(module: str, pid: int, read: int) -> bool:
    """Wait for the child; print the module and its error if it failed."""
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return True
    print(f"{module}\t{message or 'exit ' + str(status)}")
    return False


def main(modules: list[str]) -> int:
    for name in PRELOAD:
        importlib.import_module(name)
    assert not any(m == "schedkit" or m.startswith("schedkit.") for m in sys.modules)
    # As many children at once as there are cores: each is independent of the others.
    width = max(1, os.cpu_count() or 1)
    running: list[tuple[str, int, int]] = []
    failed = 0
    for module in modules:
        running.append((module, *_start(module)))
        if len(running) >= width:
            failed += not _finish(*running.pop(0))
    for child in running:
        failed += not _finish(*child)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
