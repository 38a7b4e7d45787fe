"""How schedkit's value objects are laid out as MongoDB documents, with the keys,
queries and run-transition fences over them (the store's modules run them; the indexes
are ``indexes.py``).

Two choices shape every document:

* **Datetimes are int64 microseconds since the Unix epoch (UTC).** BSON dates keep only
  milliseconds, while the store contract requires microseconds to round-trip exactly;
  an integer is exact, sorts and compares like the instant it encodes, and is indexed
  the same way on MongoDB and on FerretDB.
* **JSON payloads (kwargs, results, errors, progress, audit before/after, state values,
  node info, triggers) are stored as JSON text.** As BSON some would not round-trip:
  FerretDB rejects keys that start with ``$`` or contain ``.`` (MongoDB restricts them
  too) and BSON has no integer beyond 64 bits. Text round-trips exactly and comes from
  the same serializer as the SQL stores', so every backend accepts the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schedkit.models import (
    LOCAL_EXECUTOR,
    ApiToken,
    AuditEvent,
    Lease,
    LogLine,
    Node,
    OverlapPolicy,
    Run,
    RunFilter,
    RunStatus,
    Schedule,
    StateEntry,
    TriggerSource,
    ensure_utc,
)

Doc = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# -- scalars -----------------------------------------------------------------------------


def to_us(value: datetime) -> int:
    """Microseconds since the epoch; a naive datetime raises ValueError (invariant 7)."""
    return (ensure_utc(value) - _EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def opt_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def opt_dt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def opt_dump(value: Any) -> str | None:
    return None if value is None else dump_json(value)


def opt_load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- document keys ---------------------------------------------------------------------------


def fire_key(run: Run) -> str:
    """The fencing key of a run (invariant 1), unique in the runs collection.

    ``s|<schedule_id>|<scheduled_for µs>`` for scheduled runs: the part after the last
    ``|`` is always digits (or ``-digits``), so two different pairs never give one key.
    ``m|<run id>`` for runs without a schedule: unique per run, so they never collide.
    """
    if run.schedule_id is None:
        return f"m|{run.id}"
    return f"s|{run.schedule_id}|{to_us(run.scheduled_for)}"


def claim_key(run_id: str, attempt: int) -> str:
    """Fence of leaving ``pending`` at ``attempt`` (a claim, or a cancel/finish of a
    pending run); also holds the claiming node's heartbeat while the attempt runs."""
    return f"{run_id}:{attempt}"


def exit_key(run_id: str, attempt: int, status: RunStatus) -> str:
    """Fence of leaving ``status`` at ``attempt``: each (status, attempt) a run passes
    through has exactly one way out, so one key per pair makes every exit happen once."""
    if status is RunStatus.PENDING:
        return claim_key(run_id, attempt)
    if status is RunStatus.RUNNING:
        return f"{run_id}:{attempt}:final"
    return f"{run_id}:{attempt}:requeue"


def cancel_key(run_id: str) -> str:
    return f"{run_id}:cancel"


def progress_key(run_id: str) -> str:
    return f"{run_id}:progress"


def versioned_id(name: str, version: int) -> str:
    """``_id`` of one version of a lease (term) or state entry; the text after the last
    ``:`` is the number, so names containing ``:`` stay unambiguous."""
    return f"{name}:{version}"


def state_doc(key: str, version: int, value: Any, now: int) -> Doc:
    """The document of version ``version`` of state entry ``key`` (``now``: its write
    time in microseconds)."""
    return {
        "_id": versioned_id(key, version),
        "key": key,
        "version": version,
        "value": dump_json(value),
        "updated_at": now,
    }


# -- schedules -----------------------------------------------------------------------------


def encode_schedule(s: Schedule) -> Doc:
    return {
        "_id": s.id,
        "task_name": s.task_name,
        "trigger": dump_json(s.trigger),
        "kwargs": dump_json(s.kwargs),
        "paused": s.paused,
        "pause_note": s.pause_note,
        "misfire_grace_time": s.misfire_grace_time,
        "coalesce": s.coalesce,
        "max_instances": s.max_instances,
        "overlap": s.overlap.value,
        "timeout": s.timeout,
        "labels": ",".join(s.labels),
        "executor": s.executor,
        "origin": s.origin,
        "max_runs": s.max_runs,
        "run_count": s.run_count,
        "next_fire_time": opt_us(s.next_fire_time),
        "last_fire_time": opt_us(s.last_fire_time),
        "version": s.version,
        "created_at": to_us(s.created_at),
        "updated_at": to_us(s.updated_at),
    }


