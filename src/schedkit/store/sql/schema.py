"""Tables, indexes, column types and migrations of the SQL store (SQLite and PostgreSQL).

Kept apart from :mod:`schedkit.store.sql` so the schema reads in one place and the
migration runner can be tested on its own.

Schema versions: a fresh database gets the current tables (``metadata.create_all``) and is
stamped :func:`latest_version`. An existing database at version N is brought up by the
steps in :data:`MIGRATIONS`: ``MIGRATIONS[i]`` upgrades version ``i + 1`` to ``i + 2``.
All pending steps run in the one transaction that :func:`migrate` runs in (SQLite and
PostgreSQL both have transactional DDL), so a failed upgrade leaves the old version intact.
To add version N + 1: change the table definitions below (fresh databases), append a step
that turns a version-N database into exactly that (existing databases), and let
``tests/store/test_sql_migrations.py`` prove that the two agree.

Rolling upgrades: each step states the oldest schema version whose code still works on
the upgraded database (``compatible_from``). Additive steps (a new table, index or
nullable column) keep the previous value, so nodes still running the older release go on
working, and may even restart, while the others are upgraded; a step that older code
would break on raises it, and older code then refuses to open the database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.errors import ConfigError, StoreError
from schedkit.models import (
    LOCAL_EXECUTOR,
    OverlapPolicy,
    RunStatus,
    TriggerSource,
    WorkflowStatus,
    utcnow,
)
from schedkit.store._rollups import RollupDelta, encode_histogram
from schedkit.store.sql.columns import JSON_TYPE, LabelsType, StrEnumType, UTCDateTime

log = logging.getLogger("schedkit.store.sql")

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
    sa.Index(
        f"{p}runs_claim_ix",
        runs.c.status,
        runs.c.priority.desc(),
        runs.c.not_before,
        runs.c.id,
        postgresql_where=PENDING_ONLY,
        sqlite_where=PENDING_ONLY,
    )
    # The reaper: running runs by heartbeat (the status leads, as in the claim's).
    sa.Index(
        f"{p}runs_reaper_ix",
        runs.c.status,
        runs.c.heartbeat_at,
        postgresql_where=RUNNING_ONLY,
        sqlite_where=RUNNING_ONLY,
    )
    # The overlap policies: the active runs of the due schedules, oldest first.
    sa.Index(
        f"{p}runs_schedule_active_ix",
        runs.c.schedule_id,
        runs.c.scheduled_for,
        runs.c.id,
        postgresql_where=ACTIVE_ONLY,
        sqlite_where=ACTIVE_ONLY,
    )
    # Runs queued behind another one (few): released when it ends.
    blocked = runs.c.blocked_by.is_not(None)
    sa.Index(
        f"{p}runs_blocked_by_ix", runs.c.blocked_by, postgresql_where=blocked, sqlite_where=blocked
    )
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
    ended = runs.c.finished_at.is_not(None)
    sa.Index(f"{p}runs_finished_ix", runs.c.finished_at, postgresql_where=ended, sqlite_where=ended)
    # The hand-off's read of the pending runs of another executor. Partial: the runs
    # schedkit nodes execute themselves (almost all) are not in it, so the hot path's
    # inserts and claims do not pay for it.
    handed_off = runs.c.executor != LOCAL_EXECUTOR
    sa.Index(
        f"{p}runs_handoff_ix",
        runs.c.executor,
        runs.c.status,
        runs.c.scheduled_for,
        runs.c.id,
        postgresql_where=handed_off,
        sqlite_where=handed_off,
    )

    # No foreign keys anywhere: history outlives schedules by design, the purge deletes
    # log lines explicitly, and FK checks would cost on every hot-path insert.
    run_logs = sa.Table(
        f"{p}run_logs",
        md,
        sa.Column("run_id", sa.String, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
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

    workflow_runs = _workflow_runs_table(md, p)

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
        run_rollups=_run_rollups_table(md, p),
    )


def _workflow_runs_table(md: sa.MetaData, p: str) -> sa.Table:
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


def _run_rollups_table(md: sa.MetaData, p: str) -> sa.Table:
    """Run rollups (schema version :data:`ROLLUPS_VERSION`, ``store._rollups``): per
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


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version up: ``upgrade`` runs inside the caller's transaction."""

    upgrade: Callable[[Connection, Tables], None]
    #: The oldest schema version whose code still works after this step: keep the
    #: previous step's value for additive changes (see the module docstring); None:
    #: only code of the version this step makes (or newer).
    compatible_from: int | None


