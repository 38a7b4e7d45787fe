"""Tasks whose runs a service would hand to other nodes: to Celery workers, or to nodes
offering a label. ``run --local`` executes them here all the same."""

from __future__ import annotations

from typing import Any

from schedkit import task


@task("on_celery", executor="celery")
def on_celery() -> dict[str, Any]:
    return {"success": True, "message": "ran here"}


@task("on_gpu", labels=("gpu",))
def on_gpu() -> dict[str, Any]:
    return {"success": True, "message": "ran here"}
