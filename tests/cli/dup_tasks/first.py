from __future__ import annotations

from schedkit import task


@task("dup")
def dup_one() -> None:
    return None