def _v2_task_status_index(conn: Connection, tables: Tables) -> None:
    """Version 2: the (task, status) history and statistics index.

    The DDL is spelled out rather than taken from :func:`build_tables`, so that this
    step stays what it is when a later version changes the definitions. The status
    index is created only if missing: version 1 stores created before it joined the
    version-1 tables lack it, and this brings them to the same schema as the others.
    """
    runs = tables.runs.name
    existing = {ix["name"] for ix in sa.inspect(conn).get_indexes(runs)}
    for name, columns in (
        ("runs_status_scheduled_ix", "status, scheduled_for, id"),
        ("runs_task_status_scheduled_ix", "task_name, status, scheduled_for, id, duration"),
    ):
        if f"{tables.prefix}{name}" not in existing:
            conn.exec_driver_sql(f"CREATE INDEX {tables.prefix}{name} ON {runs} ({columns})")


def _v3_workflow_runs(conn: Connection, tables: Tables) -> None:
    """Version 3: the workflow runs table. Built from a MetaData of its own holding only
    that table as version 3 defines it (``_workflow_runs_table``, which later versions
    must leave as it is or copy here before changing it)."""
    md = sa.MetaData()
    _workflow_runs_table(md, tables.prefix)
    md.create_all(conn, checkfirst=True)


def _v4_run_labels(conn: Connection, tables: Tables) -> None:
    """Version 4: the labels a run (and a schedule's runs) require of the node claiming
    it ('' for none)."""
    for table in (tables.runs.name, tables.schedules.name):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN labels VARCHAR DEFAULT '' NOT NULL")


def _v5_end_conditions(conn: Connection, tables: Tables) -> None:
    """Version 5: a schedule's end after N runs (``max_runs``, ``run_count``).

    Additive: code of versions 1 to 4 neither reads nor writes the columns (its inserts get
    ``run_count`` 0 from the default), so it keeps working on the upgraded database."""
    schedules = tables.schedules.name
    conn.exec_driver_sql(f"ALTER TABLE {schedules} ADD COLUMN max_runs INTEGER")
    conn.exec_driver_sql(
        f"ALTER TABLE {schedules} ADD COLUMN run_count INTEGER DEFAULT '0' NOT NULL"
    )


#: Runs read per query while the rollups step fills the table.
_BACKFILL_PAGE = 10_000


def _v6_run_rollups(conn: Connection, tables: Tables) -> None:
    """Version :data:`ROLLUPS_VERSION`: the run rollups table, filled from the runs
    already stored. (Defined apart, like version 3's table, and ``backfill`` reads only
    columns every version has.)"""
    md = sa.MetaData()
    _run_rollups_table(md, tables.prefix)
    md.create_all(conn, checkfirst=True)
    runs = tables.runs
    finished = sorted(s.value for s in RunStatus if s.finished)
    stmt = (
        sa.select(runs.c.id, runs.c.task_name, runs.c.scheduled_for, runs.c.status, runs.c.duration)
        .where(runs.c.status.in_(finished))
        .order_by(runs.c.id)
        .limit(_BACKFILL_PAGE)
    )
    delta = RollupDelta()
    # Read in pages by id: a large history is never held in memory at once, and no
    # server-side cursor is left open in the transaction (on PostgreSQL a later step's
    # ALTER TABLE of the runs is refused while one is).
    last: str | None = None
    while True:
        page = conn.execute(stmt if last is None else stmt.where(runs.c.id > last)).all()
        for _, task_name, scheduled_for, status, duration in page:
            delta.add(task_name, scheduled_for, status, duration)
        if len(page) < _BACKFILL_PAGE:
            break
        last = page[-1].id
    rows = [
        {
            "task_name": task_name,
            "status": status,
            "period": period,
            "period_start": start,
            "runs": r.runs,
            "timed": r.timed,
            "duration_sum": r.duration_sum,
            "histogram": encode_histogram(r.compacted()),
        }
        for (task_name, status, period, start), r in delta.sorted_items()
    ]
    for start in range(0, len(rows), 1000):
        conn.execute(tables.run_rollups.insert(), rows[start : start + 1000])


#: The schema version that added run rollups. Not additive: code of older versions
#: finishes and purges runs without keeping the rollups right, so it must not open an
#: upgraded database (``compatible_from``).
ROLLUPS_VERSION = 6


def _run_executor(conn: Connection, tables: Tables) -> None:
    """Where runs execute (``runs.executor``, 'local' for every run stored before, which
    is what they were unless their task said otherwise: no release sent runs elsewhere)
    and a schedule's choice of it (``schedules.executor``, NULL: the task's), with the
    hand-off's partial index.

    Not additive: older code would claim runs recorded for another executor (it knows
    only the executor of their task), so it refuses the upgraded database."""
    runs, p = tables.runs.name, tables.prefix
    conn.exec_driver_sql(
        f"ALTER TABLE {runs} ADD COLUMN executor VARCHAR DEFAULT '{LOCAL_EXECUTOR}' NOT NULL"
    )
    conn.exec_driver_sql(f"ALTER TABLE {tables.schedules.name} ADD COLUMN executor VARCHAR")
    conn.exec_driver_sql(
        f"CREATE INDEX {p}runs_handoff_ix ON {runs} (executor, status, scheduled_for, id) "
        f"WHERE executor != '{LOCAL_EXECUTOR}'"
    )


