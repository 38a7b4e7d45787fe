"""The systems under test, as the workloads build them: schedkit on SQLite / PostgreSQL /
MongoDB (this module) and APScheduler 3 (``bench.baseline``).

schedkit-mongo runs against whatever MongoDB-protocol server ``--mongo-url`` names; on
this project's machines that is FerretDB v1 on its SQLite handler, which is one to two
orders of magnitude slower per command than a real MongoDB server (a ``find_one`` by
``_id`` took 63 ms). Its times say little about MongoDB; its *store round trips per run*
(``bench.roundtrips``) are the figure that carries over. Workloads give it smaller sizes
where the full ones would not finish (``MONGO_SIZES`` of each case), and say so.

schedkit runs with its default scheduler settings (lookahead 2 s, refresh 1 s, lease TTL
15 s ...) and the default ``job_defaults`` (misfire grace 300 s, coalesce); only what a
benchmark must set is set (store URL, no entry-point discovery, and where a workload says
so the executor's ``max_concurrent_runs``). The JSON report carries the full config.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from schedkit import SchedkitConfig, Scheduler, TaskContext, TaskRegistry, task
from schedkit.models import Run, RunStatus, Schedule, TriggerSource, new_id
from schedkit.triggers import trigger_from_json

SK_SQLITE = "schedkit-sqlite"
SK_POSTGRES = "schedkit-postgres"
SK_MONGO = "schedkit-mongo"
APS_MEMORY = "apscheduler-memory"
APS_SQLALCHEMY = "apscheduler-sqlalchemy-sqlite"

SCHEDKIT_SYSTEMS = (SK_SQLITE, SK_POSTGRES, SK_MONGO)
APS_SYSTEMS = (APS_MEMORY, APS_SQLALCHEMY)

TASK_NAME = "bench_noop"

#: What every table with a schedkit-mongo row says under it.
MONGO_NOTE = (
    "schedkit-mongo ran on FerretDB v1 (SQLite handler), a MongoDB wire-protocol server "
    "that is much slower per command than a real MongoDB server: its times and rates are "
    "no MongoDB figures. What carries over to a real server is the store round trips per "
    "run. Where its case was scaled down, the cell says so (FerretDB: ...)."
)

#: (schedule_id, scheduled_for as epoch seconds, start as epoch seconds) per execution.
RECORDS: list[tuple[str | None, float, float]] = []


def is_schedkit(system: str) -> bool:
    return system in SCHEDKIT_SYSTEMS


def store_systems(postgres: bool, mongo: bool) -> list[str]:
    """The schedkit systems whose servers are there (SQLite always is)."""
    return [SK_SQLITE, *([SK_POSTGRES] if postgres else []), *([SK_MONGO] if mongo else [])]


def sized(system: str, case: dict[str, Any]) -> dict[str, Any]:
    """``case`` as ``system`` runs it: schedkit-mongo takes the case's ``mongo`` sizes
    (smaller, so that FerretDB finishes in a sensible time)."""
    if system != SK_MONGO or not case.get("mongo"):
        return case
    return {**case, **case["mongo"]}


def scaled_note(system: str, case: dict[str, Any]) -> str:
    """ " (FerretDB: runs 500)" when ``system`` ran ``case`` at other sizes, else ""."""
    if system != SK_MONGO or not case.get("mongo"):
        return ""
    sizes = ", ".join(
        f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in case["mongo"].items()
    )
    return f" (FerretDB: {sizes})"


def make_registry(*, sync_task: bool = False) -> TaskRegistry:
    """A registry with the no-op task: it records when it started against the nominal
    ``ctx.scheduled_for`` (schedules here never have jitter, so nominal = intended).
    ``sync_task``: the same task as a plain function, run on the node's threads."""
    registry = TaskRegistry()
    noop = task(TASK_NAME, description="benchmark no-op", retry={"max_retries": 0})

    if sync_task:

        @noop
        def bench_noop_sync(ctx: TaskContext) -> None:
            RECORDS.append((ctx.schedule_id, ctx.scheduled_for.timestamp(), time.time()))

        registry.register_task(bench_noop_sync)
        return registry

    @noop
    async def bench_noop(ctx: TaskContext) -> None:
        RECORDS.append((ctx.schedule_id, ctx.scheduled_for.timestamp(), time.time()))

    registry.register_task(bench_noop)
    return registry


def make_config(store_url: str, **overrides: Any) -> SchedkitConfig:
    data: dict[str, Any] = {"store_url": store_url, "entry_points": False, "task_packages": []}
    for key, value in overrides.items():
        data[key] = value
    return SchedkitConfig(**data)


def config_json(config: SchedkitConfig) -> dict[str, Any]:
    """The settings that shape performance, for the report (store URL without password)."""
    dumped = config.model_dump(mode="json", include={"executor", "scheduler", "job_defaults"})
    return dumped


def make_scheduler(store_url: str, *, sync_task: bool = False, **overrides: Any) -> Scheduler:
    return Scheduler(
        make_config(store_url, **overrides), registry=make_registry(sync_task=sync_task)
    )


def pending_run(now: datetime, *, task_name: str = TASK_NAME) -> Run:
    """A manual run waiting to be claimed (what ``run_now`` creates, minus the audit)."""
    return Run(
        id=new_id(),
        task_name=task_name,
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=now,
        status=RunStatus.PENDING,
        not_before=now,
        created_at=now,
        created_by="bench",
    )


def utc_from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def schedule_from_spec(
    scheduler: Scheduler, schedule_id: str, spec: Any, now: datetime
) -> Schedule:
    """The Schedule ``add_task`` would store for ``spec`` (validated the same way), for
    the bulk path below."""
    parsed = scheduler.parse_schedule(spec)
    trigger = parsed.to_json()["trigger"]
    return Schedule(
        id=schedule_id,
        task_name=TASK_NAME,
        trigger=trigger,
        misfire_grace_time=parsed.misfire_grace_time,
        coalesce=parsed.coalesce,
        max_instances=parsed.max_instances,
        overlap=parsed.overlap,
        timeout=parsed.timeout,
        origin="runtime",
        next_fire_time=trigger_from_json(trigger).next_fire_time(None, now),
        created_at=now,
        updated_at=now,
    )


async def bulk_insert_schedules(store_url: str, schedules: list[Schedule]) -> None:
    """Benchmark set-up only, not a schedkit API: insert schedules with one multi-row
    INSERT per 5,000 through SQLAlchemy and schedkit's own table definitions (so values
    are encoded exactly as the store encodes them; on MongoDB through the store's own
    ``insert_schedules``). The store must exist (opened once).
    Used where registering 100,000 schedules one store call at a time would take the
    whole time budget; the per-call rates are measured on samples and reported."""
    import dataclasses

    if store_url.startswith("mongodb"):
        from schedkit.store import create_store

        store = create_store(store_url)
        await store.open()
        try:
            for i in range(0, len(schedules), 5000):
                await store.insert_schedules(schedules[i : i + 5000])
        finally:
            await store.close()
        return

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from schedkit.store.sql.schema import build_tables

    table = build_tables("schedkit_").schedules
    url = store_url.replace("sqlite:///", "sqlite+aiosqlite:///", 1).replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    names = [f.name for f in dataclasses.fields(Schedule)]
    engine = create_async_engine(url)
    try:
        for i in range(0, len(schedules), 5000):
            rows = [{n: getattr(s, n) for n in names} for s in schedules[i : i + 5000]]
            async with engine.begin() as conn:
                await conn.execute(sa.insert(table), rows)
    finally:
        await engine.dispose()
