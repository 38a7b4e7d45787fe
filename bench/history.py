"""Workload 4 — history queries on a store holding N runs (schedkit only: APScheduler 3
keeps no run history).

The store is filled once through ``store.insert_runs`` (batches of 5,000) with a
deterministic history: 20 tasks, one schedule each, runs evenly over 30 days; 93 %
success, 4 % failed, 2 % skipped, 1 % missed; durations 10 ms – 1 min. The filled
store is kept (SQLite: ``var/bench/history-<key>.db``; PostgreSQL: database
``schedkit_bench_history_<key>``) and reused while the parameters match (the smoke run
uses throw-away stores instead). PostgreSQL
gets an ``ANALYZE`` after the fill (what autovacuum does soon after a bulk load);
SQLite gets none, as schedkit never runs one. schedkit-mongo (FerretDB) is filled afresh
in a throw-away database each time, with fewer runs (the case's ``mongo`` sizes: the
fill alone would take hours at 1,000,000); the fill line under the table says so.

``run_stats`` is timed twice per window: the default answer (whole hours and days from
the rollups, percentiles off their histogram) and ``exact=True`` (every duration of the
window read and ranked); the largest relative difference of a rollup percentile from the
exact one is reported with them. The default answer is timed once more for a window
starting at 11:30 UTC the day before (a little longer than the window): the start whose
read has the most rollup rows (12 hours) and runs (30 minutes) to sum, where the window
ending at the fill's time may fall anywhere in a day.

Each query goes through the store API (SQL + row → ``Run`` objects): one untimed first
call (its time is reported apart, ``first_ms``: it reads pages not yet cached), then up
to ``reps`` timed calls, stopping early (after at least 10) once ``budget_s`` is spent;
p50 / p95 / max reported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import measure
from bench.systems import SK_MONGO, SK_POSTGRES, SK_SQLITE, TASK_NAME, scaled_note, sized
from schedkit.models import Run, RunFilter, RunStatus, TriggerSource
from schedkit.store import Store, create_store
from schedkit.store._rollups import DAY, period_start

NAME = "history"
TITLE = "History queries"
logger = logging.getLogger("bench")

#: Bump when the generated history changes shape, so cached stores are rebuilt.
GENERATOR_VERSION = 1
MARKER = "bench.history"
MIN_REPS = 10
#: The label prefix of the exact run_stats query (``exact=True``), timed beside the default.
EXACT = "stats exact"
_DAY = 86_400


def systems(postgres: bool, mongo: bool = False) -> list[str]:
    return [SK_SQLITE, *([SK_POSTGRES] if postgres else []), *([SK_MONGO] if mongo else [])]


def cases(smoke: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if smoke:
        return [
            {
                "case": "1,000 runs",
                "runs": 1_000,
                "tasks": 4,
                "days": 30,
                "deep_offset": 10,
                "reps": 10,
                "budget_s": 1.0,
                "cache": False,
                "mongo": {"reps": 3},
            }
        ]
    return [
        {
            "case": "1,000,000 runs",
            "runs": 1_000_000,
            "tasks": 20,
            "days": 30,
            "deep_offset": 20_000,
            "reps": 50,
            "budget_s": 5.0,
            "cache": True,
            # Each query reads the whole runs collection on FerretDB v1 (20,000 runs: ~5 s
            # a call, and each query is called at least 11 times).
            "mongo": {"runs": 5_000},
        }
    ]


def phases(system: str) -> list[str]:
    return ["run"]


def timeout(case: dict[str, Any]) -> float:
    return 900.0 + float(case["runs"]) * 0.002


def _key(case: dict[str, Any]) -> str:
    """The cache key: the history's shape and the current DDL of the runs and run
    rollups tables (columns and indexes), so a schema change builds a fresh store rather
    than measuring an old one (an index added without a migration never reaches an
    existing store, and a store of an older schema version is not the lead's to
    upgrade)."""
    shape = {k: case[k] for k in ("runs", "tasks", "days")} | {"v": GENERATOR_VERSION}
    digest = hashlib.sha1(json.dumps(shape, sort_keys=True).encode())
    digest.update(_schema_ddl().encode())
    return digest.hexdigest()[:10]


def _schema_ddl() -> str:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql, sqlite

    from schedkit.store.sql.schema import build_tables

    tables = build_tables("schedkit_")
    parts = []
    dialects: tuple[sa.engine.Dialect, ...] = (
        sqlite.dialect(),
        postgresql.dialect(),  # type: ignore[no-untyped-call]
    )
    for dialect in dialects:
        for table in (tables.runs, tables.run_rollups):
            parts.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)))
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                parts.append(str(sa.schema.CreateIndex(index).compile(dialect=dialect)))
    return "\n".join(parts)


async def provision(
    system: str, case: dict[str, Any], pg_url: str | None, var: Path
) -> dict[str, Any]:
    """A persistent store per parameter set (created empty here, filled by the child)."""
    key = _key(case)
    if system == SK_SQLITE:
        _mkdir(var)
        return {"store_url": f"sqlite:///{var / f'history-{key}.db'}", "cache_key": key}
    assert pg_url is not None
    name = f"schedkit_bench_history_{key}"
    if not await measure.pg_database_exists(pg_url, name):
        await measure.pg_create_database(pg_url, name)
    return {
        "store_url": measure.pg_with_database(pg_url, name),
        "pg_url": pg_url,
        "pg_db": name,
        "cache_key": key,
    }


def _task_names(n: int) -> list[str]:
    return [TASK_NAME] + [f"bench_task_{i:02d}" for i in range(1, n)]


def history_runs(case: dict[str, Any], end: datetime) -> Any:
    """The history, oldest first, in batches of 5,000 Run objects (also fills the API
    probe of ``bench.bulk``)."""
    rng = random.Random(42)
    n, tasks = case["runs"], _task_names(case["tasks"])
    span = case["days"] * _DAY
    start = end - timedelta(seconds=span)
    step = span / n
    batch: list[Run] = []
    for i in range(n):
        task = tasks[i % len(tasks)]
        scheduled = start + timedelta(seconds=i * step)
        roll = rng.random()
        status = (
            RunStatus.SUCCESS
            if roll < 0.93
            else RunStatus.FAILED
            if roll < 0.97
            else RunStatus.SKIPPED
            if roll < 0.99
            else RunStatus.MISSED
        )
        ran = status in (RunStatus.SUCCESS, RunStatus.FAILED)
        started = scheduled + timedelta(milliseconds=rng.uniform(1, 20)) if ran else None
        duration = 10 ** rng.uniform(-2, 1.8) if ran else None
        finished = started + timedelta(seconds=duration or 0) if started is not None else scheduled
        batch.append(
            Run(
                id=f"{i:012d}{rng.getrandbits(80):020x}",
                task_name=task,
                schedule_id=task,
                trigger_source=TriggerSource.SCHEDULE,
                scheduled_for=scheduled,
                status=status,
                priority=2,
                not_before=scheduled,
                node_id=f"node-{i % 3}" if ran else None,
                started_at=started,
                finished_at=finished,
                heartbeat_at=started,
                duration=duration,
                result={
                    "success": status is RunStatus.SUCCESS,
                    "message": "",
                    "data": None,
                    "statistics": {"rows": i % 1000},
                }
                if ran
                else None,
                error={
                    "type": "ValueError",
                    "message": f"bad row {i}",
                    "traceback": "Traceback ...",
                }
                if status is RunStatus.FAILED
                else None,
                reason="coalesced"
                if status is RunStatus.SKIPPED
                else "late"
                if status is RunStatus.MISSED
                else None,
                created_at=scheduled,
                created_by="scheduler",
            )
        )
        if len(batch) == 5000:
            yield batch
            batch = []
    if batch:
        yield batch


async def _fill(store: Store, url: str, case: dict[str, Any], system: str) -> dict[str, Any]:
    end = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    done = 0
    for batch in history_runs(case, end):
        await store.insert_runs(batch)
        done += len(batch)
        if done % 100_000 == 0:
            logger.info(
                "%s: %d / %d runs inserted (%.0f/s)",
                system,
                done,
                case["runs"],
                done / (time.perf_counter() - t0),
            )
    fill_s = time.perf_counter() - t0
    analyzed = False
    if system == SK_POSTGRES:
        # As autovacuum would before long: without the visibility map, PostgreSQL's
        # index-only counts visit the heap (67-77 ms for a task's or a status's count
        # measured right after a fill, 5 ms once vacuumed).
        await measure.pg_execute(url, "VACUUM ANALYZE")
        analyzed = True
    info = {
        "params": {k: case[k] for k in ("runs", "tasks", "days")},
        "generator": GENERATOR_VERSION,
        "end": end.isoformat(),
        "fill_s": round(fill_s, 1),
        "fill_per_s": round(case["runs"] / fill_s, 1),
        "analyzed": analyzed,
        "filled_at": datetime.now(UTC).isoformat(),
    }
    await store.set_state(MARKER, info, 0)
    return info


def _mkdir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def _unlink_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _wipe(url: str, system: str) -> None:
    """Drop a half-filled or stale history (its marker is missing or different)."""
    if system == SK_SQLITE:
        _unlink_sqlite(url.removeprefix("sqlite:///"))
        return
    if system == SK_MONGO:
        return  # a database of its own, created for this run and dropped after it
    await measure.pg_execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")


async def _timed(fn: Any, reps: int, budget_s: float) -> tuple[dict[str, Any], Any]:
    """One untimed first call (reported apart as ``first_ms``: it pays for pages not yet
    in the cache), then up to ``reps`` timed calls, stopping after at least
    ``MIN_REPS`` once ``budget_s`` is spent."""
    t0 = time.perf_counter()
    out = await fn()
    first = time.perf_counter() - t0
    times: list[float] = []
    started = time.perf_counter()
    for i in range(reps):
        t0 = time.perf_counter()
        out = await fn()
        times.append(time.perf_counter() - t0)
        if i + 1 >= MIN_REPS and time.perf_counter() - started > budget_s:
            break
    stats = measure.summary_ms(times, (50, 95))
    stats["first_ms"] = round(first * 1000, 3)
    return stats, out


async def run(
    phase: str, system: str, spec: dict[str, Any], prior: dict[str, Any]
) -> dict[str, Any]:
    case = sized(system, spec)
    env = {"cache_key": _key(case), **spec["env"]}
    want = {k: case[k] for k in ("runs", "tasks", "days")}
    store = create_store(env["store_url"])
    await store.open()
    marker = await store.get_state(MARKER)
    filled_now = False
    if (
        marker is None
        or marker.value.get("params") != want
        or marker.value.get("generator") != GENERATOR_VERSION
    ):
        await store.close()
        logger.info("%s: filling %d runs (cache key %s)", system, case["runs"], env["cache_key"])
        await _wipe(env["store_url"], system)
        store = create_store(env["store_url"])
        await store.open()
        info = await _fill(store, env["store_url"], case, system)
        filled_now = True
    else:
        info = marker.value
        logger.info("%s: reusing the filled store from %s", system, info["filled_at"])
    try:
        end = datetime.fromisoformat(info["end"])
        task = TASK_NAME
        failed = frozenset({RunStatus.FAILED})
        deep = case["deep_offset"]
        task_deep = max(1, deep // case["tasks"])
        queries: list[tuple[str, Any]] = [
            ("newest 50 of a task", lambda: store.list_runs(RunFilter(task_name=task), limit=50)),
            (
                f"status=failed page, offset {deep:,}",
                lambda: store.list_runs(RunFilter(statuses=failed), limit=50, offset=deep),
            ),
            (
                f"task + status=failed page, offset {task_deep:,}",
                lambda: store.list_runs(
                    RunFilter(task_name=task, statuses=failed), limit=50, offset=task_deep
                ),
            ),
            ("newest 50, no filter", lambda: store.list_runs(None, limit=50)),
            ("count: a task", lambda: store.count_runs(RunFilter(task_name=task))),
            ("count: status=failed", lambda: store.count_runs(RunFilter(statuses=failed))),
            ("count: all", lambda: store.count_runs(None)),
        ]
        for days, window in ((1, "24 h"), (7, "7 days")):
            since = end - timedelta(days=days)
            # The rollups' read depends on where ``since`` falls in its day (``end`` is
            # the fill's time): a window from 11:30 UTC reads the most of them.
            worst = period_start(since, DAY) - timedelta(hours=12, minutes=30)
            queries += [
                (f"stats: last {window}", lambda since=since: store.run_stats(since)),
                (
                    f"{EXACT}: last {window}",
                    lambda since=since: store.run_stats(since, exact=True),
                ),
                (
                    f"stats: {window}+ from 11:30 UTC",
                    lambda since=worst: store.run_stats(since),
                ),
            ]
        results: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for label, fn in queries:
            stats, out = await _timed(fn, case["reps"], case["budget_s"])
            stats["rows"] = len(out) if isinstance(out, list) else out
            results[label] = stats
            outputs[label] = out
            logger.info(
                "%s: %s p50 %.2f ms p95 %.2f ms", system, label, stats["p50_ms"], stats["p95_ms"]
            )
        total = await store.count_runs(None)
    finally:
        await store.close()
    return {
        "runs_in_store": total,
        "percentile_max_rel_error": _largest_error(outputs),
        "fill": info,
        "filled_now": filled_now,
        "queries": results,
        **measure.memory_report(),
    }


def _largest_error(outputs: dict[str, Any]) -> float:
    """The largest relative difference of a rollup percentile from the exact one."""
    worst = 0.0
    for label, exact in outputs.items():
        if not label.startswith(EXACT):
            continue
        approx = {s.task_name: s for s in outputs[label.replace(EXACT, "stats", 1)]}
        for e in exact:
            a = approx[e.task_name]
            for got, want in (
                (a.p50_duration, e.p50_duration),
                (a.p95_duration, e.p95_duration),
                (a.p99_duration, e.p99_duration),
            ):
                if got is not None and want:
                    worst = max(worst, abs(got - want) / want)
    return round(worst, 4)


def render(section: dict[str, Any]) -> str:
    headers = [
        "query",
        *[f"{s} p50 / p95 (first call) ms" for s in section["systems"]],
        "rows",
    ]
    labels: list[str] = []
    for case in section["cases"].values():
        for r in case["results"].values():
            for label in r.get("queries", {}):
                if label not in labels:
                    labels.append(label)
    rows = []
    fills: list[str] = []
    for case in section["cases"].values():
        res = case["results"]
        for label in labels:
            cells: list[Any] = [label]
            rows_out: Any = None
            for system in section["systems"]:
                q = res.get(system, {}).get("queries", {}).get(label)
                if q is None:
                    cells.append(res.get(system, {}).get("error", "–")[:40])
                    continue
                first = measure.fmt(q.get("first_ms"), 1)
                cells.append(
                    f"{measure.fmt(q['p50_ms'], 2)} / {measure.fmt(q['p95_ms'], 2)} ({first})"
                )
                rows_out = q["rows"]
            cells.append(rows_out)
            rows.append(cells)
        fills += [
            f"{s}{scaled_note(s, case['params'])}: {r['runs_in_store']:,} runs, "
            f"filled at {r['fill']['fill_per_s']:,.0f} runs/s"
            + (" (this run)" if r["filled_now"] else " (cached)")
            + f", rollup percentiles within {r.get('percentile_max_rel_error', 0):.1%} of exact"
            for s, r in res.items()
            if "fill" in r
        ]
    return measure.table(headers, rows) + ("\n\n" + "; ".join(fills) if fills else "")


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for case_name, case in section["cases"].items():
        r = case["results"].get(SK_SQLITE, {})
        if r.get("runs_in_store", 0) < 1_000_000:
            continue
        for label, q in r["queries"].items():
            if label.startswith(EXACT):
                continue  # on demand only; the target is the default (rollup) query
            out.append(
                {
                    "target": f"history p95 ≤ 20 ms (SQLite): {label}",
                    "case": case_name,
                    "measured": f"{q['p95_ms']:,.1f} ms",
                    "met": q["p95_ms"] <= 20,
                    "factor": measure.ratio(q["p95_ms"], 20),
                }
            )
    return out
