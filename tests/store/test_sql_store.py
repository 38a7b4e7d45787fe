"""What the SQL store promises beyond the contract: configuration, the schema it creates,
index-backed hot-path queries, SQLite locking, and how lost connections surface."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from schedkit.errors import ConfigError, StoreError, StoreUnavailableError
from schedkit.models import LogLine, Run, RunFilter, RunOutcome, RunStatus, TriggerSource, new_id
from schedkit.store import create_store
from schedkit.store._rollups import window_plan
from schedkit.store.sql import SQLStore, rows
from schedkit.store.sql import engine as sql_engine
from schedkit.store.sql.migrations import latest_version
from tests.store._contract import fin, lost, outcome
from tests.store._versions import on_database
from tests.store.proxy import Proxy

T0 = datetime(2026, 3, 1, 8, 30, 15, 123457, tzinfo=UTC)

sql_backends = pytest.mark.parametrize(
    "store_url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
    ],
    indirect=True,
)

postgres_only = pytest.mark.parametrize(
    "store_url",
    [pytest.param("postgres", id="postgres", marks=pytest.mark.external_service)],
    indirect=True,
)


def make_run(**fields: Any) -> Run:
    values: dict[str, Any] = {
        "id": new_id(),
        "task_name": "t",
        "schedule_id": "s",
        "trigger_source": TriggerSource.SCHEDULE,
        "scheduled_for": T0,
        "not_before": T0,
    }
    values.update(fields)
    return Run(**values)


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("sqlite:///x.db", {"tabel_prefix": "a_"}, "unknown SQL store option"),
        ("sqlite:///x.db", {"table_prefix": "bad-prefix"}, "table_prefix"),
        ("sqlite:///x.db", {"table_prefix": 3}, "table_prefix"),
        ("sqlite:///x.db", {"pool_size": 0}, "pool_size"),
        ("sqlite:///x.db", {"busy_timeout": "30"}, "busy_timeout"),
        ("sqlite://", {}, "names no database file"),
        ("sqlite:///:memory:", {}, "names no database file"),
        # Two slashes: the file name is read as a host name, and the error says so.
        ("sqlite://x.db", {}, "'x.db' was read as a host name: write sqlite:///x.db"),
        ("sqlite+pysqlcipher:///x.db", {}, "unknown SQLite driver"),
        ("postgresql+psycopg2://u:pw@h/db", {}, "asyncpg"),
        ("mysql://u:pw@h/db", {}, "not a sqlite"),
        # An audit: a raw ValueError from SQLAlchemy (int() of the port), an OverflowError
        # from asyncpg, and a password's "@" read as part of the host name.
        (
            "postgresql://u:pw@127.0.0.1:x/db",
            {},
            r"^malformed store URL 'postgresql://u:\*\*\*@127\.0\.0\.1:x/db': the port is not",
        ),
        ("postgresql://u:pw@h:99999/db", {}, "port 99999 is not in 1-65535"),
        ("sqlite://:x/x.db", {}, "the port is not a number"),
        (
            "postgresql://u:s3cr@t@h/db",
            {},
            r"^store URL 'postgresql://u:\*\*\*@h/db': a password holding '@' must be percent",
        ),
    ],
)
def test_bad_configuration_is_a_config_error(
    url: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        SQLStore(url, **options)


def test_postgres_url_spellings_and_masked_display_url() -> None:
    for url in (
        "postgresql://u:secret@h/db",
        "postgres://u:secret@h/db",
        "postgresql+asyncpg://u:secret@h/db",
        "sqlite+aiosqlite:///x.db",
    ):
        store = create_store(url, table_prefix="app_")
        assert isinstance(store, SQLStore)
        assert "secret" not in store.display_url


async def test_use_before_open_is_a_store_error(sqlite_url: str) -> None:
    store = SQLStore(sqlite_url)
    with pytest.raises(StoreError, match="not open"):
        await store.get_run("x")


async def test_bad_sqlite_path_is_unavailable(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    with pytest.raises(StoreUnavailableError, match="missing-dir"):
        await store.open()
    await store.close()


async def test_unreachable_postgres_is_unavailable_with_password_masked() -> None:
    store = SQLStore("postgresql://u:s3cret-pw@127.0.0.1:1/db", connect_timeout=2)
    with pytest.raises(StoreUnavailableError) as caught:
        await store.open()
    assert "s3cret-pw" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


# -- schema ---------------------------------------------------------------------------------

EXPECTED_TABLES = {
    "schedules",
    "runs",
    "run_logs",
    "leases",
    "nodes",
    "audit_events",
    "api_tokens",
    "kv_state",
    "schema_version",
    "workflow_runs",
    "run_rollups",
}
EXPECTED_INDEXES = {
    "runs": {
        "runs_claim_ix": ["status", "priority", "not_before", "id"],
        "runs_reaper_ix": ["status", "heartbeat_at"],
        "runs_schedule_active_ix": ["schedule_id", "scheduled_for", "id"],
        "runs_blocked_by_ix": ["blocked_by"],
        "runs_scheduled_ix": ["scheduled_for", "id"],
        "runs_task_scheduled_ix": ["task_name", "scheduled_for", "id"],
        "runs_node_scheduled_ix": ["node_id", "scheduled_for", "id"],
        "runs_status_scheduled_ix": ["status", "scheduled_for", "id"],
        "runs_task_status_scheduled_ix": ["task_name", "status", "scheduled_for", "id", "duration"],
        "runs_finished_ix": ["finished_at"],
        "runs_handoff_ix": ["executor", "status", "scheduled_for", "id"],
    },
    "schedules": {
        "schedules_due_ix": ["paused", "next_fire_time", "id"],
        "schedules_task_ix": ["task_name"],
    },
    "audit_events": {
        "audit_at_ix": ["at", "id"],
        "audit_actor_at_ix": ["actor", "at", "id"],
        "audit_action_at_ix": ["action", "at", "id"],
        "audit_target_at_ix": ["target", "at", "id"],
    },
    "workflow_runs": {
        "workflow_runs_created_ix": ["created_at", "id"],
        "workflow_runs_workflow_ix": ["workflow", "created_at", "id"],
        "workflow_runs_status_ix": ["status", "created_at", "id"],
    },
}


#: The partial indexes, and a word of their predicate (each dialect spells it its way).
PARTIAL_INDEXES = {
    "runs_claim_ix": "'pending'",
    "runs_reaper_ix": "'running'",
    "runs_schedule_active_ix": "'running'",
    "runs_blocked_by_ix": "blocked_by is not null",
    "runs_finished_ix": "finished_at is not null",
    "runs_handoff_ix": "'local'",
}


def _predicate(index: Any) -> str | None:
    options = index.get("dialect_options", {})
    where = options.get("postgresql_where", options.get("sqlite_where"))
    return None if where is None else str(where).lower()


def _schema(conn: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(conn)
    return {
        table: {
            # PostgreSQL also lists the index behind each unique constraint.
            "indexes": {
                ix["name"]: ix["column_names"]
                for ix in inspector.get_indexes(table)
                if not ix.get("duplicates_constraint")
            },
            "predicates": {
                ix["name"]: _predicate(ix)
                for ix in inspector.get_indexes(table)
                if not ix.get("duplicates_constraint")
            },
            "unique": {
                uq["name"]: uq["column_names"] for uq in inspector.get_unique_constraints(table)
            },
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
        }
        for table in inspector.get_table_names()
    }


@sql_backends
async def test_tables_indexes_and_prefix(store_url: str) -> None:
    async with SQLStore(store_url, table_prefix="app_sk_") as store:
        schema = await on_database(store_url, _schema)
        # The rollups' own SQL names the prefixed table too.
        done = make_run(status=RunStatus.SUCCESS, duration=2.0, finished_at=T0)
        await store.insert_runs([done])
        [stats] = await store.run_stats(T0 - timedelta(hours=30))
        assert stats.counts == {"success": 1} and stats.percentiles_approximate
        assert await store.purge_runs(T0 + timedelta(seconds=1)) == 1
        assert await store.run_stats(T0 - timedelta(hours=30)) == []
    assert set(schema) == {f"app_sk_{name}" for name in EXPECTED_TABLES}
    for table, indexes in EXPECTED_INDEXES.items():
        got = schema[f"app_sk_{table}"]["indexes"]
        assert got == {f"app_sk_{name}": cols for name, cols in indexes.items()}
    runs = schema["app_sk_runs"]
    for name, predicate in runs["predicates"].items():
        word = PARTIAL_INDEXES.get(name.removeprefix("app_sk_"))
        assert (predicate is None) if word is None else (word in (predicate or "")), name
    assert runs["unique"] == {"app_sk_runs_fence_uq": ["schedule_id", "scheduled_for"]}
    assert schema["app_sk_run_logs"]["pk"] == ["run_id", "seq"]


@sql_backends
async def test_prefixes_keep_stores_apart(store_url: str) -> None:
    async with SQLStore(store_url) as default, SQLStore(store_url, table_prefix="other_") as other:
        run = make_run()
        assert await default.insert_runs([run]) == [run.id]
        assert await other.get_run(run.id) is None
        assert await other.insert_runs([run]) == [run.id]  # same key, other tables


@sql_backends
async def test_concurrent_first_opens_create_the_schema_once(store_url: str) -> None:
    stores = [SQLStore(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert [await s.schema_version() for s in stores] == [latest_version()] * 4
    finally:
        for s in stores:
            await s.close()


async def test_a_new_sqlite_file_another_process_is_writing_opens_after_its_write(
    sqlite_url: str,
) -> None:
    """Seen in CI: of two nodes started at once on a new SQLite file, one exited with
    "database is locked". Turning a file to WAL needs it unlocked, and SQLite answers
    busy at once there instead of waiting out the busy timeout (3 threads opening one
    new file at once: 13 of 200 trials). The store now waits for the lock as for any."""
    path = urlsplit(sqlite_url).path
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        # Another process's write in progress, its file not yet WAL.
        other.execute("CREATE TABLE elsewhere (x)")
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO elsewhere VALUES (1)")
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, other.execute, "COMMIT")
        started = time.monotonic()
        async with SQLStore(sqlite_url) as store:
            assert await store.schema_version() == latest_version()
        assert time.monotonic() - started >= 0.4  # it waited for the write
    finally:
        other.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- hot-path queries hit indexes (SQLite's planner; PostgreSQL's needs real data) ------------


@contextlib.contextmanager
def captured(store: SQLStore) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) the store sends while the block runs."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")):
            statements.append((statement, params))

    event.listen(store.sync_engine, "before_cursor_execute", record)
    # The hot statements go to the sqlite3 driver directly.
    rows.on_driver_statement = functools.partial(record, None, None)
    try:
        yield statements
    finally:
        rows.on_driver_statement = None
        event.remove(store.sync_engine, "before_cursor_execute", record)


def plan_problems(db_path: str, statements: list[tuple[str, Any]], *, sorts: bool) -> list[str]:
    """Plan lines that read a whole schedkit table (and, with ``sorts``, that sort rows
    instead of reading them in index order) for the given statements."""
    bad = []
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        for statement, params in statements:
            first = params[0] if isinstance(params, list) else params
            for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", first):
                detail: str = row[-1]
                whole_table = detail.startswith("SCAN schedkit_") and " USING " not in detail
                if whole_table or (sorts and "TEMP B-TREE" in detail):
                    bad.append(f"{detail}  <-  {statement.split(chr(10))[0][:120]}")
    return bad


async def test_hot_path_queries_use_indexes(sqlite_url: str) -> None:
    db_path = urlsplit(sqlite_url).path
    async with SQLStore(sqlite_url) as store:
        blocker = make_run(schedule_id="b")
        runs = [make_run(schedule_id=f"s{i}", priority=i % 3) for i in range(20)]
        await store.insert_runs([blocker, *runs, make_run(blocked_by=blocker.id, schedule_id="x")])
        done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0)
        with captured(store) as hot:
            claimed = await store.claim_runs("n1", T0, 5)
            await store.claim_runs("n1", T0, 5, task_names=["t", "u"])
            await store.heartbeat_runs("n1", [r.id for r in claimed], T0)
            await store.finish_run(fin(claimed[0].id, 1, "n1", done))
            await store.request_cancel(runs[-1].id, T0, "x")
            for run in await store.stale_runs(T0 - timedelta(seconds=1), 10):
                await store.lose_runs([lost(run, stale_before=T0 - timedelta(seconds=1), now=T0)])
            await store.due_schedules(T0, 100)
            await store.next_fire_time()
            await store.active_runs("s1")
            await store.get_logs(claimed[0].id)
            await store.get_lease("scheduler")
            await store.acquire_lease("scheduler", "a", 10, T0)
            await store.list_runs(RunFilter(task_name="t"), limit=20)
            failed = frozenset({RunStatus.FAILED})
            await store.list_runs(RunFilter(task_name="t", statuses=failed), limit=20, offset=5)
            await store.count_runs(RunFilter(task_name="t", statuses=failed))
            await store.list_runs(RunFilter(node_id="n1"), limit=20)
            await store.list_runs(RunFilter(schedule_id="s1"), limit=20)
            await store.list_runs(RunFilter(since=T0, until=T0 + timedelta(days=1)), limit=20)
            await store.list_runs(limit=20)
            for actor, action, target in (
                ("alice", None, None),
                (None, "run.cancel", None),
                (None, None, "s1"),
                (None, None, None),
            ):
                await store.list_audit(actor=actor, action=action, target=target)
        with captured(store) as reporting:  # read a window of rows: sorting it is fine
            await store.purge_runs(T0)
        assert hot and reporting
        assert plan_problems(db_path, hot, sorts=True) == []
        assert plan_problems(db_path, reporting, sorts=False) == []


async def test_writes_naming_runs_look_them_up_by_key(sqlite_url: str) -> None:
    """Hole: a claim's UPDATE searched the status index for ``status = 'pending'`` (every
    pending run read per claim: 17 µs per run claimed with 20,000 pending, 11 µs by key)
    and a heartbeat searched the node's index (every run the node ever executed)."""
    db_path = urlsplit(sqlite_url).path
    async with SQLStore(sqlite_url) as store:
        history = [make_run(schedule_id=f"h{i}") for i in range(30)]
        await store.insert_runs([*history, *(make_run(schedule_id=f"s{i}") for i in range(30))])
        done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0)
        for run in await store.claim_runs("n1", T0, 30):
            await store.finish_run(fin(run.id, 1, "n1", done))
        with captured(store) as writes:
            claimed = await store.claim_runs("n1", T0, 5)
            await store.heartbeat_runs("n1", [r.id for r in claimed], T0)
    claim, heartbeat = [(sql, p) for sql, p in writes if " UPDATE schedkit_runs " in f" {sql} "]
    # The claim's runs by key; the heartbeat's by key or among running runs (as many as
    # run at once), never among the node's whole history.
    assert all("sqlite_autoindex_schedkit_runs_1 (id=?)" in d for d in outer_plan(db_path, claim))
    assert not any("node_id" in d for d in outer_plan(db_path, heartbeat))


