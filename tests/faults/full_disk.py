"""A disk that fills up for real, under a SQLite store: a small tmpfs mounted for the test
(:class:`SmallDisk`: root with CAP_SYS_ADMIN, as on this project's machines), or, where
mounting is refused (a CI container without the capability), SQLite's own limit
(:class:`PageLimit`: ``PRAGMA max_page_count`` held at the file's size on every
connection to it). Both make SQLite answer SQLITE_FULL, "database or disk is full": the
first for every write (the WAL cannot grow), the second for writes that need a new page
(a run inserted, a row grown), while writes in place still pass."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
from sqlalchemy import event

#: SQLite's default max_page_count.
_NO_LIMIT = 4294967294


class FullDisk(Protocol):
    #: Where the store's file goes.
    path: Path

    def fill(self) -> None: ...

    def free(self) -> None: ...


def _mount(path: Path, size: str) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _umount(path: Path) -> None:
    # Lazy: a connection the node under test still holds must not fail the test's end.
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


class SmallDisk:
    """A tmpfs of ``size`` at ``path``; :meth:`fill` takes every byte left."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        chunk = b"\0" * 65536
        with open(self._filler, "ab", buffering=0) as out:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        out.write(chunk[:size])
                except OSError:
                    continue

    def free(self) -> None:
        self._filler.unlink()


class PageLimit:
    """SQLite files under ``path`` held at their size while full (every statement of
    every engine of this process on them sets the limit first: the node's connections
    are its own, and kept)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.full = False

    def fill(self) -> None:
        self.full = True

    def free(self) -> None:
        self.full = False

    def limit(self, conn: sa.Connection, cursor: Any, *_: Any) -> None:
        database = conn.engine.url.database or ""
        if Path(database).resolve().parent != self.path.resolve():
            return
        # A limit below the file's size is taken as its size.
        cursor.connection.execute(f"PRAGMA max_page_count = {1 if self.full else _NO_LIMIT}")


@contextmanager
def full_disk(kind: str, tmp_path: Path, size: str = "4m") -> Iterator[FullDisk]:
    """A :class:`SmallDisk` (``kind`` "tmpfs"; skipped where mounting is refused) or a
    :class:`PageLimit` ("page_limit")."""
    where = tmp_path / "disk"
    where.mkdir()
    if kind == "page_limit":
        limit = PageLimit(where)
        event.listen(sa.Engine, "before_cursor_execute", limit.limit)
        try:
            yield limit
        finally:
            event.remove(sa.Engine, "before_cursor_execute", limit.limit)
        return
    if os.geteuid() != 0 or not _mount(where, size):
        pytest.skip("no tmpfs can be mounted here (root with CAP_SYS_ADMIN): see page_limit")
    try:
        yield SmallDisk(where)
    finally:
        _umount(where)
