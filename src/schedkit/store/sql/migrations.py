"""Schema versions of the SQL store and the steps between them.

A fresh database gets the current tables (:func:`schedkit.store.sql.schema.build_tables`,
``metadata.create_all``) and is stamped :func:`latest_version`. An existing database at
version N is brought up by the steps in :data:`MIGRATIONS`: ``MIGRATIONS[i]`` upgrades
version ``i + 1`` to ``i + 2``. All pending steps run in the one transaction that
:func:`migrate` runs in (SQLite and PostgreSQL both have transactional DDL), so a failed
upgrade leaves the old version intact. To add version N + 1: change the table definitions
(fresh databases), append a step that turns a version-N database into exactly that
(existing databases), and let ``tests/store/test_sql_migrations.py`` prove that the two
agree.

Rolling upgrades: each step states the oldest schema version whose code still works on
the upgraded database (``compatible_from``). Additive steps (a new table, index or
nullable column) keep the previous value, so nodes still running the older release go on
working, and may even restart, while the others are upgraded; a step that older code
would break on raises it, and older code then refuses to open the database. Such a step
is not applied while nodes are alive on the database (``store._upgrade``): they run older
code, which does not look at the version again once started.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schedkit.errors import StoreError, StoreNotFoundError, StoreOutdatedError
from schedkit.models import JSON, LOCAL_EXECUTOR, Node, RunStatus, utcnow
from schedkit.store._upgrade import (
    DEFAULT_CHECK,
    UPGRADE_KEY,
    UpgradeCheck,
    live_nodes,
    outdated,
    refuse_upgrade,
    upgrade_record,
)
from schedkit.store.refusals import PG_PRIVILEGE, UPGRADE_AS_OWNER
from schedkit.store.sql.rollups import fill
from schedkit.store.sql.schema import Tables, run_rollups_table, workflow_runs_table

log = logging.getLogger("schedkit.store.sql")

#: Seconds an upgrade step waits for a table lock on PostgreSQL before giving up.
UPGRADE_LOCK_TIMEOUT = 5.0
#: SQLSTATE lock_not_available: ``lock_timeout`` expired.
PG_LOCK_NOT_AVAILABLE = "55P03"


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
    that table as version 3 defines it (``workflow_runs_table``, which later versions
    must leave as it is or copy here before changing it)."""
    md = sa.MetaData()
    workflow_runs_table(md, tables.prefix)
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


def _v6_run_rollups(conn: Connection, tables: Tables) -> None:
    """Version :data:`ROLLUPS_VERSION`: the run rollups table, filled from the runs
    already stored. (Defined apart, like version 3's table, and ``rollups.fill`` reads
    only columns every version has.)"""
    md = sa.MetaData()
    run_rollups_table(md, tables.prefix)
    md.create_all(conn, checkfirst=True)
    fill(conn, tables.runs, tables.run_rollups)


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