def outer_plan(db_path: str, statement: tuple[str, Any]) -> list[str]:
    """The plan lines of a statement's outermost query that read the runs table."""
    sql, params = statement
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    found = [row[-1] for row in plan if row[1] == 0 and "schedkit_runs" in row[-1]]
    assert found, plan
    return found


async def test_the_hand_off_reads_its_runs_off_their_partial_index(sqlite_url: str) -> None:
    """The sender's read of another executor's pending runs uses ``runs_handoff_ix`` (which
    holds only such runs) without a sort; a node's local claim never reads it."""
    db_path = urlsplit(sqlite_url).path
    async with SQLStore(sqlite_url) as store:
        await store.insert_runs(
            [
                make_run(schedule_id=f"s{i}", executor="celery" if i % 4 == 0 else "local")
                for i in range(40)
            ]
        )
        pending = frozenset({RunStatus.PENDING})
        with captured(store) as sender:
            sent = await store.list_runs(RunFilter(executor="celery", statuses=pending), limit=500)
        with captured(store) as claim:
            claimed = await store.claim_runs("n1", T0, 100, executor="local")
    assert len(sent) == 10 and {r.executor for r in sent} == {"celery"}
    assert len(claimed) == 30 and {r.executor for r in claimed} == {"local"}
    assert plan_problems(db_path, sender, sorts=True) == []
    lines = [line for st, p in sender for line in plan_of(db_path, st, p)]
    assert any("runs_handoff_ix" in line for line in lines), lines
    claim_lines = [line for st, p in claim for line in plan_of(db_path, st, p)]
    assert not any("runs_handoff_ix" in line for line in claim_lines), claim_lines


