"""Tables, indexes and column types of the SQL store (SQLite and PostgreSQL), as the
latest schema version defines them: fresh databases are created from these, existing
ones brought to them by :mod:`schedkit.store.sql.migrations`.

Kept apart from :mod:`schedkit.store.sql` so the schema reads in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from schedkit.errors import ConfigError
from schedkit.models import LOCAL_EXECUTOR, OverlapPolicy, RunStatus, TriggerSource, WorkflowStatus
from schedkit.store.sql.columns import JSON_TYPE, LabelsType, StrEnumType, UTCDateTime

_PREFIX_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,29}")

#: The predicates of the partial run indexes by status (schema version 8), as text: the
#: statements they serve say them in exactly these words (see the runs table's indexes).
PENDING_ONLY = sa.text(f"status = '{RunStatus.PENDING.value}'")
RUNNING_ONLY = sa.text(f"status = '{RunStatus.RUNNING.value}'")
ACTIVE_ONLY = sa.text(f"status IN ('{RunStatus.PENDING.value}', '{RunStatus.RUNNING.value}')")


@dataclass(frozen=True, slots=True)
class Tables:
    """The store's tables under one prefix, sharing one MetaData."""

    prefix: str
    metadata: sa.MetaData
    schedules: sa.Table
    runs: sa.Table
    run_logs: sa.Table
    leases: sa.Table
    nodes: sa.Table
    audit_events: sa.Table
    api_tokens: sa.Table
    kv_state: sa.Table
    schema_version: sa.Table
    workflow_runs: sa.Table
    run_rollups: sa.Table


def _partial(name: str, *columns: Any, where: sa.ColumnElement[bool] | sa.TextClause) -> sa.Index:
    """A partial index, with the same predicate on both databases."""
    return sa.Index(name, *columns, postgresql_where=where, sqlite_where=where)


