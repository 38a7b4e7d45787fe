"""Schema versions of the SQL store: an old database is upgraded in place, keeps its rows,
and ends up exactly like a fresh one; steps run once, in one transaction; a database
newer than the code is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from schedkit import Scheduler, TaskRegistry
from schedkit.errors import StoreError, StoreOutdatedError
from schedkit.models import LogLine, Node, Run, RunStatus, Schedule, TriggerSource, new_id, utcnow
from schedkit.store._rollups import RELATIVE_ERROR
from schedkit.store._upgrade import UpgradeCheck
from schedkit.store.sql import SQLStore
from schedkit.store.sql import migrations as _sql_migrations
from schedkit.store.sql import rollups as _sql_rollups
from schedkit.store.sql import schema as _sql_schema
from schedkit.store.sql.migrations import Migration
from schedkit.store.sql.schema import Tables
from tests.engine.conftest import fast_config
from tests.stopping import stop_or_fail
from tests.store._contract import lost, make_run, seed
from tests.store._versions import create_v1, make_newer, on_database

pytestmark = pytest.mark.parametrize(
    "store_url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
    ],
    indirect=True,
)

T0 = datetime(2026, 3, 1, 8, 30, 15, 123457, tzinfo=UTC)
# The real steps; the tests below append steps of their own after them.
RELEASED = list(_sql_migrations.MIGRATIONS)
CURRENT = len(RELEASED) + 1
_T = TypeVar("_T")
ROLLUP_ERROR = RELATIVE_ERROR * (1 + 1e-9)


def snapshot(prefix: str) -> Callable[[sa.Connection], dict[str, Any]]:
    """Every table, column, key and index named with ``prefix``, the prefix removed."""

    def take(conn: sa.Connection) -> dict[str, Any]:
        def name(n: str | None) -> str | None:
            return None if n is None else n.removeprefix(prefix)

        inspector = sa.inspect(conn)
        tables = sorted(t for t in inspector.get_table_names() if t.startswith(prefix))
        shot: dict[str, Any] = {}
        for table in tables:
            shot[name(table) or ""] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "unique": sorted(
                    (name(u["name"]), tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "indexes": sorted(
                    (
                        name(ix["name"]),
                        tuple(ix["column_names"]),
                        ix["unique"],
                        str(sorted(ix.get("column_sorting", {}).items())),
                        # A partial index's predicate (on SQLite also in sqlite_master).
                        str(ix.get("dialect_options", {}).get("postgresql_where")),
                    )
                    for ix in inspector.get_indexes(table)
                ),
            }
        if conn.dialect.name == "sqlite":
            # Also what the inspector does not report (WITHOUT ROWID, ...).
            rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
            shot["sqlite_master"] = sorted(
                " ".join(sql.replace(prefix, "").split()) for n, sql in rows if n.startswith(prefix)
            )
        return shot

    return take


async def fill(store: SQLStore) -> tuple[Run, Schedule, LogLine]:
    run = Run(
        id=new_id(),
        task_name="日报",
        schedule_id="s",
        trigger_source=TriggerSource.SCHEDULE,
        scheduled_for=T0,
        kwargs={"区域": "华东"},
        not_before=T0,
        created_at=T0,
    )
    schedule = Schedule(id="s", task_name="日报", trigger={"trigger": "cron", "hour": 2},
                        next_fire_time=T0, created_at=T0, updated_at=T0)  # fmt: skip
    line = LogLine(run_id=run.id, seq=0, attempt=1, ts=T0, level="INFO", logger="t", message="m")
    assert await store.insert_runs([run]) == [run.id]
    await seed(store, schedule)
    await store.append_logs([line])
    return run, schedule, line


async def assert_kept(store: SQLStore, run: Run, schedule: Schedule, line: LogLine) -> None:
    assert await store.get_run(run.id) == run
    assert await store.get_schedule(schedule.id) == schedule
    assert await store.get_logs(run.id) == [line]


def create_early_v1(conn: sa.Connection) -> None:
    """A version-1 database created before the status index joined version 1."""
    create_v1(conn)
    conn.exec_driver_sql("DROP INDEX schedkit_runs_status_scheduled_ix")


@pytest.mark.parametrize("create", [create_v1, create_early_v1], ids=["v1", "early-v1"])
async def test_version_1_database_upgrades_to_exactly_the_fresh_schema(
    store_url: str, create: Callable[[sa.Connection], None]
) -> None:
    await on_database(store_url, create)
    async with SQLStore(store_url) as store:  # opens (and upgrades) the v1 database
        assert await store.schema_version() == _sql_migrations.latest_version()
        kept = await fill(store)
    async with SQLStore(store_url) as store:
        await assert_kept(store, *kept)
    async with SQLStore(store_url, table_prefix="fresh_"):
        pass
    upgraded = await on_database(store_url, snapshot("schedkit_"))
    fresh = await on_database(store_url, snapshot("fresh_"))
    assert upgraded == fresh
    assert len(upgraded) >= 9


#: The run indexes as version 7 defines them (before the partial ones of version 8).
FULL_RUN_INDEXES = {
    "claim": "(status, priority DESC, not_before, id)",
    "reaper": "(status, heartbeat_at)",
    "schedule_status": "(schedule_id, status)",
    "blocked_by": "(blocked_by)",
    "finished": "(finished_at)",
}


def undo_partial_run_indexes(conn: sa.Connection) -> None:
    """A current database's run indexes as version 7 had them."""
    for name in ("claim", "reaper", "schedule_active", "blocked_by", "finished"):
        conn.exec_driver_sql(f"DROP INDEX schedkit_runs_{name}_ix")
    for name, columns in FULL_RUN_INDEXES.items():
        conn.exec_driver_sql(f"CREATE INDEX schedkit_runs_{name}_ix ON schedkit_runs {columns}")