async def test_run_phase_statements_read_their_partial_indexes(sqlite_url: str) -> None:
    """The claim, the reaper, the overlap read and the release of queued runs each read
    the partial index of their phase: they name its predicate as it is written (with a
    parameter in its place SQLite's planner passes the index by, and the claim sorted
    every pending run). (The purge, without statistics, reads the status index.)"""
    db_path = urlsplit(sqlite_url).path
    async with SQLStore(sqlite_url) as store:
        blocker = make_run(schedule_id="a")
        others = [make_run(schedule_id=f"s{i}") for i in range(10)]
        queued = make_run(schedule_id="a", scheduled_for=T0 + timedelta(minutes=1),
                          blocked_by=blocker.id)  # fmt: skip
        await store.insert_runs([blocker, *others, queued])
        with captured(store) as statements:
            await store.claim_runs("n1", T0, 5)
            await store.active_runs("a")
            [stale, *_] = await store.stale_runs(T0 + timedelta(seconds=1), 10)
            await store.lose_runs([lost(stale, stale_before=T0 + timedelta(seconds=1), now=T0)])
    expected = {
        "WITH claimable": "runs_claim_ix",
        "heartbeat_at < ?": "runs_reaper_ix",
        "schedule_id IN": "runs_schedule_active_ix",
        "blocked_by IN": "runs_blocked_by_ix",
    }
    for marker, index in expected.items():
        found = [(sql, p) for sql, p in statements if marker in sql]
        assert found, marker
        lines = [line for sql, p in found for line in plan_of(db_path, sql, p)]
        assert any(index in line for line in lines), (marker, lines)