def _v8_partial_run_indexes(conn: Connection, tables: Tables) -> None:
    """Version 8: the claim, reaper, overlap, queue and purge indexes of the runs hold
    only the runs each one serves (see the runs table's indexes); spelled out, like the
    steps before, so that the step stays what it is.

    Additive in effect: code of version 7 finds the same runs, through these indexes
    where its statements match their predicates (on both databases the claim and the
    reaper do: the status is planned with its bound value), else through others (its
    overlap read, by the schedule's fencing key)."""
    runs, p = tables.runs.name, tables.prefix
    pending, running = RunStatus.PENDING.value, RunStatus.RUNNING.value
    active = f"status IN ('{pending}', '{running}')"
    replaced = {
        "claim": ("claim", f"(status, priority DESC, not_before, id) WHERE status = '{pending}'"),
        "reaper": ("reaper", f"(status, heartbeat_at) WHERE status = '{running}'"),
        "schedule_status": ("schedule_active", f"(schedule_id, scheduled_for, id) WHERE {active}"),
        "blocked_by": ("blocked_by", "(blocked_by) WHERE blocked_by IS NOT NULL"),
        "finished": ("finished", "(finished_at) WHERE finished_at IS NOT NULL"),
    }
    for old, (new, definition) in replaced.items():
        conn.exec_driver_sql(f"DROP INDEX {p}runs_{old}_ix")
        conn.exec_driver_sql(f"CREATE INDEX {p}runs_{new}_ix ON {runs} {definition}")


#: ``MIGRATIONS[i]`` upgrades version ``i + 1`` to ``i + 2``. Version 1 is the baseline
#: created by ``create_all``; append steps, never edit or reorder released ones.
MIGRATIONS: list[Migration] = [
    # Additive (an index): code of version 1 keeps working on it.
    Migration(_v2_task_status_index, compatible_from=1),
    # Additive (a new table): code of versions 1 and 2 keeps working on it.
    Migration(_v3_workflow_runs, compatible_from=1),
    # Additive (a column with a default): older code inserts runs without labels.
    Migration(_v4_run_labels, compatible_from=1),
    # Additive (two columns, one with a default): code of version 1 keeps working on it.
    Migration(_v5_end_conditions, compatible_from=1),
    # Not additive in effect: older code would leave the rollups wrong.
    Migration(_v6_run_rollups, compatible_from=ROLLUPS_VERSION),
    # Not additive (see the step): only code of the version it makes works on it.
    Migration(_run_executor, compatible_from=None),
    # Additive in effect (see the step): code of version 7 keeps working on it.
    Migration(_v8_partial_run_indexes, compatible_from=7),
]


def latest_version() -> int:
    """The schema version this code writes and expects."""
    return len(MIGRATIONS) + 1


def _compatible_from(version: int) -> int:
    if version <= 1:
        return 1
    compatible_from = MIGRATIONS[version - 2].compatible_from
    return version if compatible_from is None else compatible_from


def _stamp(conn: Connection, tables: Tables, version: int) -> None:
    conn.execute(
        tables.schema_version.insert().values(
            version=version, compatible_from=_compatible_from(version), applied_at=utcnow()
        )
    )


def migrate(conn: Connection, tables: Tables) -> int:
    """Create or upgrade the schema in the caller's transaction; returns the version the
    database is at afterwards.

    The caller serialises concurrent openers (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
    advisory lock), so a check-then-create here is not racy.
    """
    latest = latest_version()
    sv = tables.schema_version
    if not sa.inspect(conn).has_table(sv.name):
        # No schema_version: nothing of ours can exist (creation is one transaction),
        # so skip create_all's per-table existence checks.
        tables.metadata.create_all(conn, checkfirst=False)
        _stamp(conn, tables, latest)
        return latest
    row = conn.execute(
        sa.select(sv.c.version, sv.c.compatible_from).order_by(sv.c.version.desc()).limit(1)
    ).one()
    version, compatible_from = int(row.version), int(row.compatible_from)
    if version > latest:
        if compatible_from > latest:
            raise StoreError(
                f"the database schema is at version {version}, which needs schedkit code of "
                f"schema version {compatible_from} or newer (this is {latest}); upgrade schedkit"
            )
        log.warning(
            "database schema version %d is newer than this schedkit's (%d) but compatible",
            version,
            latest,
        )
        return version
    for target in range(version + 1, latest + 1):
        log.info("upgrading the schema of %s from version %d to %d", sv.name, target - 1, target)
        MIGRATIONS[target - 2].upgrade(conn, tables)
        _stamp(conn, tables, target)
    return latest