def decode_schedule(d: Mapping[str, Any]) -> Schedule:
    return Schedule(
        id=d["_id"],
        task_name=d["task_name"],
        trigger=json.loads(d["trigger"]),
        kwargs=json.loads(d["kwargs"]),
        paused=d["paused"],
        pause_note=d["pause_note"],
        misfire_grace_time=d["misfire_grace_time"],
        coalesce=d["coalesce"],
        max_instances=int(d["max_instances"]),
        overlap=OverlapPolicy(d["overlap"]),
        timeout=d["timeout"],
        labels=tuple(d["labels"].split(",")) if d.get("labels") else (),
        executor=d.get("executor"),
        origin=d["origin"],
        # Documents written before end conditions existed lack both fields.
        max_runs=d.get("max_runs"),
        run_count=int(d.get("run_count", 0)),
        next_fire_time=opt_dt(d["next_fire_time"]),
        last_fire_time=opt_dt(d["last_fire_time"]),
        version=int(d["version"]),
        created_at=from_us(d["created_at"]),
        updated_at=from_us(d["updated_at"]),
    )


# -- runs ------------------------------------------------------------------------------------


def encode_run(r: Run) -> Doc:
    return {
        "_id": r.id,
        "fire_key": fire_key(r),
        "task_name": r.task_name,
        "schedule_id": r.schedule_id,
        "trigger_source": r.trigger_source.value,
        "scheduled_for": to_us(r.scheduled_for),
        "status": r.status.value,
        "priority": int(r.priority),
        "attempt": r.attempt,
        "max_attempts": r.max_attempts,
        "kwargs": dump_json(r.kwargs),
        "not_before": to_us(r.not_before),
        "blocked_by": r.blocked_by,
        "node_id": r.node_id,
        "started_at": opt_us(r.started_at),
        "finished_at": opt_us(r.finished_at),
        "heartbeat_at": opt_us(r.heartbeat_at),
        "duration": r.duration,
        "result": opt_dump(r.result),
        "error": opt_dump(r.error),
        "attempt_errors": [dump_json(e) for e in r.attempt_errors],
        "progress": opt_dump(r.progress),
        "reason": r.reason,
        "cancel_requested": r.cancel_requested,
        "timeout": r.timeout,
        "created_at": to_us(r.created_at),
        "created_by": r.created_by,
        "labels": ",".join(r.labels),
        "executor": r.executor,
    }


def run_sidecar_keys(d: Mapping[str, Any]) -> list[str]:
    """Keys of the claims-collection documents that hold a run's live fields."""
    keys = [cancel_key(d["_id"]), progress_key(d["_id"])]
    if d["status"] == RunStatus.RUNNING.value:
        keys.append(claim_key(d["_id"], int(d["attempt"])))
    return keys


def decode_run(d: Mapping[str, Any], sidecars: Mapping[str, Mapping[str, Any]]) -> Run:
    """A run from its document and its sidecars (see ``MongoStore._load_runs``): while it
    runs, its heartbeat is in its claim document; a progress document and a cancel
    request document override the run document's fields."""
    run_id: str = d["_id"]
    status = RunStatus(d["status"])
    heartbeat_at = d["heartbeat_at"]
    claim = sidecars.get(claim_key(run_id, int(d["attempt"])))
    if status is RunStatus.RUNNING and claim is not None and claim.get("kind") == "claim":
        heartbeat_at = claim["heartbeat_at"]
    progress = sidecars.get(progress_key(run_id))
    request = sidecars.get(cancel_key(run_id))
    return Run(
        id=run_id,
        task_name=d["task_name"],
        schedule_id=d["schedule_id"],
        trigger_source=TriggerSource(d["trigger_source"]),
        scheduled_for=from_us(d["scheduled_for"]),
        status=status,
        priority=int(d["priority"]),
        attempt=int(d["attempt"]),
        max_attempts=int(d["max_attempts"]),
        kwargs=json.loads(d["kwargs"]),
        not_before=from_us(d["not_before"]),
        blocked_by=d["blocked_by"],
        node_id=d["node_id"],
        started_at=opt_dt(d["started_at"]),
        finished_at=opt_dt(d["finished_at"]),
        heartbeat_at=opt_dt(heartbeat_at),
        duration=d["duration"],
        result=opt_load(d["result"]),
        error=opt_load(d["error"]),
        attempt_errors=[json.loads(e) for e in d["attempt_errors"]],
        progress=opt_load(progress["progress"] if progress is not None else d["progress"]),
        # A cancel asked of an active run carries its reason until the run ends.
        reason=(request.get("reason") if status.active and request else None) or d["reason"],
        cancel_requested=d["cancel_requested"] or request is not None,
        timeout=d["timeout"],
        created_at=from_us(d["created_at"]),
        created_by=d["created_by"],
        labels=tuple(d["labels"].split(",")) if d.get("labels") else (),
        executor=d.get("executor") or LOCAL_EXECUTOR,
    )