def plan_of(db_path: str, statement: str, params: Any) -> list[str]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)]


async def test_rollup_stats_read_key_and_index_ranges_only(sqlite_url: str) -> None:
    """The default run_stats reads neither table whole: the window's whole periods are
    ranges of the rollups' key, its partial first hour and the active runs index ranges.
    (Its statements go to the driver directly: their plans are asked for here.)"""
    db_path = urlsplit(sqlite_url).path
    since = T0 - timedelta(days=2)
    async with SQLStore(sqlite_url) as store:
        await store.insert_runs(
            [
                make_run(
                    task_name=f"t{i % 3}",
                    schedule_id=f"s{i}",
                    scheduled_for=T0 - timedelta(hours=i),
                    status=status,
                    duration=1.0,
                )
                for i, status in enumerate([RunStatus.SUCCESS, RunStatus.PENDING] * 30)
            ]
        )
        assert len(await store.run_stats(since)) == 3
        assert len(await store.run_stats(since, task_name="t1")) == 1
        params = {"since": since, "task": "t1", **window_plan(since).params()}
        statements = [
            query._render(params) for parts, _ in store._rollup_queries.values() for query in parts
        ]
    lines = [line for st, p in statements for line in plan_of(db_path, st, p)]
    assert len(statements) == 8 and lines
    assert not [line for line in lines if line.startswith("SCAN")], lines