def undo_log_seq_bigint(conn: sa.Connection) -> None:
    """A current database's log line numbers as versions before 9 had them (32-bit on
    PostgreSQL; SQLite's are unchanged)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE schedkit_run_logs ALTER COLUMN seq TYPE INTEGER")


def index_names(conn: sa.Connection) -> set[str]:
    return {ix["name"] or "" for ix in sa.inspect(conn).get_indexes("schedkit_runs")}


async def test_steps_run_once_in_a_transaction_and_keep_rows(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT
        kept = await fill(store)

    applied: list[int] = []

    def add_index(conn: sa.Connection, tables: Tables) -> None:
        applied.append(CURRENT + 1)
        sa.Index(f"{tables.prefix}runs_created_ix", tables.runs.c.created_at).create(conn)

    def broken(conn: sa.Connection, tables: Tables) -> None:
        sa.Index(f"{tables.prefix}runs_broken_ix", tables.runs.c.task_name).create(conn)
        raise RuntimeError("the second step fails after changing the schema")

    step = Migration(add_index, compatible_from=1)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", [*RELEASED, step])
    for _ in range(2):  # the second open finds the new version and applies nothing
        async with SQLStore(store_url) as store:
            assert await store.schema_version() == CURRENT + 1
            await assert_kept(store, *kept)
    assert applied == [CURRENT + 1]
    assert "schedkit_runs_created_ix" in await on_database(store_url, index_names)

    failing = [*RELEASED, step, Migration(broken, compatible_from=1)]
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", failing)
    with pytest.raises(RuntimeError, match="the second step fails"):
        await SQLStore(store_url).open()
    # The whole upgrade rolled back: no index from the failed step, version unchanged.
    assert "schedkit_runs_broken_ix" not in await on_database(store_url, index_names)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", [*RELEASED, step])
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT + 1
        await assert_kept(store, *kept)


async def test_older_code_opens_a_newer_database_only_if_compatible(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add_index(conn: sa.Connection, tables: Tables) -> None:
        sa.Index(f"{tables.prefix}runs_created_ix", tables.runs.c.created_at).create(conn)

    def drop_index(conn: sa.Connection, tables: Tables) -> None:
        conn.exec_driver_sql(f"DROP INDEX {tables.prefix}runs_created_ix")

    additive = Migration(add_index, compatible_from=1)
    breaking = Migration(drop_index, compatible_from=CURRENT + 2)
    async with SQLStore(store_url) as store:  # created at the current version
        kept = await fill(store)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", [*RELEASED, additive])
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT + 1

    # A node still on the current release restarts during a rolling upgrade.
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED)
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT + 1
        await assert_kept(store, *kept)

    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", [*RELEASED, additive, breaking])
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT + 2

    for older in (RELEASED, [*RELEASED, additive]):  # code of the two older versions
        monkeypatch.setattr(_sql_migrations, "MIGRATIONS", older)
        store = SQLStore(store_url)
        with pytest.raises(
            StoreError, match=f"needs schedkit code of schema version {CURRENT + 2}"
        ):
            await store.open()


async def test_rollups_step_fills_the_rollups_from_the_stored_runs(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of the version before rollups, holding finished and active runs, gets
    rollups that answer run_stats like the exact query; older code may not open it."""
    monkeypatch.setattr(_sql_rollups, "_FILL_PAGE", 7)  # the runs are read in pages
    before = _sql_migrations.ROLLUPS_VERSION - 1
    runs = [
        Run(
            id=new_id(),
            task_name=f"t{i % 3}",
            schedule_id=f"s{i}",
            trigger_source=TriggerSource.SCHEDULE,
            scheduled_for=T0 - i * timedelta(minutes=37),
            not_before=T0,
            created_at=T0,
            status=[RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.PENDING][i % 3 if i % 5 else 1],
            duration=None if i % 3 == 2 else 0.01 * (i + 1),
            finished_at=None if i % 3 == 2 else T0,
        )
        for i in range(400)
    ]
    async with SQLStore(store_url) as store:
        assert await store.insert_runs(runs)

    def to_version_before(conn: sa.Connection) -> None:
        # Version ROLLUPS_VERSION only added the table: without it (and its stamp), and
        # without what the later executor step added, the database is exactly the
        # version before.
        undo_log_seq_bigint(conn)
        undo_partial_run_indexes(conn)
        conn.exec_driver_sql("DROP TABLE schedkit_run_rollups")
        conn.exec_driver_sql("DROP INDEX schedkit_runs_handoff_ix")
        conn.exec_driver_sql("ALTER TABLE schedkit_runs DROP COLUMN executor")
        conn.exec_driver_sql("ALTER TABLE schedkit_schedules DROP COLUMN executor")
        # A fresh database has one stamp, of its version.
        conn.exec_driver_sql(
            f"UPDATE schedkit_schema_version SET version = {before}, compatible_from = 1"
        )

    await on_database(store_url, to_version_before)
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT
        since = T0 - timedelta(hours=100, minutes=13)
        exact = await store.run_stats(since, exact=True)
        approx = await store.run_stats(since)
        assert [s.task_name for s in approx] == [s.task_name for s in exact] == ["t0", "t1", "t2"]
        for a, e in zip(approx, exact, strict=True):
            assert a.percentiles_approximate and dict(a.counts) == dict(e.counts)
            if e.mean_duration is None:  # t2: pending runs, and failed ones never run
                assert a.mean_duration is a.p50_duration is a.p99_duration is None
                continue
            assert a.mean_duration == pytest.approx(e.mean_duration, rel=1e-9)
            for got, want in ((a.p50_duration, e.p50_duration), (a.p99_duration, e.p99_duration)):
                assert got is not None and want is not None
                assert abs(got - want) <= ROLLUP_ERROR * want

    def stamped(conn: sa.Connection) -> int:
        stmt = (
            "SELECT compatible_from FROM schedkit_schema_version "
            f"WHERE version = {_sql_migrations.ROLLUPS_VERSION}"
        )
        return int(conn.exec_driver_sql(stmt).scalars().first() or 0)

    # Code without rollups would finish and purge runs without keeping them right.
    assert await on_database(store_url, stamped) == _sql_migrations.ROLLUPS_VERSION


