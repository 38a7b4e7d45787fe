"""A loop of a node that fails, as the node reports it and its heartbeat stores it (in
the node row's ``info``, under ``failing``: no schema change on any store), so that every
node's list can show it. The engine keeps it (:mod:`schedkit.engine.health`); the node
list reads it back from any node's row with :func:`failing_in`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from schedkit.models import JSON

#: The key of a node row's ``info`` that holds its failing loops.
INFO_KEY = "failing"


@dataclass(frozen=True, kw_only=True, slots=True)
class Failing:
    """A loop whose passes fail, since ``since`` (the first failure in a row)."""

    #: "scheduler loop", "scheduler lease", "claim loop" or "node heartbeat".
    loop: str
    since: datetime
    error: str
    #: Waiting does not cure it (StoreRefusedError): someone must act.
    refused: bool
    #: The store refuses writes (StoreUnwritableError: a full disk, a file that cannot
    #: be written) while it answers reads.
    unwritable: bool = False

    def to_json(self) -> JSON:
        """As a node's heartbeat stores it (in its ``info``, under ``failing``)."""
        return {
            "loop": self.loop,
            "since": self.since.isoformat(),
            "error": self.error,
            "refused": self.refused,
            "unwritable": self.unwritable,
        }

    @classmethod
    def from_json(cls, value: object) -> Failing | None:
        """What :meth:`to_json` made, from any node's row; None for anything else (a
        row is another release's, or written by hand)."""
        if not isinstance(value, dict):
            return None
        loop, since, error = value.get("loop"), value.get("since"), value.get("error")
        if not (isinstance(loop, str) and isinstance(since, str) and isinstance(error, str)):
            return None
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return cls(
            loop=loop,
            since=when,
            error=error,
            refused=value.get("refused") is True,
            unwritable=value.get("unwritable") is True,
        )


def failing_in(info: JSON) -> list[Failing]:
    """The failing loops a node row's ``info`` holds (none in a row of an older node)."""
    value = info.get(INFO_KEY)
    found = [Failing.from_json(v) for v in value] if isinstance(value, list) else []
    return [f for f in found if f is not None]