async def test_run_stats_reads_index_ranges_without_sorting(sqlite_url: str) -> None:
    """Without planner statistics (schedkit runs no ANALYZE), the statistics window is read
    as one range of the (task, status) index per task and status: the task names come
    from index seeks, nothing reads the whole history and nothing is sorted."""
    db_path = urlsplit(sqlite_url).path
    async with SQLStore(sqlite_url) as store:
        await store.insert_runs(
            [
                make_run(task_name=f"t{i % 3}", schedule_id=f"s{i}", status=status, duration=1.0)
                for i, status in enumerate([RunStatus.SUCCESS, RunStatus.FAILED] * 10)
            ]
        )
        with captured(store) as statements:
            await store.run_stats(T0 - timedelta(days=1), exact=True)
            await store.run_stats(T0 - timedelta(days=1), task_name="t1", exact=True)
        # The durations go to the driver directly, past SQLAlchemy's events.
        durations = store._sqlite_durations_sql
        params = ("t1", *sorted(RunStatus), 0)
    assert statements and plan_problems(db_path, statements, sorts=True) == []
    lines = [line for st, p in statements for line in plan_of(db_path, st, p)]
    assert not [line for line in lines if line.startswith("SCAN schedkit_runs")]
    reads = {line for line in lines if "schedkit_runs" in line and "(task_name>?)" not in line}
    ranges = {line for line in reads if "_task_status_scheduled_ix" in line}
    # Each task and status a range (equality on both, then the window); the loose scan's
    # first seek (no condition) may take any index that starts with the task name.
    assert ranges == {
        "SEARCH schedkit_runs USING COVERING INDEX schedkit_runs_task_status_scheduled_ix "
        "(task_name=? AND status=? AND scheduled_for>?)"
    }
    assert len(reads - ranges) <= 1
    assert plan_of(db_path, durations, params) == [
        "SEARCH schedkit_runs USING COVERING INDEX schedkit_runs_task_status_scheduled_ix "
        "(task_name=? AND status=? AND scheduled_for>?)"
    ]


@postgres_only
async def test_postgres_plans_use_the_task_status_index(store_url: str) -> None:
    """PostgreSQL's planner, with statistics of a realistic history: a page of a task's
    failed runs is found on the (task, status) index, and run_stats reads the window
    from it alone (index ranges per task, no scan of the table)."""
    tasks = 10
    async with SQLStore(store_url) as store:
        for start in range(0, 20_000, 5000):
            await store.insert_runs(
                [
                    make_run(
                        task_name=f"task-{i % tasks}",
                        schedule_id=f"task-{i % tasks}",
                        scheduled_for=T0 + timedelta(seconds=i),
                        status=RunStatus.FAILED if i % 25 == 0 else RunStatus.SUCCESS,
                        duration=float(i % 97),
                    )
                    for i in range(start, start + 5000)
                ]
            )
        failed = frozenset({RunStatus.FAILED})
        with captured(store) as statements:
            page = await store.list_runs(
                RunFilter(task_name="task-0", statuses=failed), limit=50, offset=20
            )
            stats = await store.run_stats(T0 + timedelta(seconds=18_000), exact=True)
        assert len(page) == 50 and len(stats) == tasks

        def explain(conn: sa.Connection) -> list[str]:
            # What autovacuum does soon after inserts: statistics, and the visibility
            # map that lets an index answer without visiting the table.
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            return [
                "\n".join(line for (line,) in conn.exec_driver_sql(f"EXPLAIN {st}", p))
                for st, p in statements
            ]

        page_plan, stats_plan = await store._db.read(explain)
    # Small as this table is, the planner may fetch a task's 80 failed runs and sort
    # them rather than walk the index backwards (it does on 1,000,000 runs); either way
    # it finds them with both equalities on the index.
    task_and_status = "((task_name)::text = 'task-0'::text) AND ((status)::text = 'failed'::text)"
    assert f"Index Cond: ({task_and_status})" in page_plan
    assert "on schedkit_runs_task_status_scheduled_ix" in page_plan
    assert "Seq Scan on schedkit_runs" not in stats_plan
    index_only = "Index Only Scan using schedkit_runs_task_status_scheduled_ix on schedkit_runs"
    assert index_only in stats_plan


