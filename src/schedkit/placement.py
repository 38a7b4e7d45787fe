"""Where a task's attempts execute: ``isolation`` (in the node's process, or a child
process of their own) and ``executor`` (schedkit nodes, or another executor such as
Celery: docs/celery.md). Declared on the task, checked when it is defined."""

from __future__ import annotations

from typing import Literal, get_args

from schedkit.errors import TaskDefinitionError

#: Where an attempt's code runs: ``thread`` (async code on the event loop, sync code on
#: the thread pool) or ``process`` (a child process, killed at the timeout or on cancel).
Isolation = Literal["thread", "process"]


def check_isolation(value: object, owner: str) -> Isolation:
    if value not in get_args(Isolation):
        raise TaskDefinitionError(
            f"{owner}: isolation must be 'thread' or 'process', not {value!r}"
        )
    return value  # type: ignore[return-value]


#: The executor of a task whose runs schedkit nodes execute themselves.
LOCAL_EXECUTOR = "local"


def check_executor(value: object, owner: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise TaskDefinitionError(f"{owner}: executor must be a name like 'celery', not {value!r}")
    return value
