"""What ``from schedkit import ...`` gives and the Scheduler's public methods say what
they are in their docstrings (an editor's hover, ``help()``): an audit found Clock,
EventKind, RunNotFoundError and Scheduler.get_run, count_runs, get_logs... without one."""

from __future__ import annotations

import inspect

import schedkit
from schedkit import Scheduler


def _documented(cls: type) -> bool:
    # Its own: inspect.getdoc would find a base class's (an enum's, Exception's).
    doc = (cls.__dict__.get("__doc__") or "").strip()
    # A dataclass without one gets its signature ("RunEvent(kind: ...)") as its doc.
    return bool(doc) and not doc.startswith(f"{cls.__name__}(")


def test_every_public_class_has_a_docstring() -> None:
    classes = [getattr(schedkit, name) for name in schedkit.__all__]
    undocumented = {c.__name__ for c in classes if inspect.isclass(c) and not _documented(c)}
    assert undocumented == set()


def test_every_public_scheduler_method_has_a_docstring() -> None:
    undocumented = []
    for name, member in inspect.getmembers(Scheduler):
        if name.startswith("_"):
            continue
        target = member.fget if isinstance(member, property) else member
        if callable(target) and not (target.__doc__ or "").strip():
            undocumented.append(name)
    assert undocumented == []
