from __future__ import annotations

from schedkit import task


@task("dup")
def dup_two() -> None:
    return None