@postgres_only
async def test_postgres_claim_finds_each_candidate_by_its_key(store_url: str) -> None:
    """With statistics of a history of finished runs (pending ones rare), the planner
    looked up each locked candidate of a claim on the pending runs' index, reading the
    whole backlog per run: a claim of 100 among 20,000 pending took 330 ms instead of 4.
    The claim's UPDATE finds its rows by primary key, the claim index serves only the
    candidates (read in its order, no sort)."""
    async with SQLStore(store_url) as store:
        for start in range(0, 6000, 3000):
            await store.insert_runs(
                [
                    make_run(
                        scheduled_for=T0 + timedelta(seconds=i),
                        status=RunStatus.SUCCESS,
                        finished_at=T0,
                        started_at=T0,
                        node_id="n0",
                    )
                    for i in range(start, start + 3000)
                ]
            )
        await store._db.read(
            lambda conn: conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE schedkit_runs"
            )
        )
        manual = {"schedule_id": None, "trigger_source": TriggerSource.MANUAL}
        await store.insert_runs([make_run(**manual) for _ in range(2000)])
        with captured(store) as statements:
            claimed = await store.claim_runs("n1", T0, 100, ["t"])
        assert len(claimed) == 100
        [(claim, params)] = [(st, p) for st, p in statements if "claimable" in st]

        def explain(conn: sa.Connection) -> str:
            return "\n".join(line for (line,) in conn.exec_driver_sql(f"EXPLAIN {claim}", params))

        plan = await store._db.read(explain)
    assert plan.count("using schedkit_runs_claim_ix") == 1, plan
    assert "Index Scan using schedkit_runs_pkey on schedkit_runs " in plan, plan
    assert "Sort" not in plan, plan


@postgres_only
async def test_postgres_claims_of_a_backlog_in_a_table_never_analyzed_use_the_claim_index(
    store_url: str,
) -> None:
    """A new (or restored) database has no planner statistics until autovacuum's first
    pass; PostgreSQL then estimated a task's pending runs at one row and sorted all of
    them at every claim. The first full claim gives the planner statistics."""
    async with SQLStore(store_url) as store:

        async def backlog(n: int) -> None:
            manual = {"schedule_id": None, "trigger_source": TriggerSource.MANUAL}
            await store.insert_runs([make_run(**manual) for _ in range(n)])

        def analyzed(conn: sa.Connection) -> bool:
            return bool(
                conn.exec_driver_sql(
                    "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE relname = 'schedkit_runs'"
                ).scalar()
            )

        await backlog(1000)
        assert len(await store.claim_runs("n1", T0, 2000, ["t"])) == 1000
        assert not await store._db.read(analyzed)  # a claim short of its limit: no backlog
        await backlog(2000)
        with captured(store) as statements:
            assert len(await store.claim_runs("n1", T0, 100, ["t"])) == 100
        assert await store._db.read(analyzed)
        [(claim, params)] = [(st, p) for st, p in statements if "claimable" in st]

        def explain(conn: sa.Connection) -> str:
            return "\n".join(line for (line,) in conn.exec_driver_sql(f"EXPLAIN {claim}", params))

        plan = await store._db.read(explain)
    assert "using schedkit_runs_claim_ix" in plan, plan
    assert "Sort" not in plan, plan


# -- SQLite locking ---------------------------------------------------------------------------


async def test_sqlite_writes_wait_for_the_write_lock_and_reads_do_not(sqlite_url: str) -> None:
    async with SQLStore(sqlite_url, busy_timeout=0.3) as store:
        run = make_run()
        await store.insert_runs([run])
        # Another process's writer holds SQLite's write lock.
        with contextlib.closing(
            sqlite3.connect(urlsplit(sqlite_url).path, isolation_level=None)
        ) as other:
            other.execute("BEGIN IMMEDIATE")
            try:
                assert await store.get_run(run.id) == run  # WAL: readers are not blocked
                with pytest.raises(StoreUnavailableError, match="locked"):
                    await store.claim_runs("n1", T0, 10)  # a writer waits, then gives up
            finally:
                other.execute("ROLLBACK")
        claimed = await store.claim_runs("n1", T0, 10)  # nothing was half-done
        assert [r.id for r in claimed] == [run.id]


