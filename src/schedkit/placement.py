"""Where a task's attempts execute: ``isolation`` (in the node's process, or a child
process of their own), ``executor`` (schedkit nodes, or another executor such as
Celery: docs/celery.md) and ``labels`` (what a node must offer to claim its runs:
docs/cluster.md). Declared on the task, checked when it is defined; a schedule may choose
another executor for its runs (``Schedule.executor``), recorded on each run."""

from __future__ import annotations

from typing import Literal, get_args

from schedkit.errors import TaskDefinitionError
from schedkit.models import LOCAL_EXECUTOR, labels_of

__all__ = ["LOCAL_EXECUTOR", "Isolation", "check_executor", "check_isolation", "check_labels"]

#: Where an attempt's code runs: ``thread`` (async code on the event loop, sync code on
#: the thread pool) or ``process`` (a child process, killed at the timeout or on cancel).
Isolation = Literal["thread", "process"]


def check_isolation(value: object, owner: str) -> Isolation:
    if value not in get_args(Isolation):
        raise TaskDefinitionError(
            f"{owner}: isolation must be 'thread' or 'process', not {value!r}"
        )
    return value  # type: ignore[return-value]


def check_executor(value: object, owner: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise TaskDefinitionError(f"{owner}: executor must be a name like 'celery', not {value!r}")
    return value


def check_labels(value: object, owner: str) -> tuple[str, ...]:
    try:
        return labels_of(value)
    except TypeError:
        raise TaskDefinitionError(
            f"{owner}: labels must be a list of labels, not {value!r}"
        ) from None
    except ValueError as exc:
        raise TaskDefinitionError(f"{owner}: {exc}") from None
