"""What the alert rules remember of one task between observations, stored as JSON in
the store's key/value area (``alert:task:<name>``, written by compare-and-set)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from schedkit.models import JSON


@dataclass(kw_only=True, slots=True)
class TaskAlertState:
    """What has been observed and sent for one task; stored as JSON."""

    streak: int = 0
    failing_since: datetime | None = None
    failure_sent: list[str] = field(default_factory=list)
    failure_sent_at: datetime | None = None
    last_error: JSON | None = None
    missed_open: bool = False
    missed_count: int = 0
    missed_since: datetime | None = None
    missed_last_at: datetime | None = None
    missed_sent_at: datetime | None = None
    late_open: bool = False
    late_count: int = 0
    late_since: datetime | None = None
    late_sent_at: datetime | None = None
    late_runs: list[str] = field(default_factory=list)
    too_long: dict[str, datetime] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def copy(self) -> TaskAlertState:
        return replace(
            self,
            failure_sent=list(self.failure_sent),
            late_runs=list(self.late_runs),
            too_long=dict(self.too_long),
            seen=list(self.seen),
        )

    def to_json(self) -> JSON:
        return {
            "streak": self.streak,
            "failing_since": _iso(self.failing_since),
            "failure_sent": list(self.failure_sent),
            "failure_sent_at": _iso(self.failure_sent_at),
            "last_error": self.last_error,
            "missed_open": self.missed_open,
            "missed_count": self.missed_count,
            "missed_since": _iso(self.missed_since),
            "missed_last_at": _iso(self.missed_last_at),
            "missed_sent_at": _iso(self.missed_sent_at),
            "late_open": self.late_open,
            "late_count": self.late_count,
            "late_since": _iso(self.late_since),
            "late_sent_at": _iso(self.late_sent_at),
            "late_runs": list(self.late_runs),
            "too_long": {k: v.isoformat() for k, v in self.too_long.items()},
            "seen": list(self.seen),
        }

    @classmethod
    def from_json(cls, data: JSON | None) -> TaskAlertState:
        if not data:
            return cls()
        return cls(
            streak=int(data.get("streak", 0)),
            failing_since=_dt(data.get("failing_since")),
            failure_sent=[str(k) for k in data.get("failure_sent", [])],
            failure_sent_at=_dt(data.get("failure_sent_at")),
            last_error=data.get("last_error"),
            missed_open=bool(data.get("missed_open", False)),
            missed_count=int(data.get("missed_count", 0)),
            missed_since=_dt(data.get("missed_since")),
            missed_last_at=_dt(data.get("missed_last_at")),
            missed_sent_at=_dt(data.get("missed_sent_at")),
            late_open=bool(data.get("late_open", False)),
            late_count=int(data.get("late_count", 0)),
            late_since=_dt(data.get("late_since")),
            late_sent_at=_dt(data.get("late_sent_at")),
            late_runs=[str(r) for r in data.get("late_runs", [])],
            too_long={
                str(k): d for k, v in dict(data.get("too_long", {})).items() if (d := _dt(v))
            },
            seen=[str(r) for r in data.get("seen", [])],
        )

    @property
    def failing(self) -> bool:
        return self.streak > 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