async def test_sqlite_pragmas(sqlite_url: str) -> None:
    pragmas: list[Any] = []

    def record(dbapi_connection: Any, _record: Any) -> None:
        for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"):
            pragmas.append(dbapi_connection.execute(f"PRAGMA {name}").fetchone()[0])

    async with SQLStore(sqlite_url) as store:
        # The store's own connections, as it set them up ("connect" listeners run in
        # order, so this one sees the store's settings); a fresh one after dispose().
        event.listen(store.sync_engine, "connect", record)
        store.sync_engine.dispose()
        await store.ping()
    assert pragmas == ["wal", 1, 30_000, 0]  # synchronous 1: NORMAL


async def test_integer_microseconds_on_sqlite(sqlite_url: str) -> None:
    """Documented storage format: UTC microseconds since the epoch."""
    async with SQLStore(sqlite_url) as store:
        run = make_run()
        await store.insert_runs([run])
    with contextlib.closing(sqlite3.connect(urlsplit(sqlite_url).path)) as conn:
        (raw,) = conn.execute("SELECT scheduled_for FROM schedkit_runs").fetchone()
    assert raw == int(T0.timestamp()) * 1_000_000 + T0.microsecond


def test_driver_codecs_match_the_column_types() -> None:
    """The hot path's shortcuts (empty JSON containers, enum lookups) give what the
    column types give, fresh containers each time, and still refuse unknown values."""
    from schedkit.store.sql.columns import StrEnumType, json_dumps

    as_json, from_json = rows.encoder(sa.JSON()), rows.decoder(sa.JSON())
    for value in ({}, [], {"a": [1, {}]}, [{}], "", 0, None):
        assert as_json(value) == (None if value is None else json_dumps(value))
        assert from_json(as_json(value)) == value
    first, second = from_json("{}"), from_json("{}")
    first["changed"] = 1
    assert second == {} and from_json("[]") == [] and from_json("[]") is not from_json("[]")

    status = StrEnumType(RunStatus)
    as_text, from_text = rows.encoder(status), rows.decoder(status)
    for member in RunStatus:
        assert as_text(member) == as_text(member.value) == member.value
        assert from_text(member.value) is member
    assert as_text(None) is None and from_text(None) is None
    with pytest.raises(ValueError, match="exploded"):
        as_text("exploded")
    with pytest.raises(ValueError, match="exploded"):
        from_text("exploded")


# -- a PostgreSQL server that goes away and comes back ----------------------------------------


@postgres_only
async def test_lost_postgres_is_unavailable_then_recovers(store_url: str, proxy: Proxy) -> None:
    parts = urlsplit(store_url)
    via_proxy = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}")
    async with SQLStore(via_proxy.geturl(), connect_timeout=2) as store:
        run = make_run()
        await store.insert_runs([run])
        await proxy.cut()
        for operation in (store.get_run(run.id), store.claim_runs("n1", T0, 10)):
            with pytest.raises(StoreUnavailableError) as caught:
                await operation
            assert f":{parts.password}@" not in str(caught.value)
        await proxy.start()  # the server is back, on the same port
        assert await store.get_run(run.id) == run
        await store.append_logs(
            [
                LogLine(
                    run_id=run.id, seq=0, attempt=1, ts=T0, level="INFO", logger="t", message="back"
                )
            ]
        )
        assert [line.message for line in await store.get_logs(run.id)] == ["back"]


@postgres_only
async def test_a_statement_on_a_silently_cut_connection_fails_in_time(
    store_url: str, proxy: Proxy
) -> None:
    """A chaos audit: with the store's packets dropped (no refusal), statements hung
    until TCP gave up; 35 s without one failed heartbeat logged, and the first error
    said only "TimeoutError: "."""
    parts = urlsplit(store_url)
    via_proxy = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}")
    async with SQLStore(via_proxy.geturl(), connect_timeout=2, command_timeout=0.5) as store:
        run = make_run()
        await store.insert_runs([run])
        proxy.held = True
        began = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="no answer in time"):
            await store.get_run(run.id)
        assert time.monotonic() - began < 0.5 + 2.0
        proxy.held = False
        assert await store.get_run(run.id) == run


