"""The indexes schedkit keeps on its MongoDB collections (``base.py`` creates and
brings them up to date at ``open``; ``sk_*`` names are schedkit's own)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Index:
    """An index schedkit keeps on a collection (``sk_*`` names are schedkit's own)."""

    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False


INDEXES: Mapping[str, tuple[Index, ...]] = {
    "schedules": (
        Index("sk_due", (("paused", 1), ("next_fire_time", 1), ("_id", 1))),
        Index("sk_task", (("task_name", 1), ("_id", 1))),
    ),
    "runs": (
        # The fencing key (invariant 1). Not a unique (schedule_id, scheduled_for) index:
        # MongoDB indexes a missing or null schedule_id as null, so two manual runs at one
        # instant would collide, and FerretDB v1 has no partial indexes to leave them out
        # (it even lets missing fields not collide, unlike MongoDB). One always-present
        # string key behaves the same on both servers.
        Index("sk_fire_key", (("fire_key", 1),), unique=True),
        Index("sk_schedule", (("schedule_id", 1), ("scheduled_for", 1), ("_id", 1))),
        Index("sk_claim", (("status", 1), ("priority", -1), ("not_before", 1), ("_id", 1))),
        Index("sk_history", (("scheduled_for", -1), ("_id", -1))),
        Index("sk_task_history", (("task_name", 1), ("scheduled_for", -1), ("_id", -1))),
        Index("sk_status_history", (("status", 1), ("scheduled_for", -1), ("_id", -1))),
        Index(
            "sk_task_status_history",
            (("task_name", 1), ("status", 1), ("scheduled_for", -1), ("_id", -1)),
        ),
        Index("sk_finished", (("status", 1), ("finished_at", 1))),
        Index("sk_blocked", (("blocked_by", 1),)),
    ),
    "run_logs": (Index("sk_run_seq", (("run_id", 1), ("seq", 1))),),
    "leases": (Index("sk_name_term", (("name", 1), ("term", -1)), unique=True),),
    "claims": (Index("sk_run", (("run_id", 1),)),),
    "nodes": (),
    "audit": (
        Index("sk_at", (("at", -1), ("_id", -1))),
        Index("sk_actor", (("actor", 1), ("at", -1))),
        Index("sk_action", (("action", 1), ("at", -1))),
        Index("sk_target", (("target", 1), ("at", -1))),
    ),
    "tokens": (
        Index("sk_token_hash", (("token_hash", 1),), unique=True),
        Index("sk_created", (("created_at", 1), ("_id", 1))),
    ),
    "state": (Index("sk_key_version", (("key", 1), ("version", -1)), unique=True),),
    "meta": (),
    "workflow_runs": (
        Index("sk_wf_created", (("created_at", -1), ("_id", -1))),
        Index("sk_wf_workflow", (("workflow", 1), ("created_at", -1), ("_id", -1))),
        Index("sk_wf_status", (("status", 1), ("created_at", -1), ("_id", -1))),
    ),
    "run_rollups": (Index("sk_rollup_hour", (("hour", 1), ("task_name", 1))),),
}