async def test_runs_stored_before_the_executor_step_are_local_and_older_code_is_refused(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step adding ``runs.executor``: runs and schedules written by the version before
    it read as ``local`` runs and schedules following their task; code of that version
    refuses the upgraded database (it would claim runs meant for Celery)."""
    executor_step = next(i for i, m in enumerate(RELEASED) if m.upgrade.__name__ == "_run_executor")
    before = RELEASED[:executor_step]
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", before)
    await on_database(store_url, create_v1)
    async with SQLStore(store_url) as store:  # upgraded to the version before the step
        assert await store.schema_version() == executor_step + 1
    run = Run(id=new_id(), task_name="t", schedule_id="s", trigger_source=TriggerSource.SCHEDULE,
              scheduled_for=T0, not_before=T0, created_at=T0)  # fmt: skip
    schedule = Schedule(id="s", task_name="t", trigger={"trigger": "cron", "hour": 2},
                        next_fire_time=T0, created_at=T0, updated_at=T0)  # fmt: skip

    def write_old_rows(conn: sa.Connection) -> None:
        """What code of that version writes: no executor column to fill."""
        tables = _sql_schema.build_tables("schedkit_")
        fields = {c.name for c in tables.runs.columns} - {"executor"}
        values = {k: v for k, v in vars_of(run).items() if k in fields}
        conn.execute(tables.runs.insert().values(**values))
        sched_fields = {c.name for c in tables.schedules.columns} - {"executor"}
        conn.execute(
            tables.schedules.insert().values(
                **{k: v for k, v in vars_of(schedule).items() if k in sched_fields}
            )
        )

    await on_database(store_url, write_old_rows)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED)
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT
        got = await store.get_run(run.id)
        assert got is not None and got.executor == "local"
        stored = await store.get_schedule("s")
        assert stored is not None and stored.executor is None
        assert [r.id for r in await store.claim_runs("n", T0, 5, executor="local")] == [run.id]
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", before)
    with pytest.raises(StoreError, match=f"schema version {executor_step + 2} or newer"):
        await SQLStore(store_url).open()


async def test_partial_run_indexes_step_keeps_every_run_findable_and_older_code_working(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 8 rebuilds five run indexes as partial ones: a version-7 database's pending,
    running, queued and finished runs are claimed, reaped, released and purged as before,
    and code of version 7 still opens the upgraded database (the step is additive in
    effect)."""

    blocker = make_run(schedule_id="a", status=RunStatus.RUNNING, node_id="gone", heartbeat_at=T0)
    queued = make_run(
        schedule_id="a", scheduled_for=T0 + timedelta(minutes=1), blocked_by=blocker.id
    )
    pending = make_run(schedule_id="b")
    done = make_run(schedule_id="c", status=RunStatus.SUCCESS, finished_at=T0, duration=1.0)
    async with SQLStore(store_url) as store:
        assert await store.insert_runs([blocker, queued, pending, done])

    def to_version_7(conn: sa.Connection) -> None:
        undo_log_seq_bigint(conn)
        undo_partial_run_indexes(conn)
        conn.exec_driver_sql("UPDATE schedkit_schema_version SET version = 7, compatible_from = 7")

    await on_database(store_url, to_version_7)
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT
        assert [r.id for r in await store.active_runs("a")] == [blocker.id, queued.id]
        [stale] = await store.stale_runs(T0 + timedelta(seconds=1), 10)
        assert stale.id == blocker.id
        verdict = lost(stale, stale_before=T0 + timedelta(seconds=1), now=T0)
        assert await store.lose_runs([verdict]) == [True]  # and releases the queued run
        claimed = await store.claim_runs("n", T0, 5)
        assert {r.id for r in claimed} == {pending.id, queued.id}
        assert await store.purge_runs(T0 + timedelta(seconds=1)) == 2  # done and the lost one
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED[:6])
    async with SQLStore(store_url) as older:  # code of version 7 opens it
        assert [r.id for r in await older.claim_runs("n", T0, 5)] == []