def outcome_fields(
    status: RunStatus,
    finished_at: datetime,
    *,
    duration: float | None = None,
    result: Any = None,
    error: Any = None,
    reason: str | None = None,
) -> Doc:
    """The run fields an attempt's end sets (``$set`` of finish, cancel, lost)."""
    return {
        "status": status.value,
        "finished_at": to_us(finished_at),
        "duration": duration,
        "result": opt_dump(result),
        "error": opt_dump(error),
        "reason": reason,
    }


# -- log lines, leases, nodes, audit, tokens, state -------------------------------------------


def encode_log(line: LogLine) -> Doc:
    return {
        # (run_id, seq) is the line's identity: a batch sent twice adds nothing.
        "_id": f"{line.run_id}:{line.seq}",
        "run_id": line.run_id,
        "seq": line.seq,
        "attempt": line.attempt,
        "ts": to_us(line.ts),
        "level": line.level,
        "logger": line.logger,
        "message": line.message,
    }


def decode_log(d: Mapping[str, Any]) -> LogLine:
    return LogLine(
        run_id=d["run_id"],
        seq=int(d["seq"]),
        attempt=int(d["attempt"]),
        ts=from_us(d["ts"]),
        level=d["level"],
        logger=d["logger"],
        message=d["message"],
    )


def encode_lease(lease: Lease) -> Doc:
    return {
        "_id": versioned_id(lease.name, lease.term),
        "name": lease.name,
        "term": lease.term,
        "holder": lease.holder,
        "acquired_at": to_us(lease.acquired_at),
        "expires_at": to_us(lease.expires_at),
    }


def decode_lease(d: Mapping[str, Any]) -> Lease:
    return Lease(
        name=d["name"],
        holder=d["holder"],
        term=int(d["term"]),
        acquired_at=from_us(d["acquired_at"]),
        expires_at=from_us(d["expires_at"]),
    )


def encode_node(node: Node) -> Doc:
    return {
        "_id": node.id,
        "hostname": node.hostname,
        "pid": node.pid,
        "started_at": to_us(node.started_at),
        "heartbeat_at": to_us(node.heartbeat_at),
        "roles": list(node.roles),
        "version": node.version,
        "info": dump_json(node.info),
    }


def decode_node(d: Mapping[str, Any]) -> Node:
    return Node(
        id=d["_id"],
        hostname=d["hostname"],
        pid=int(d["pid"]),
        started_at=from_us(d["started_at"]),
        heartbeat_at=from_us(d["heartbeat_at"]),
        roles=list(d["roles"]),
        version=d["version"],
        info=json.loads(d["info"]),
    )


def encode_audit(event: AuditEvent) -> Doc:
    return {
        "_id": event.id,
        "at": to_us(event.at),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "before": opt_dump(event.before),
        "after": opt_dump(event.after),
        "detail": event.detail,
    }


def decode_audit(d: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=d["_id"],
        at=from_us(d["at"]),
        actor=d["actor"],
        action=d["action"],
        target=d["target"],
        before=opt_load(d["before"]),
        after=opt_load(d["after"]),
        detail=d["detail"],
    )