def _v9_log_seq_bigint(conn: Connection, tables: Tables) -> None:
    """Version 9: ``run_logs.seq`` holds 64 bits. Attempt n's lines are numbered from
    (n - 1) * 10**9 (``SEQ_PER_ATTEMPT``), past PostgreSQL's 32-bit INTEGER from the
    fourth attempt on: every line of it was refused.

    PostgreSQL only: an INTEGER column of SQLite stores 64-bit values whatever its
    declared type, so there the step changes nothing. On PostgreSQL the type change
    rewrites the table and its primary key index under an ACCESS EXCLUSIVE lock on
    ``run_logs``, for a time that grows with the lines stored (docs/stores.md):
    PostgreSQL widens no integer column in place.

    Additive in effect: older code writes and reads the same numbers as before (its
    statements still cast them to 32 bits: its nodes store a fourth attempt's lines
    once upgraded)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ALTER TABLE {tables.run_logs.name} ALTER COLUMN seq TYPE BIGINT")


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
    # Additive in effect (a wider column): code of version 7 keeps working on it.
    Migration(_v9_log_seq_bigint, compatible_from=7),
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


def migrate(
    conn: Connection,
    tables: Tables,
    *,
    create: bool = True,
    store: str = "",
    check: UpgradeCheck | None = DEFAULT_CHECK,
) -> tuple[int, int]:
    """Create (StoreNotFoundError instead if not ``create``) or upgrade the schema in the
    caller's transaction; returns the version the database was at (0: none, created
    here) and the version it is at afterwards. ``store`` names the database in messages.

    ``check`` None: never upgrade; an older database raises StoreOutdatedError, nothing
    changed. Otherwise an upgrade that code of the version found cannot work with is
    refused (StoreError, nothing changed) while nodes are alive on it, as ``check`` says
    (:mod:`schedkit.store._upgrade`).

    The caller serialises concurrent openers that may write (SQLite: BEGIN IMMEDIATE;
    PostgreSQL: an advisory lock), so a check-then-create here is not racy.
    """
    latest = latest_version()
    sv = tables.schema_version
    label = store or "database"
    if not sa.inspect(conn).has_table(sv.name):
        if not create:
            raise StoreNotFoundError(f"holds no schedkit store (no table {sv.name})")
        # No schema_version: nothing of ours can exist (creation is one transaction),
        # so skip create_all's per-table existence checks.
        tables.metadata.create_all(conn, checkfirst=False)
        _stamp(conn, tables, latest)
        return 0, latest
    row = conn.execute(
        sa.select(sv.c.version, sv.c.compatible_from).order_by(sv.c.version.desc()).limit(1)
    ).one()
    version, compatible_from = int(row.version), int(row.compatible_from)
    if version > latest:
        if compatible_from > latest:
            raise StoreError(
                f"store {label} is at schema version {version}, newer than this release's "
                f"{latest}, and needs schedkit code of schema version {compatible_from} or "
                f"newer: this release refuses to run on it; upgrade schedkit"
            )
        log.warning(
            "store %s is at schema version %d, newer than this release's %d: this release "
            "runs on it (code of schema version %d or newer does)",
            label,
            version,
            latest,
            compatible_from,
        )
        return version, version
    needs = _compatible_from(latest)
    nodes: list[Node] | None = None
    if version < latest:
        if check is None:
            raise outdated(store=label, kind="schema", found=version, target=latest, needs=needs)
        if needs > version:
            nodes = _nodes(conn, tables)
        if nodes is not None and not check.ignore_live_nodes:
            live = live_nodes(nodes, _now(conn), check.lost_after)
            if live:
                raise refuse_upgrade(
                    store=label,
                    kind="schema",
                    found=version,
                    target=latest,
                    needs=needs,
                    live=live,
                    lost_after=check.lost_after,
                )
    postgres = conn.dialect.name == "postgresql"
    if postgres and version < latest:
        # A step's table lock queued behind a long transaction makes every statement of
        # the live nodes on that table queue behind it (their claims and heartbeats froze
        # for as long as the upgrade waited): better give up and be tried again.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(UPGRADE_LOCK_TIMEOUT * 1000)}ms'")
    for target in range(version + 1, latest + 1):
        log.info("upgrading store %s from schema version %d to %d", label, target - 1, target)
        try:
            # A savepoint on PostgreSQL: after a lock timeout the transaction can still
            # read who holds the lock.
            with conn.begin_nested() if postgres else contextlib.nullcontext():
                MIGRATIONS[target - 2].upgrade(conn, tables)
        except sa.exc.DBAPIError as error:
            sqlstate = getattr(error.orig, "sqlstate", None)
            if sqlstate == PG_LOCK_NOT_AVAILABLE:
                raise StoreError(
                    f"store {label}: upgrading from schema version {version} to {latest} "
                    f"gave up after waiting {UPGRADE_LOCK_TIMEOUT:g} s for a table lock "
                    f"(nothing changed, the store stays at version {version}): "
                    f"{_lock_holders(conn, tables)}. Try again when that ends (end a "
                    "session left idle in a transaction with pg_terminate_backend)"
                ) from None
            if sqlstate != PG_PRIVILEGE:
                raise
            # A node's role that owns nothing (the owner/runtime split): "must be owner
            # of index ..." told it nothing of the version or of what to do.
            raise StoreOutdatedError(
                f"store {label} is at schema version {version}; this release uses {latest}, "
                f"and this role may not upgrade it ({error.orig}): {UPGRADE_AS_OWNER}, "
                "then start again"
            ) from None
        _stamp(conn, tables, target)
    if nodes is not None:
        record = upgrade_record(kind="schema", found=version, target=latest, nodes=nodes)
        _record_upgrade(conn, tables, record)
    return version, latest


def _record_upgrade(conn: Connection, tables: Tables, record: JSON) -> None:
    """Keep ``record`` under ``UPGRADE_KEY`` as ``set_state`` would, in the upgrade's
    transaction (a failed upgrade records nothing)."""
    kv = tables.kv_state
    before = conn.execute(sa.select(kv.c.version).where(kv.c.key == UPGRADE_KEY)).scalar()
    conn.execute(sa.delete(kv).where(kv.c.key == UPGRADE_KEY))
    conn.execute(
        kv.insert().values(
            key=UPGRADE_KEY, value=record, version=(before or 0) + 1, updated_at=utcnow()
        )
    )


def _lock_holders(conn: Connection, tables: Tables) -> str:
    """The other sessions holding locks on the store's tables, as pg_stat_activity
    shows them (a role without pg_read_all_stats sees no query of other roles)."""
    names = [t.name for t in tables.metadata.sorted_tables]
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT a.pid, a.state, a.xact_start, left(a.query, 120) AS query "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.granted AND l.pid <> pg_backend_pid() "
            "AND l.relation = ANY (SELECT to_regclass(n) FROM unnest(CAST(:names AS text[])) n) "
            "ORDER BY a.xact_start NULLS LAST LIMIT 5"
        ),
        {"names": names},
    ).all()
    if not rows:
        return "another session held a lock on a table of the store (since released)"
    return "held by " + "; ".join(
        f"pid {r.pid} ({r.state}, in a transaction since "
        f"{r.xact_start.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {r.query!r})"
        if r.xact_start is not None
        else f"pid {r.pid} ({r.state})"
        for r in rows
    )


def _nodes(conn: Connection, tables: Tables) -> list[Node]:
    """The node rows, by the columns every version has (the baseline's)."""
    n = tables.nodes
    stmt = sa.select(n.c.id, n.c.hostname, n.c.pid, n.c.started_at, n.c.heartbeat_at, n.c.version)
    return [Node(**row._asdict()) for row in conn.execute(stmt)]


def _now(conn: Connection) -> datetime:
    """The time node heartbeats are judged by: PostgreSQL's clock (nodes whose clock is
    off write the server's time, ``scheduler.clock``), SQLite's machine's."""
    if conn.dialect.name == "postgresql":
        now: datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return now.astimezone(UTC)
    return utcnow()
