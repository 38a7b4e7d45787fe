"""Workload 5 — per-run overhead: what the framework spends on one no-op run, and where.

Two paths, each measured twice in one interpreter — once plain (the figures) and once
under cProfile (the distribution; profiling roughly doubles the cost, so its absolute
times are not the figures):

* manual runs — N pending runs already in the store are claimed, executed and finished
  by the executor (schedkit), or N due date jobs are run (APScheduler);
* scheduled fires — M interval schedules firing M/P times a second: the scheduler plans
  the fire, writes the run, the executor runs and finishes it.

A no-op task does nothing, so all CPU the process uses is framework (+ driver) time:
CPU per run = process CPU / runs (per thread from /proc; on PostgreSQL the server's
CPU per run too). The profiles run cProfile with each thread's own CPU clock on the
event-loop thread and on every thread the store starts (SQLite's writer and readers),
so waiting (GIL, locks, I/O) costs nothing in them; each thread's plain CPU per run is
then spread over the areas in the proportions its profile found.

Store round trips are not counted here (``COUNT_ROUND_TRIPS``: the counter would show in
the profiles); the throughput and fire-rate workloads count them. schedkit-mongo runs
fewer runs and schedules on FerretDB (the case's ``mongo`` sizes; the table says so).
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import math
import pstats
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bench import measure
from bench.systems import (
    APS_MEMORY,
    RECORDS,
    SK_SQLITE,
    config_json,
    is_schedkit,
    make_scheduler,
    pending_run,
    scaled_note,
    sized,
    store_systems,
    utc_from_ts,
)
from schedkit.events import EventKind, RunEvent
from schedkit.store import create_store

NAME = "overhead"
TITLE = "Per-run overhead"
logger = logging.getLogger("bench")


COUNT_ROUND_TRIPS = False


def systems(postgres: bool, mongo: bool = False) -> list[str]:
    return [*store_systems(postgres, mongo), APS_MEMORY]


def cases(smoke: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    mcr = opts.get("max_concurrent_runs") or 100
    if smoke:
        return [
            {
                "case": "manual runs",
                "kind": "manual",
                "runs": 100,
                "max_concurrent_runs": mcr,
                "mongo": {"runs": 10},
            },
            {
                "case": "scheduled fires",
                "kind": "fires",
                "schedules": 10,
                "interval_s": 1.0,
                "warmup_s": 0.5,
                "duration_s": 1.0,
                "mongo": {"schedules": 3},
            },
        ]
    return [
        {
            "case": "manual runs",
            "kind": "manual",
            "runs": 5_000,
            "max_concurrent_runs": mcr,
            "mongo": {"runs": 200},
        },
        {
            "case": "scheduled fires",
            "kind": "fires",
            "schedules": 200,
            "interval_s": 2.0,
            "warmup_s": 5.0,
            "duration_s": 10.0,
            "mongo": {"schedules": 20},
        },
    ]


def phases(system: str) -> list[str]:
    return ["run"]


def timeout(case: dict[str, Any]) -> float:
    return 900.0


# -- profile digestion -------------------------------------------------------------------


def _area(path: str, func: str) -> str:
    if path == "~":
        if "epoll" in func or "select" in func:
            return "event-loop wait (epoll)"
        if "sqlite3" in func:
            return "sqlite3 (C)"
        if "asyncpg" in func:
            return "asyncpg"
        return "builtins (C)"
    for needle, area in (
        ("/schedkit/store/", "schedkit.store"),
        ("/schedkit/engine/", "schedkit.engine"),
        ("/schedkit/events.py", "schedkit.events"),
        ("/schedkit/task.py", "schedkit.task"),
        ("/schedkit/triggers/", "schedkit.triggers"),
        ("/schedkit/", "schedkit (other)"),
        ("/sqlalchemy/", "sqlalchemy"),
        ("/aiosqlite/", "aiosqlite"),
        ("/asyncpg/", "asyncpg"),
        ("/pymongo/", "pymongo"),
        ("/bson/", "pymongo"),
        ("/apscheduler/", "apscheduler"),
        ("/pydantic", "pydantic"),
        ("/asyncio/", "asyncio"),
        ("/json/", "json"),
        ("/logging/", "logging"),
        ("/bench/", "bench harness"),
        ("threading.py", "threading / futures"),
        ("/concurrent/", "threading / futures"),
        ("datetime", "datetime / zoneinfo"),
        ("zoneinfo", "datetime / zoneinfo"),
    ):
        if needle in path:
            return area
    return "other Python"


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise_profile(stats: pstats.Stats, units: int, top: int = 20) -> dict[str, Any]:
    """Self time by area, and the top functions by cumulative and by self time, with
    µs per unit (run or fire)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    waiting = sum(v[2] for k, v in raw.items() if _area(k[0], k[2]) == "event-loop wait (epoll)")
    busy = total - waiting
    areas: dict[str, float] = defaultdict(float)
    for (path, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        areas[_area(path, func)] += tt

    def row(key: Any, value: Any) -> dict[str, Any]:
        path, line, func = key
        _cc, nc, tt, ct, _callers = value
        return {
            "function": f"{_short(path)}:{line}({func})" if path != "~" else func,
            "ncalls": nc,
            "self_s": round(tt, 4),
            "cum_s": round(ct, 4),
            "cum_us_per_unit": round(1e6 * ct / units, 1) if units else None,
            "self_us_per_unit": round(1e6 * tt / units, 1) if units else None,
        }

    by_cum = sorted(raw.items(), key=lambda kv: -kv[1][3])
    by_self = sorted(
        ((k, v) for k, v in raw.items() if _area(k[0], k[2]) != "event-loop wait (epoll)"),
        key=lambda kv: -kv[1][2],
    )
    ours = [(k, v) for k, v in by_cum if "/schedkit/" in k[0]]
    return {
        "units": units,
        "profiled_total_s": round(total, 3),
        "profiled_busy_s": round(busy, 3),
        "busy_us_per_unit": round(1e6 * busy / units, 1) if units else None,
        "by_area": {
            area: {
                "self_s": round(tt, 3),
                "pct_of_busy": round(100 * tt / busy, 1) if busy and "wait" not in area else None,
                "us_per_unit": round(1e6 * tt / units, 1) if units else None,
            }
            for area, tt in sorted(areas.items(), key=lambda kv: -kv[1])
        },
        "top_cumulative": [row(k, v) for k, v in by_cum[:top]],
        "top_cumulative_schedkit": [row(k, v) for k, v in ours[:top]],
        "top_self": [row(k, v) for k, v in by_self[:top]],
    }


# -- runs ---------------------------------------------------------------------------------


def _profiler() -> cProfile.Profile:
    """A profiler timing with the thread's own CPU clock: waiting (for the GIL, a lock,
    the database, the next event) costs nothing, so the profile is where CPU goes."""
    return cProfile.Profile(time.thread_time)


class Profiling:
    """cProfile on the event-loop thread and on every thread started while it is on
    (SQLite's writer / reader threads): each new thread enables a profiler of its own
    on its first profiled event. Read the results only after those threads ended."""

    def __init__(self) -> None:
        self.main = _profiler()
        self.threads: dict[str, list[cProfile.Profile]] = defaultdict(list)
        self._seen: set[int | None] = set()

    def _boot(self, frame: Any, event: str, arg: Any) -> None:
        thread = threading.current_thread()
        if thread.ident in self._seen:
            return
        self._seen.add(thread.ident)
        profile = _profiler()
        self.threads[measure.thread_group(thread.name)].append(profile)
        profile.enable()

    def start(self) -> None:
        threading.setprofile(self._boot)
        self.main.enable()

    def stop(self) -> None:
        self.main.disable()
        threading.setprofile(None)

    def report(self, units: int) -> dict[str, Any]:
        return {
            "main": summarise_profile(pstats.Stats(self.main), units),
            "threads": {
                name: summarise_profile(pstats.Stats(*profiles), units)
                for name, profiles in self.threads.items()
            },
        }


async def run(
    phase: str, system: str, spec: dict[str, Any], prior: dict[str, Any]
) -> dict[str, Any]:
    spec = sized(system, spec)
    manual = spec["kind"] == "manual"
    profiling = Profiling()
    if is_schedkit(system):
        if manual:
            plain = await _sk_manual(spec, None)
            profiled = await _sk_manual(spec, profiling)
        else:
            plain, profiled = await _sk_fires(spec, profiling)
    elif manual:
        plain = await _aps_manual(spec, None)
        profiled = await _aps_manual(spec, profiling)
    else:
        plain, profiled = await _aps_fires(spec, profiling)
    report = profiling.report(profiled["runs"])
    _scale_to_plain(plain, report)
    return {
        **plain,
        "profiled_run": profiled,
        "profile": report["main"],
        "thread_profiles": report["threads"],
        **measure.memory_report(),
    }


def _scale_to_plain(plain: dict[str, Any], report: dict[str, Any]) -> None:
    """Profiling inflates CPU (the profiler's own cost): spread each thread's *plain*
    CPU per run over the areas in the proportions its profile measured."""
    profiles = [("main", report["main"]), *report["threads"].items()]
    for name, profile in profiles:
        cpu = plain["threads_cpu_s"].get(name)
        busy = profile["profiled_busy_s"]
        if not cpu or not busy or not plain["runs"]:
            continue
        real = cpu * 1e6 / plain["runs"]
        profile["plain_cpu_us_per_unit"] = round(real, 1)
        for area in profile["by_area"].values():
            if area["pct_of_busy"] is not None:
                area["est_plain_us_per_unit"] = round(real * area["pct_of_busy"] / 100, 1)


def _figures(runs: int, wall: float, cpu: float, threads: dict[str, float]) -> dict[str, Any]:
    return {
        "runs": runs,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "wall_ms_per_run": round(1000 * wall / runs, 3) if runs else None,
        "cpu_ms_per_run": round(1000 * cpu / runs, 3) if runs else None,
        "runs_per_s": round(runs / wall, 1) if wall else None,
        "threads_cpu_s": threads,
    }


async def _sk_manual(case: dict[str, Any], profiling: Profiling | None) -> dict[str, Any]:
    env, n = case["env"], case["runs"]
    store = create_store(env["store_url"])
    await store.open()
    now = datetime.now(UTC)
    for i in range(0, n, 1000):
        await store.insert_runs([pending_run(now) for _ in range(min(1000, n - i))])
    await store.close()
    scheduler = make_scheduler(
        env["store_url"], executor={"max_concurrent_runs": case["max_concurrent_runs"]}
    )
    done = asyncio.Event()
    finished = 0

    def on_finished(event: RunEvent) -> None:
        nonlocal finished
        finished += 1
        if finished >= n:
            done.set()

    scheduler.add_listener(on_finished, [EventKind.FINISHED])
    pg = env.get("pg_db")
    pg0 = await measure.pg_backend_cpu(env["pg_url"], pg) if pg else {}
    threads0, cpu0 = measure.thread_cpu(), measure.cpu_seconds()
    t0 = time.perf_counter()
    if profiling is not None:
        profiling.start()
    await scheduler.start()
    await asyncio.wait_for(done.wait(), 600)
    wall = time.perf_counter() - t0
    cpu, threads1 = measure.cpu_seconds() - cpu0, measure.thread_cpu()
    pg1 = await measure.pg_backend_cpu(env["pg_url"], pg) if pg else {}
    await scheduler.stop(grace=5)  # joins the store's threads
    if profiling is not None:
        profiling.stop()
    out = _figures(finished, wall, cpu, measure.thread_cpu_delta(threads0, threads1))
    if pg and finished:
        out["server_cpu_ms_per_run"] = round(1000 * measure.pg_cpu_delta(pg0, pg1) / finished, 3)
    out["settings"] = config_json(scheduler.config)
    return out


async def _aps_manual(case: dict[str, Any], profiling: Profiling | None) -> dict[str, Any]:
    from apscheduler.events import EVENT_JOB_EXECUTED

    from bench.baseline import aps_noop, aps_settings, make_aps

    n = case["runs"]
    RECORDS.clear()
    scheduler = make_aps(APS_MEMORY, None, misfire_grace_time=None, coalesce=False, max_instances=1)
    done = asyncio.Event()

    def on_executed(event: Any) -> None:
        if len(RECORDS) >= n:
            done.set()

    scheduler.add_listener(on_executed, EVENT_JOB_EXECUTED)
    scheduler.start(paused=True)
    run_date = datetime.now(UTC)
    for i in range(n):
        scheduler.add_job(aps_noop, "date", run_date=run_date, args=[f"t{i}"], id=f"t{i:06d}")
    threads0, cpu0 = measure.thread_cpu(), measure.cpu_seconds()
    t0 = time.perf_counter()
    if profiling is not None:
        profiling.start()
    scheduler.resume()
    await asyncio.wait_for(done.wait(), 600)
    if profiling is not None:
        profiling.stop()
    wall = time.perf_counter() - t0
    cpu, threads1 = measure.cpu_seconds() - cpu0, measure.thread_cpu()
    scheduler.shutdown(wait=False)
    out = _figures(len(RECORDS), wall, cpu, measure.thread_cpu_delta(threads0, threads1))
    out["settings"] = aps_settings(APS_MEMORY, scheduler)
    return out


def _fires_in(ws: float, we: float) -> int:
    """Fires that started in [ws, we): the work the window's CPU paid for."""
    return sum(1 for _sid, _scheduled, start in RECORDS if ws <= start < we)


class _Span:
    """Wall time, process CPU and per-thread CPU between ``__init__`` and ``end()``."""

    def __init__(self) -> None:
        self.threads0, self.cpu0, self.ws = measure.thread_cpu(), measure.cpu_seconds(), time.time()

    def end(self) -> dict[str, Any]:
        cpu, we = measure.cpu_seconds() - self.cpu0, time.time()
        threads = measure.thread_cpu_delta(self.threads0, measure.thread_cpu())
        out = _figures(_fires_in(self.ws, we), we - self.ws, cpu, threads)
        out["cpu_ms_per_fire"] = out.pop("cpu_ms_per_run")
        out["fires_per_s"] = out.pop("runs_per_s")
        out.pop("wall_ms_per_run")
        return out


async def _sk_fires(
    case: dict[str, Any], profiling: Profiling
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A plain window on one node; then a second node (fresh store threads, so they are
    profiled) from start to stop, warm-up included."""
    from bench.fire_precision import _align, _nominal_us, _register_schedkit

    env = case["env"]
    # As in fire_precision: register on a non-firing node, then line the stored next
    # fires up just after the firing node starts (no catch-up burst from registration).
    starts = _nominal_us(case, math.ceil(time.time()) * 1_000_000)
    await _register_schedkit(SK_SQLITE, case, starts)
    await _align(env["store_url"], case, starts, (math.ceil(time.time()) + 2) * 1_000_000)
    scheduler = make_scheduler(env["store_url"])
    await scheduler.start()
    try:
        await asyncio.sleep(case["warmup_s"])
        span = _Span()
        await asyncio.sleep(case["duration_s"])
        plain = span.end()
    finally:
        await scheduler.stop(grace=5)
    plain["settings"] = config_json(scheduler.config)

    await _align(env["store_url"], case, starts, (math.ceil(time.time()) + 1) * 1_000_000)
    scheduler = make_scheduler(env["store_url"])
    profiling.start()
    span = _Span()
    await scheduler.start()
    try:
        await asyncio.sleep(case["duration_s"])
    finally:
        await scheduler.stop(grace=5)
        profiled = span.end()
        profiling.stop()
    return plain, profiled


async def _aps_fires(
    case: dict[str, Any], profiling: Profiling
) -> tuple[dict[str, Any], dict[str, Any]]:
    from apscheduler.triggers.interval import IntervalTrigger

    from bench.baseline import aps_noop, aps_settings, make_aps

    m, period = case["schedules"], case["interval_s"]
    scheduler = make_aps(APS_MEMORY, None)
    base = math.ceil(time.time()) + 1
    for i in range(m):
        sid = f"ov-{i:05d}"
        start = utc_from_ts(base + period * i / m)
        scheduler.add_job(
            aps_noop,
            IntervalTrigger(seconds=period, start_date=start, timezone="UTC"),
            args=[sid],
            id=sid,
        )
    scheduler.start()
    try:
        await asyncio.sleep(case["warmup_s"])
        span = _Span()
        await asyncio.sleep(case["duration_s"])
        plain = span.end()
        profiling.start()
        span = _Span()
        await asyncio.sleep(case["duration_s"])
        profiling.stop()
        profiled = span.end()
    finally:
        scheduler.shutdown(wait=False)
    plain["settings"] = aps_settings(APS_MEMORY, scheduler)
    return plain, profiled


# -- report ------------------------------------------------------------------------------


def _top_areas(profile: dict[str, Any], count: int = 4) -> str:
    areas = profile["by_area"]
    top = [
        f"{area} {v['est_plain_us_per_unit']:,.0f}"
        for area, v in areas.items()
        if v.get("est_plain_us_per_unit") is not None
    ][:count]
    return ", ".join(top)


def render(section: dict[str, Any]) -> str:
    headers = [
        "case",
        "system",
        "runs",
        "runs/s",
        "CPU ms/run",
        "CPU s by thread",
        "CPU µs/run by thread — its top areas (profile shares × plain CPU)",
    ]
    rows = []
    for case_name, case in section["cases"].items():
        for system, r in case["results"].items():
            if "error" in r:
                rows.append([case_name, system, "error: " + r["error"][:60], "", "", "", ""])
                continue
            cpu = r.get("cpu_ms_per_run", r.get("cpu_ms_per_fire"))
            rate = r.get("runs_per_s", r.get("fires_per_s"))
            threads = ", ".join(f"{k} {v:.2f}" for k, v in list(r["threads_cpu_s"].items())[:3])
            profiles = {"main": r["profile"], **r.get("thread_profiles", {})}
            where = "; ".join(
                f"{name} {p['plain_cpu_us_per_unit']:,.0f}: {_top_areas(p)}"
                for name, p in profiles.items()
                if p.get("plain_cpu_us_per_unit", 0) >= 10
            )
            label = system + scaled_note(system, case["params"])
            rows.append([case_name, label, r["runs"], rate, cpu, threads, where])
    return measure.table(headers, rows)