def vars_of(value: Any) -> dict[str, Any]:
    """A value object's fields by name (slots dataclasses have no ``__dict__``)."""
    return {f: getattr(value, f) for f in value.__dataclass_fields__}


def old_node(node_id: str, silent: float) -> Node:
    """A node row as a node of an older release writes it, last beaten ``silent`` s ago."""
    now = utcnow()
    return Node(id=node_id, hostname=f"host-{node_id}", pid=4242, started_at=now,
                heartbeat_at=now - timedelta(seconds=silent), version="0.9.0")  # fmt: skip


async def test_an_upgrade_older_code_cannot_work_with_waits_until_no_node_is_alive(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade audit: a node of new code upgraded a version-5 store to rollups while a
    node of the older release was alive on it; that node kept the lease and finished runs
    the rollups never counted. Now the upgrade is refused, changing nothing, while a node
    heartbeated within lost_after; a node silent longer (killed) does not hold it back."""
    await on_database(store_url, create_v1)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED[:4])  # code of version 5
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == 5
        await store.upsert_node(old_node("old-1", silent=5))
        await store.upsert_node(old_node("crashed", silent=60))
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED)

    def state(conn: sa.Connection) -> tuple[int, bool]:
        version = conn.exec_driver_sql("SELECT max(version) FROM schedkit_schema_version")
        return int(version.scalar_one()), sa.inspect(conn).has_table("schedkit_run_rollups")

    with pytest.raises(StoreError) as refused:
        await SQLStore(store_url).open()
    message = str(refused.value)
    assert f"refusing to upgrade from schema version 5 to {CURRENT}" in message
    assert "older than schema version 7" in message
    assert re.search(
        r"old-1 \(host host-old-1, pid 4242, last heartbeat \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)",
        message,
    ), message
    assert "then try again" in message
    assert "crashed" not in message and "--ignore-live-nodes" in message
    assert "counts as alive until its last heartbeat + 20 s" in message
    assert await on_database(store_url, state) == (5, False)

    # The node list's rule, with the opener's lost_after: silent 5 s is gone after 3 s.
    store = SQLStore(store_url)
    await store.open(upgrade=UpgradeCheck(lost_after=3))
    try:
        assert await store.schema_version() == CURRENT
    finally:
        await store.close()


async def test_compatible_steps_apply_with_live_nodes_and_others_wait_for_them(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rolling upgrade goes on past live older nodes while its steps keep their code
    working; a step that does not waits for them, unless forced."""

    def add_index(conn: sa.Connection, tables: Tables) -> None:
        sa.Index(f"{tables.prefix}runs_created_ix", tables.runs.c.created_at).create(conn)

    def drop_index(conn: sa.Connection, tables: Tables) -> None:
        conn.exec_driver_sql(f"DROP INDEX {tables.prefix}runs_created_ix")

    async with SQLStore(store_url) as store:
        await store.upsert_node(old_node("old-1", silent=1))
    # A rolling upgrade: the older node keeps working on an additive step.
    additive = Migration(add_index, compatible_from=1)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", [*RELEASED, additive])
    async with SQLStore(store_url) as store:
        assert await store.schema_version() == CURRENT + 1

    breaking = Migration(drop_index, compatible_from=None)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", [*RELEASED, additive, breaking])
    with pytest.raises(StoreError, match="old-1 \\(host host-old-1"):
        await SQLStore(store_url).open()
    assert "schedkit_runs_created_ix" in await on_database(store_url, index_names)

    store = SQLStore(store_url)  # schedkit db upgrade --ignore-live-nodes
    await store.open(upgrade=UpgradeCheck(ignore_live_nodes=True))
    try:
        assert await store.schema_version() == CURRENT + 2
    finally:
        await store.close()


async def test_a_node_starting_on_a_store_with_live_older_nodes_does_not_upgrade_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node start (``schedkit serve``/``worker``, an embedded Scheduler) checks with
    its own ``scheduler.lost_after``: a node silent 30 s is alive under 60 s."""
    await on_database(store_url, create_v1)
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED[:4])  # code of version 5
    async with SQLStore(store_url) as store:
        await store.upsert_node(old_node("old-1", silent=30))
    monkeypatch.setattr(_sql_migrations, "MIGRATIONS", RELEASED)
    patient = fast_config(store_url, scheduler={"lost_after": 60.0})
    with pytest.raises(StoreError, match="old-1 \\(host host-old-1"):
        await Scheduler(patient, registry=TaskRegistry()).start()
    scheduler = Scheduler(fast_config(store_url), registry=TaskRegistry())  # lost_after 3 s
    await scheduler.start()
    try:
        assert await scheduler.store.schema_version() == CURRENT
    finally:
        await stop_or_fail(scheduler, 2.0)


def at_version_7(conn: sa.Connection) -> None:
    """A current database as version 7 left it."""
    undo_log_seq_bigint(conn)
    undo_partial_run_indexes(conn)
    conn.exec_driver_sql("DELETE FROM schedkit_schema_version WHERE version > 7")


def at_version_8(conn: sa.Connection) -> None:
    """A current database as version 8 left it."""
    undo_log_seq_bigint(conn)
    conn.exec_driver_sql("DELETE FROM schedkit_schema_version WHERE version > 8")


async def test_a_read_refusing_an_older_store_says_whether_its_release_survives_the_upgrade(
    store_url: str,
) -> None:
    """Upgrading a version-1 store loses the rollback to its release; upgrading a
    version-7 one (an additive step) does not."""
    await on_database(store_url, create_v1)
    with pytest.raises(StoreOutdatedError) as refused:
        await SQLStore(store_url).open(upgrade=False)
    assert (
        f"uses {CURRENT}: `schedkit db upgrade` upgrades it (code older than schema version 7 "
        "then refuses to start on it: no rolling back to a release of schema version 1)"
    ) in str(refused.value)
    async with SQLStore(store_url):
        pass
    await on_database(store_url, at_version_7)
    with pytest.raises(StoreOutdatedError, match=r"\(code of schema version 7 keeps working"):
        await SQLStore(store_url).open(upgrade=False)


async def test_a_read_opens_a_newer_compatible_store_and_leaves_it_as_it_is(
    store_url: str,
) -> None:
    async with SQLStore(store_url):
        pass
    await make_newer(store_url, CURRENT + 1, compatible_from=CURRENT)
    for upgrade in (False, True):
        store = SQLStore(store_url)
        await store.open(create=False, upgrade=upgrade)
        try:
            assert store.found_version == await store.schema_version() == CURRENT + 1
            assert store.code_version == CURRENT
        finally:
            await store.close()


def max_version(conn: sa.Connection) -> int:
    return int(
        conn.exec_driver_sql("SELECT max(version) FROM schedkit_schema_version").scalar_one()
    )
