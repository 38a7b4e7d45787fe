from __future__ import annotations

from schedkit import task


@task("same_name", category="x")
def first() -> None:
    return None
