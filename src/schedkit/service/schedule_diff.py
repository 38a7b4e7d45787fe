"""What differs between two versions of a schedule's definition: whether an edit changes
anything, and the words a log line or a warning gives the change."""

from __future__ import annotations

from schedkit.models import Schedule

#: The fields that define a schedule (as opposed to its state: pause, next fire).
DEFINITION = (
    "trigger",
    "kwargs",
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "overlap",
    "timeout",
    "labels",
    "max_runs",
    "executor",
)


def changed_fields(a: Schedule, b: Schedule) -> list[str]:
    """What differs between the definitions of ``a`` and ``b``, each as ``field: a → b``
    (a trigger by its own fields: ``trigger.timezone: Asia/Shanghai → UTC``)."""
    changes: list[str] = []
    for name in DEFINITION:
        old, new = getattr(a, name), getattr(b, name)
        if old == new:
            continue
        if name == "trigger" and isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    changes.append(f"trigger.{key}: {old.get(key)} → {new.get(key)}")
        else:
            changes.append(f"{name}: {old} → {new}")
    return changes