@postgres_only
async def test_a_command_timeout_in_the_url_is_the_one_used(store_url: str) -> None:
    """An ops audit: ``?command_timeout=1`` in the URL (whose query goes to asyncpg, as
    docs/stores.md says) was overridden by the option's default of 60 s."""
    sep = "&" if "?" in store_url else "?"
    async with SQLStore(f"{store_url}{sep}command_timeout=0.5") as store:
        began = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="no answer in time"):
            await store._db.read(lambda c: c.exec_driver_sql("SELECT pg_sleep(3)").scalar())
        assert time.monotonic() - began < 2.5


async def _terminate_backend_of(store: SQLStore, store_url: str) -> None:
    """Kill, on the server, the pooled connection a store call uses next (the only one:
    one call at a time uses one connection)."""
    pid = await store._db.read(lambda c: c.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    conn = await asyncpg.connect(store_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


@postgres_only
async def test_postgres_pings_only_connections_idle_for_a_while(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg's ping is three round trips; pinged on every checkout (pool_pre_ping), it
    was about a fifth of a busy node's round trips. A connection used a moment ago is
    handed out as it is; one idle longer than ``PING_IDLE_AFTER`` is pinged, and a dead
    one replaced, so that a server restart costs no operation."""
    pings: list[object] = []
    real_ping = PGDialect_asyncpg.do_ping

    def counted_ping(dialect: PGDialect_asyncpg, dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dialect, dbapi_connection)

    monkeypatch.setattr(PGDialect_asyncpg, "do_ping", counted_ping)
    async with SQLStore(store_url) as store:
        run = make_run()
        await store.insert_runs([run])
        pings.clear()
        for _ in range(20):
            assert await store.get_run(run.id) == run
        assert pings == []

        # Idle past the threshold: pinged, found dead, replaced; the operation succeeds.
        monkeypatch.setattr(sql_engine, "PING_IDLE_AFTER", 0.05)
        await _terminate_backend_of(store, store_url)
        await asyncio.sleep(0.1)
        assert await store.get_run(run.id) == run
        assert len(pings) >= 1

        # Killed a moment after its last use: a read is tried once more on a new
        # connection (a cluster audit: the first console or CLI request after a
        # failover failed with 503); a write fails as unavailable (it may have been
        # applied: callers retry such errors), and the next finds a live connection.
        monkeypatch.setattr(sql_engine, "PING_IDLE_AFTER", 60.0)
        await _terminate_backend_of(store, store_url)
        assert await store.get_run(run.id) == run
        await _terminate_backend_of(store, store_url)
        with pytest.raises(StoreUnavailableError):
            await store.insert_runs([make_run()])
        assert await store.get_run(run.id) == run


@postgres_only
async def test_postgres_reads_and_one_statement_writes_send_no_begin(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction costs two round trips (BEGIN, then COMMIT or ROLLBACK) around its
    statements: reads and one-statement writes (a claim, a heartbeat) run without one;
    a finish (several statements that must land together) still has one."""
    began: list[str] = []
    real_start = asyncpg.transaction.Transaction.start

    async def counted_start(tx: asyncpg.transaction.Transaction) -> None:
        began.append("BEGIN")
        await real_start(tx)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted_start)
    async with SQLStore(store_url) as store:
        run = make_run()
        await store.insert_runs([run])
        began.clear()
        assert await store.get_run(run.id) == run
        assert [r.id for r in await store.claim_runs("n1", T0, 10)] == [run.id]
        assert await store.heartbeat_runs("n1", [run.id], T0) == {run.id: False}
        assert began == []
        assert await store.finish_runs([fin(run.id, 1, "n1", outcome())]) == [True]
        assert began == ["BEGIN"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_sqlite_proofs_of_life_go_ahead_of_queued_writes(store: SQLStore) -> None:
    """Issue #16: with claims queued in the writer (1.5-3.9 s each on a busy store), run
    heartbeats, node rows and lease renewals waited behind all of them and live nodes'
    runs were taken for lost. They now wait for the write in progress at most."""

    def slow_write(conn: Any) -> None:
        conn.exec_driver_sql("SELECT 1")
        time.sleep(0.4)

    backlog = [asyncio.ensure_future(store._db.write(slow_write)) for _ in range(5)]
    await asyncio.sleep(0.05)  # the first is in progress, four queued behind it
    started = time.monotonic()
    lease = await store.acquire_lease("scheduler", "n1", 10, datetime.now(UTC))
    await store.heartbeat_runs("n1", ["r1"], datetime.now(UTC))
    took = time.monotonic() - started
    assert lease is not None
    assert not all(w.done() for w in backlog)
    assert took < 1.0, took  # FIFO: after the whole 2 s backlog
    await asyncio.gather(*backlog)