def encode_token(token: ApiToken) -> Doc:
    return {
        "_id": token.id,
        "name": token.name,
        "role": token.role,
        "token_hash": token.token_hash,
        "created_at": to_us(token.created_at),
        "created_by": token.created_by,
        "last_used_at": opt_us(token.last_used_at),
        "revoked": token.revoked,
    }


def decode_token(d: Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        id=d["_id"],
        name=d["name"],
        role=d["role"],
        token_hash=d["token_hash"],
        created_at=from_us(d["created_at"]),
        created_by=d["created_by"],
        last_used_at=opt_dt(d["last_used_at"]),
        revoked=d["revoked"],
    )


def decode_state(d: Mapping[str, Any]) -> StateEntry:
    return StateEntry(
        key=d["key"],
        value=json.loads(d["value"]),
        version=int(d["version"]),
        updated_at=from_us(d["updated_at"]),
    )


# -- queries ----------------------------------------------------------------------------


def run_query(flt: RunFilter | None) -> Doc:
    if flt is None:
        return {}
    query: Doc = {}
    if flt.task_name is not None:
        query["task_name"] = flt.task_name
    if flt.schedule_id is not None:
        query["schedule_id"] = flt.schedule_id
    if flt.statuses is not None:
        query["status"] = {"$in": sorted(s.value for s in flt.statuses)}
    if flt.trigger_source is not None:
        query["trigger_source"] = flt.trigger_source.value
    window: Doc = {}
    if flt.since is not None:
        window["$gte"] = to_us(flt.since)
    if flt.until is not None:
        window["$lt"] = to_us(flt.until)
    if window:
        query["scheduled_for"] = window
    if flt.node_id is not None:
        query["node_id"] = flt.node_id
    if flt.executor is not None:
        query["executor"] = executor_match(flt.executor)
    return query


def executor_match(executor: str) -> Any:
    """The query of runs recorded for ``executor``: documents written before runs had an
    executor (no field) are ``local`` runs."""
    return {"$in": [executor, None]} if executor == LOCAL_EXECUTOR else executor


def audit_query(actor: str | None, action: str | None, target: str | None) -> Doc:
    given = {"actor": actor, "action": action, "target": target}
    return {field: value for field, value in given.items() if value is not None}


# -- run transitions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """One fenced change of a run (see ``mongo.py``'s module docstring).

    Inserting the fence document ``key`` into the claims collection makes the caller the
    only writer of this change; ``fields`` (``$set``) and ``push`` (``$push``) are what it
    then writes to the run, provided the run is still at (``from_status``, ``attempt``).
    A claim's fence also carries the claiming node and its latest heartbeat.
    """

    key: str
    kind: str
    run_id: str
    attempt: int
    from_status: str
    fields: Doc
    push: Doc | None = None
    # Release the runs blocked_by this one once written (it ended).
    release: bool = False
    node_id: str | None = None
    heartbeat_at: int | None = None
    # The rollup mark written after the run (``rollups.py``): its hour's counts change.
    rollup: str | None = None

    def fence(self, at: int) -> Doc:
        return {
            "_id": self.key,
            "kind": self.kind,
            "run_id": self.run_id,
            "attempt": self.attempt,
            "from": self.from_status,
            "fields": self.fields,
            "push": self.push,
            "release": self.release,
            "node_id": self.node_id,
            "heartbeat_at": self.heartbeat_at,
            "rollup": self.rollup,
            "at": at,
        }

    @classmethod
    def from_fence(cls, d: Mapping[str, Any]) -> Transition:
        return cls(
            key=d["_id"],
            kind=d["kind"],
            run_id=d["run_id"],
            attempt=int(d["attempt"]),
            from_status=d["from"],
            fields=d["fields"],
            push=d["push"],
            release=d["release"],
            node_id=d["node_id"],
            heartbeat_at=d["heartbeat_at"],
            rollup=d.get("rollup"),  # fences written before rollups have none
        )

    def update(self) -> Doc:
        update: Doc = {"$set": self.fields}
        if self.push is not None:
            update["$push"] = self.push
        return update


def payload_size(fields: Mapping[str, Any]) -> int:
    return len(fields.get("result") or "") + len(fields.get("error") or "")


# -- statistics ------------------------------------------------------------------------------