def build_tables(prefix: str) -> Tables:
    """The table definitions of the current schema version, names prefixed with ``prefix``.

    Index names carry the prefix too: they share one namespace per database (SQLite) or
    per schema (PostgreSQL) with the host application's indexes.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ConfigError(
            f"table_prefix {prefix!r} must be 0-30 letters, digits or underscores, "
            "not starting with a digit"
        )
    md = sa.MetaData()
    p = prefix
    ts = UTCDateTime

    schedules = sa.Table(
        f"{p}schedules",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("task_name", sa.String, nullable=False),
        sa.Column("trigger", JSON_TYPE, nullable=False),
        sa.Column("kwargs", JSON_TYPE, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("pause_note", sa.String),
        sa.Column("misfire_grace_time", sa.Float),
        sa.Column("coalesce", sa.Boolean, nullable=False),
        sa.Column("max_instances", sa.Integer, nullable=False),
        sa.Column("overlap", StrEnumType(OverlapPolicy), nullable=False),
        sa.Column("timeout", sa.Float),
        sa.Column("origin", sa.String, nullable=False),
        sa.Column("next_fire_time", ts()),
        sa.Column("last_fire_time", ts()),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        # Labels its runs require on top of the task's (schema version 4).
        sa.Column("labels", LabelsType(), nullable=False, server_default=""),
        # Version 5 (added last, where ALTER TABLE puts them on an upgraded database).
        sa.Column("max_runs", sa.Integer),
        sa.Column("run_count", sa.Integer, nullable=False, server_default="0"),
        # Where its runs execute; NULL: where the task says (_run_executor's version).
        sa.Column("executor", sa.String),
    )
    sa.Index(f"{p}schedules_due_ix", schedules.c.paused, schedules.c.next_fire_time, schedules.c.id)
    sa.Index(f"{p}schedules_task_ix", schedules.c.task_name)

    runs = sa.Table(
        f"{p}runs",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("task_name", sa.String, nullable=False),
        sa.Column("schedule_id", sa.String),
        sa.Column("trigger_source", StrEnumType(TriggerSource), nullable=False),
        sa.Column("scheduled_for", ts(), nullable=False),
        sa.Column("status", StrEnumType(RunStatus), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("kwargs", JSON_TYPE, nullable=False),
        sa.Column("not_before", ts(), nullable=False),
        sa.Column("blocked_by", sa.String),
        sa.Column("node_id", sa.String),
        sa.Column("started_at", ts()),
        sa.Column("finished_at", ts()),
        sa.Column("heartbeat_at", ts()),
        sa.Column("duration", sa.Float),
        sa.Column("result", JSON_TYPE),
        sa.Column("error", JSON_TYPE),
        sa.Column("attempt_errors", JSON_TYPE, nullable=False),
        sa.Column("progress", JSON_TYPE),
        sa.Column("reason", sa.String),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("timeout", sa.Float),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("created_by", sa.String),
        # Labels a claiming node must offer, as ``_common.labels_key`` (schema version 4).
        sa.Column("labels", LabelsType(), nullable=False, server_default=""),
        # Where the run executes: 'local' (schedkit nodes claim it) or the executor it is
        # handed to, e.g. 'celery' (_run_executor's version).
        sa.Column("executor", sa.String, nullable=False, server_default=LOCAL_EXECUTOR),
        # The fencing key (invariant 1). NULL schedule_id (manual runs) never collides:
        # NULLs are distinct in unique constraints on both databases.
        sa.UniqueConstraint("schedule_id", "scheduled_for", name=f"{p}runs_fence_uq"),
    )
    # Partial indexes (schema version 8): the index of a phase of a run's life holds only
    # the runs in it, so a run's insert and its two transitions skip the others. On
    # PostgreSQL an update that changes the status writes a new entry in every index
    # whose predicate the new row meets (no HOT update); on SQLite the indexes stay as
    # small as the active runs, their pages hot. The statements these serve repeat each
    # predicate as written (PENDING_ONLY, ...): a planner uses a partial index only for
    # a query that implies its predicate, which a list of parameters never does, nor a
    # parameter in PostgreSQL's generic plans.
    #
    # Claim: exactly the claim order over the pending runs, so a claim reads the first
    # entries and stops at LIMIT instead of sorting every pending run. The status leads
    # although the predicate fixes it: without statistics, SQLite's planner prefers an
    # index with an equality on its first column (the status history index) and sorts.
    _partial(
        f"{p}runs_claim_ix",
        runs.c.status,
        runs.c.priority.desc(),
        runs.c.not_before,
        runs.c.id,
        where=PENDING_ONLY,
    )
    # The reaper: running runs by heartbeat (the status leads, as in the claim's).
    _partial(f"{p}runs_reaper_ix", runs.c.status, runs.c.heartbeat_at, where=RUNNING_ONLY)
    # The overlap policies: the active runs of the due schedules, oldest first.
    _partial(
        f"{p}runs_schedule_active_ix",
        runs.c.schedule_id,
        runs.c.scheduled_for,
        runs.c.id,
        where=ACTIVE_ONLY,
    )
    # Runs queued behind another one (few): released when it ends.
    _partial(f"{p}runs_blocked_by_ix", runs.c.blocked_by, where=runs.c.blocked_by.is_not(None))
    # History (newest first, ties by id) overall, by task and by node: the id completes
    # the order so a page is read off the index without a sort.
    sa.Index(f"{p}runs_scheduled_ix", runs.c.scheduled_for, runs.c.id)
    sa.Index(f"{p}runs_task_scheduled_ix", runs.c.task_name, runs.c.scheduled_for, runs.c.id)
    sa.Index(f"{p}runs_node_scheduled_ix", runs.c.node_id, runs.c.scheduled_for, runs.c.id)
    # History filtered by status (e.g. the failed runs): a page off the index, no scan.
    sa.Index(f"{p}runs_status_scheduled_ix", runs.c.status, runs.c.scheduled_for, runs.c.id)
    # History of one task filtered by status, read off the index like the two above
    # (through runs_task_scheduled_ix, a page deep in a task's failed runs reads and
    # drops every entry of its other statuses on the way). The trailing duration makes
    # it cover run_stats: per task and status the window is one range of entries,
    # counted and read without touching the table, on both databases, so statistics
    # need no index of their own that every write would pay for.
    sa.Index(
        f"{p}runs_task_status_scheduled_ix",
        runs.c.task_name,
        runs.c.status,
        runs.c.scheduled_for,
        runs.c.id,
        runs.c.duration,
    )
    # The purge: finished runs by end time.
    _partial(f"{p}runs_finished_ix", runs.c.finished_at, where=runs.c.finished_at.is_not(None))
    # The hand-off's read of the pending runs of another executor. Partial: the runs
    # schedkit nodes execute themselves (almost all) are not in it, so the hot path's
    # inserts and claims do not pay for it.
    _partial(
        f"{p}runs_handoff_ix",
        runs.c.executor,
        runs.c.status,
        runs.c.scheduled_for,
        runs.c.id,
        where=runs.c.executor != LOCAL_EXECUTOR,
    )

    # No foreign keys anywhere: history outlives schedules by design, the purge deletes
    # log lines explicitly, and FK checks would cost on every hot-path insert.
    run_logs = sa.Table(
        f"{p}run_logs",
        md,
        sa.Column("run_id", sa.String, primary_key=True),
        # 64-bit (schema version 9): attempt n's lines start at (n - 1) * 10**9
        # (SEQ_PER_ATTEMPT), past 32 bits from the fourth attempt on. SQLite's INTEGER
        # already holds 64 bits, so it keeps the name it has on upgraded databases.
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ts", ts(), nullable=False),
        sa.Column("level", sa.String, nullable=False),
        sa.Column("logger", sa.String, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        # SQLite: rows clustered on the primary key, instead of a rowid table plus a
        # second b-tree for (run_id, seq): a third less space, and a run's lines are
        # read in one range scan. Log lines are small, where WITHOUT ROWID fits best.
        sqlite_with_rowid=False,
    )

    leases = sa.Table(
        f"{p}leases",
        md,
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("holder", sa.String, nullable=False),
        sa.Column("term", sa.Integer, nullable=False),
        sa.Column("acquired_at", ts(), nullable=False),
        sa.Column("expires_at", ts(), nullable=False),
    )

    nodes = sa.Table(
        f"{p}nodes",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("hostname", sa.String, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", ts(), nullable=False),
        sa.Column("heartbeat_at", ts(), nullable=False),
        sa.Column("roles", JSON_TYPE, nullable=False),
        sa.Column("version", sa.String, nullable=False),
        sa.Column("info", JSON_TYPE, nullable=False),
    )

    audit_events = sa.Table(
        f"{p}audit_events",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("at", ts(), nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("target", sa.String, nullable=False),
        sa.Column("before", JSON_TYPE),
        sa.Column("after", JSON_TYPE),
        sa.Column("detail", sa.Text),
    )
    # Newest first, overall and per filter (the console's audit views).
    sa.Index(f"{p}audit_at_ix", audit_events.c.at, audit_events.c.id)
    for column in (audit_events.c.actor, audit_events.c.action, audit_events.c.target):
        sa.Index(f"{p}audit_{column.name}_at_ix", column, audit_events.c.at, audit_events.c.id)

    api_tokens = sa.Table(
        f"{p}api_tokens",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("token_hash", sa.String, nullable=False),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("created_by", sa.String),
        sa.Column("last_used_at", ts()),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.UniqueConstraint("token_hash", name=f"{p}api_tokens_hash_uq"),
    )

    kv_state = sa.Table(
        f"{p}kv_state",
        md,
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", JSON_TYPE, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
    )

    workflow_runs = workflow_runs_table(md, p)

    schema_version = sa.Table(
        f"{p}schema_version",
        md,
        # Versions are given, never generated (no SERIAL on PostgreSQL).
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        # The oldest schema version whose code still works on this one.
        sa.Column("compatible_from", sa.Integer, nullable=False),
        sa.Column("applied_at", ts(), nullable=False),
    )

    return Tables(
        prefix=prefix,
        metadata=md,
        schedules=schedules,
        runs=runs,
        run_logs=run_logs,
        leases=leases,
        nodes=nodes,
        audit_events=audit_events,
        api_tokens=api_tokens,
        kv_state=kv_state,
        schema_version=schema_version,
        workflow_runs=workflow_runs,
        run_rollups=run_rollups_table(md, p),
    )


def workflow_runs_table(md: sa.MetaData, p: str) -> sa.Table:
    """Workflow runs (schema version 3): a table of their own, so the runs table and its
    hot-path indexes stay as they were."""
    ts = UTCDateTime
    table = sa.Table(
        f"{p}workflow_runs",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("workflow", sa.String, nullable=False),
        sa.Column("definition", JSON_TYPE, nullable=False),
        sa.Column("trigger_source", StrEnumType(TriggerSource), nullable=False),
        sa.Column("scheduled_for", ts(), nullable=False),
        sa.Column("status", StrEnumType(WorkflowStatus), nullable=False),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.Column("finished_at", ts()),
        sa.Column("created_by", sa.String),
    )
    # Newest first, overall, per workflow and per status (the sweep reads the running).
    sa.Index(f"{p}workflow_runs_created_ix", table.c.created_at, table.c.id)
    sa.Index(f"{p}workflow_runs_workflow_ix", table.c.workflow, table.c.created_at, table.c.id)
    sa.Index(f"{p}workflow_runs_status_ix", table.c.status, table.c.created_at, table.c.id)
    return table


def run_rollups_table(md: sa.MetaData, p: str) -> sa.Table:
    """Run rollups (schema version
    :data:`~schedkit.store.sql.migrations.ROLLUPS_VERSION`, ``store._rollups``): per
    period (3600 or 86400 s), period start of ``scheduled_for``, task and finished status.
    The key leads with the period and its start: a window of every task is one range."""
    return sa.Table(
        f"{p}run_rollups",
        md,
        sa.Column("period", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("period_start", UTCDateTime(), primary_key=True),
        sa.Column("task_name", sa.String, primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("runs", sa.BigInteger, nullable=False),
        sa.Column("timed", sa.BigInteger, nullable=False),
        sa.Column("duration_sum", sa.Float, nullable=False),
        sa.Column("histogram", sa.LargeBinary, nullable=False),
    )
