"""Why a pending run waits that no live node can take, and what nodes publish for it.

A node claims the runs of the tasks it runs (registered there, within
``executor.tasks``) whose labels it offers. It lists those tasks in its row
(``info["tasks"]``, at each heartbeat), so that the API, the alerts and ``schedkit
check`` can tell a run waiting for a free slot from one no live node will ever take:
its task removed from the code the nodes run, or its labels offered by none of them.

A node that lists no tasks (of a release before this list, or running more than
:data:`MAX_LISTED_TASKS`) may take any task's runs: while one lives, no run is said to
wait for its task. Nothing here settles such a run: a node of other code may still come
(a rolling deploy's next nodes, a rollback), and only an operator knows it will not
(docs/cluster.md#a-run-no-live-node-can-take).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schedkit.models import Node

#: The key of a node row's ``info`` listing the tasks whose runs the node claims.
TASKS_KEY = "tasks"
#: The most tasks a node lists: its row is written at each heartbeat, a list of
#: thousands would be most of it (such a node lists none: it may take any run).
MAX_LISTED_TASKS = 1000


def listed_tasks(names: Iterable[str]) -> dict[str, list[str]]:
    """The node row's entry listing ``names``, the tasks it claims runs of (empty past
    :data:`MAX_LISTED_TASKS`)."""
    listed = sorted(names)
    return {TASKS_KEY: listed} if len(listed) <= MAX_LISTED_TASKS else {}


def tasks_of(node: Node) -> frozenset[str] | None:
    """The tasks whose runs ``node`` claims; None if its row does not say (any)."""
    names = node.info.get(TASKS_KEY)
    if not isinstance(names, list):
        return None
    return frozenset(n for n in names if isinstance(n, str))


def taken_by_none(task_name: str, takers: Sequence[frozenset[str] | None]) -> bool:
    """Whether none of the nodes ``takers`` (each one's :func:`tasks_of`) claims runs of
    ``task_name``; true of no nodes at all."""
    return all(tasks is not None and task_name not in tasks for tasks in takers)


def no_task_reason(task_name: str) -> str:
    """Why a run waits whose task no live node runs (the API's ``waiting``)."""
    return (
        f"task {task_name!r} is not registered on any live node "
        "(or is left out of their executor.tasks)"
    )


def no_labels_reason(labels: Sequence[str]) -> str:
    """Why a run waits whose labels no live node offers (the API's ``waiting``)."""
    return "no live node offers the labels " + ", ".join(labels) + " this run requires"
