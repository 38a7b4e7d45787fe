"""Workload 3 — scale: 100,000 schedules.

Every schedule fires hourly; the bulk's phases are spread over 25 minutes that begin 30
minutes after registration starts, so none of them is due while measured. Then:

* register — schedkit: a sample through the façade (``add_task``: validation, audit
  event), a sample through ``store.put_schedule`` (200 calls in flight), the rest by
  the benchmark's bulk INSERT (set-up only: one store call per schedule would take the
  whole time budget); the one-by-one rates are reported, projected to all N.
  APScheduler + SQLAlchemyJobStore: a sample through ``add_job`` on a started, paused
  scheduler (one commit each), the rest by bulk INSERT of the same rows.
  APScheduler + MemoryJobStore: every job through ``add_job`` before ``start()``.
* start — in a fresh interpreter (so RSS is what a restarted node holds): the time
  ``start()`` takes and the time until the node fires (schedkit: holds the lease);
* idle — CPU and RSS over ``idle_s`` seconds in which nothing is due (CPU also scaled
  to a minute), then the lateness of a few fires due just after that window (their
  schedules are added before it); store round trips in the idle window, per minute.

schedkit-mongo registers fewer schedules on FerretDB (the case's ``mongo`` sizes; the
table says so).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from bench import measure, roundtrips
from bench.systems import (
    APS_MEMORY,
    APS_SQLALCHEMY,
    RECORDS,
    SK_SQLITE,
    TASK_NAME,
    bulk_insert_schedules,
    config_json,
    is_schedkit,
    make_scheduler,
    scaled_note,
    schedule_from_spec,
    sized,
    store_systems,
    utc_from_ts,
)
from schedkit import Scheduler

NAME = "scale"
TITLE = "Scale"
logger = logging.getLogger("bench")

BULK_OFFSET_S = 30 * 60
BULK_SPREAD_S = 25 * 60
DUE_SPREAD_S = 4.0


def systems(postgres: bool, mongo: bool = False) -> list[str]:
    return [*store_systems(postgres, mongo), APS_MEMORY, APS_SQLALCHEMY]


def cases(smoke: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if smoke:
        return [
            {
                "case": "100 schedules",
                "schedules": 100,
                "facade_sample": 20,
                "put_sample": 20,
                "due": 2,
                "idle_s": 4.0,
            }
        ]
    return [
        {
            "case": "100,000 schedules",
            "schedules": 100_000,
            "facade_sample": 1_000,
            "put_sample": 1_000,
            "due": 10,
            "idle_s": 20.0,
            # FerretDB v1 reads the whole schedules collection for each tick's query: at
            # 10,000 schedules no store command even started in the idle window and no
            # due fire ran; at 1,000 some due fires run, seconds late.
            "mongo": {"schedules": 1_000, "facade_sample": 200, "put_sample": 200},
        }
    ]


def phases(system: str) -> list[str]:
    return ["all"] if system == APS_MEMORY else ["register", "start"]


def timeout(case: dict[str, Any]) -> float:
    return 600.0 + float(case["schedules"]) * 0.02


def _bulk_start(base: float, i: int, n: int) -> datetime:
    return utc_from_ts(base + BULK_OFFSET_S + BULK_SPREAD_S * i / n)


def _spec(start: datetime) -> dict[str, Any]:
    return {"trigger": "interval", "hours": 1, "start_date": start}


async def run(
    phase: str, system: str, spec: dict[str, Any], prior: dict[str, Any]
) -> dict[str, Any]:
    spec = sized(system, spec)
    if system == APS_MEMORY:
        return await _aps_all(spec)
    if phase == "register":
        if is_schedkit(system):
            return await _schedkit_register(system, spec)
        return await _aps_register(spec)
    if is_schedkit(system):
        return await _schedkit_start(system, spec)
    return await _aps_start(spec)


async def _poll(condition: Any, timeout: float, step: float) -> bool:
    """Wait until ``condition()`` holds or ``timeout`` seconds passed; whether it holds."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return bool(condition())


# -- schedkit ----------------------------------------------------------------------------


def scale_scheduler(case: dict[str, Any]) -> Scheduler:
    """A node allowed the case's schedules (100,000 and the due ones are over the default
    ``limits.max_schedules``)."""
    limit = case["schedules"] + case["due"]
    return make_scheduler(case["env"]["store_url"], limits={"max_schedules": limit})


async def _schedkit_register(system: str, case: dict[str, Any]) -> dict[str, Any]:
    """A sample through the façade, a sample through ``store.put_schedule`` (200 calls
    in flight), the rest with the benchmark's bulk INSERT (set-up only)."""
    n = case["schedules"]
    facade_n = min(case["facade_sample"], n)
    put_n = min(case["put_sample"], n - facade_n)
    scheduler = scale_scheduler(case)
    await scheduler.start()
    base = time.time()
    try:
        t0 = time.perf_counter()
        for chunk in range(0, facade_n, 50):
            await asyncio.gather(
                *(
                    scheduler.add_task(
                        TASK_NAME, _spec(_bulk_start(base, i, n)), schedule_id=f"s{i:07d}"
                    )
                    for i in range(chunk, min(facade_n, chunk + 50))
                )
            )
        facade_s = time.perf_counter() - t0
        logger.info("%s: %d schedules through add_task in %.1f s", system, facade_n, facade_s)

        now = datetime.now(UTC)
        built = [
            schedule_from_spec(scheduler, f"s{i:07d}", _spec(_bulk_start(base, i, n)), now)
            for i in range(facade_n, n)
        ]
        t0 = time.perf_counter()
        for chunk in range(0, put_n, 200):
            await asyncio.gather(
                *(
                    scheduler.store.put_schedule(s, expected_version=s.version - 1)
                    for s in built[chunk : min(put_n, chunk + 200)]
                )
            )
        put_s = time.perf_counter() - t0
        logger.info("%s: %d schedules through put_schedule in %.1f s", system, put_n, put_s)
        t0 = time.perf_counter()
        await bulk_insert_schedules(case["env"]["store_url"], built[put_n:])
        bulk_s = time.perf_counter() - t0
        stored = len(await scheduler.list_schedules())
    finally:
        await scheduler.stop(grace=5)
    bulk_n = n - facade_n - put_n
    return {
        "register": {
            "schedules": n,
            "stored": stored,
            "facade_count": facade_n,
            "facade_s": round(facade_s, 2),
            "facade_per_s": round(facade_n / facade_s, 1),
            "facade_projected_s": round(n * facade_s / facade_n, 1),
            "put_schedule_count": put_n,
            "put_schedule_s": round(put_s, 2),
            "put_schedule_per_s": round(put_n / put_s, 1) if put_n else None,
            "put_schedule_projected_s": round(n * put_s / put_n, 1) if put_n else None,
            "bulk_insert_count": bulk_n,
            "bulk_insert_s": round(bulk_s, 2),
            "bulk_insert_per_s": round(bulk_n / bulk_s, 1) if bulk_n else None,
            "total_s": round(facade_s + put_s + bulk_s, 2),
        },
        "bulk_base": base,
    }


def _due_starts(case: dict[str, Any], ws: float) -> list[float]:
    """The few due schedules fire one after another in the DUE_SPREAD_S seconds that
    start 1 s after the idle window, so the idle figure holds no fire at all."""
    due, first = case["due"], ws + case["idle_s"] + 1
    return [first + DUE_SPREAD_S * j / max(1, due - 1) for j in range(due)]


async def _add_due_schedkit(scheduler: Any, case: dict[str, Any], ws: float) -> list[float]:
    starts = _due_starts(case, ws)
    for j, start in enumerate(starts):
        await scheduler.add_task(TASK_NAME, _spec(utc_from_ts(start)), schedule_id=f"due-{j:03d}")
    return starts


async def _schedkit_start(system: str, case: dict[str, Any]) -> dict[str, Any]:
    env = case["env"]
    rss0 = measure.rss_mb()
    scheduler = scale_scheduler(case)
    t0 = time.perf_counter()
    await scheduler.start()
    start_s = time.perf_counter() - t0
    await _poll(lambda: scheduler.is_leader, 60, 0.005)
    ready_s = time.perf_counter() - t0
    logger.info("%s: started in %.3f s, firing after %.3f s", system, start_s, ready_s)
    try:
        ws = math.ceil(time.time()) + 1.0
        starts = await _add_due_schedkit(scheduler, case, ws)
        result = await _idle(case, ws, starts, env)
        result["schedules_in_store"] = len(await scheduler.list_schedules())
    finally:
        await scheduler.stop(grace=5)
    result.update(
        {
            "start_s": round(start_s, 3),
            "ready_s": round(ready_s, 3),
            "rss_before_start_mb": round(rss0, 1),
            "settings": config_json(scheduler.config),
        }
    )
    return result


async def _idle(
    case: dict[str, Any], ws: float, due_starts: list[float], env: dict[str, Any]
) -> dict[str, Any]:
    """Measure [ws, ws + idle_s] (no fire is due in it), then wait for the due fires
    (until 3 s after the last one's time)."""
    we = ws + case["idle_s"]
    window = measure.Window(ws, we)
    window.start()
    await asyncio.sleep(max(0.0, ws - time.time()))
    trips0 = roundtrips.snapshot()
    pg_before = (
        await measure.pg_backend_cpu(env["pg_url"], env["pg_db"]) if env.get("pg_db") else {}
    )
    await asyncio.sleep(max(0.0, we - time.time()))
    trips1 = roundtrips.snapshot()
    pg_after = await measure.pg_backend_cpu(env["pg_url"], env["pg_db"]) if env.get("pg_db") else {}
    window.join()
    await _poll(
        lambda: sum(1 for r in RECORDS if str(r[0]).startswith("due-")) >= len(due_starts),
        max(due_starts, default=we) + 3 - time.time(),
        0.1,
    )
    due = [r for r in RECORDS if str(r[0]).startswith("due-")]
    others = [r for r in RECORDS if not str(r[0]).startswith("due-")]
    win = window.report()
    result: dict[str, Any] = {
        "idle": win,
        "idle_cpu_s_per_min": round(win["cpu_s"] * 60 / win["window_s"], 3),
        "idle_round_trips": roundtrips.delta(trips0, trips1),
        "idle_round_trips_per_min": round(
            roundtrips.total(trips1 - trips0) * 60 / win["window_s"], 1
        )
        if roundtrips.installed()
        else None,
        "due_expected": len(due_starts),
        "due_executed": len(due),
        "due_lateness": measure.summary_ms([r[2] - r[1] for r in due], (50, 99)),
        "unexpected_fires": len(others),
        **measure.memory_report(),
    }
    if env.get("pg_db"):
        result["idle_server_cpu_s"] = measure.pg_cpu_delta(pg_before, pg_after)
    return result


# -- APScheduler -------------------------------------------------------------------------


def _aps_add_bulk(scheduler: Any, count: int, base: float, n: int) -> None:
    """``add_job`` for bulk schedules 0 .. count - 1 (of n)."""
    from apscheduler.triggers.interval import IntervalTrigger

    from bench.baseline import aps_noop

    for i in range(count):
        sid = f"s{i:07d}"
        scheduler.add_job(
            aps_noop,
            IntervalTrigger(hours=1, start_date=_bulk_start(base, i, n), timezone="UTC"),
            args=[sid],
            id=sid,
        )
        if i % 20_000 == 0 and i:
            logger.info("%d / %d jobs added", i, n)


def _aps_add_due(scheduler: Any, case: dict[str, Any], ws: float) -> list[float]:
    from apscheduler.triggers.interval import IntervalTrigger

    from bench.baseline import aps_noop

    starts = _due_starts(case, ws)
    for j, start in enumerate(starts):
        sid = f"due-{j:03d}"
        scheduler.add_job(
            aps_noop,
            IntervalTrigger(hours=1, start_date=utc_from_ts(start), timezone="UTC"),
            args=[sid],
            id=sid,
        )
    return starts


async def _aps_register(case: dict[str, Any]) -> dict[str, Any]:
    """A sample through ``add_job`` on a started, paused scheduler (one commit each),
    the rest with the benchmark's bulk INSERT of the same rows (set-up only)."""
    from apscheduler.triggers.interval import IntervalTrigger

    from bench.baseline import aps_bulk_add, make_aps

    n = case["schedules"]
    sample = min(case["facade_sample"], n)
    scheduler = make_aps(APS_SQLALCHEMY, case["env"]["store_url"])
    scheduler.start(paused=True)
    base = time.time()
    t0 = time.perf_counter()
    _aps_add_bulk(scheduler, sample, base, n)
    add_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    aps_bulk_add(
        scheduler,
        [
            (
                f"s{i:07d}",
                IntervalTrigger(hours=1, start_date=_bulk_start(base, i, n), timezone="UTC"),
                [f"s{i:07d}"],
            )
            for i in range(sample, n)
        ],
    )
    bulk_s = time.perf_counter() - t0
    stored = len(scheduler.get_jobs())
    scheduler.shutdown(wait=False)
    return {
        "register": {
            "schedules": n,
            "stored": stored,
            "add_job_count": sample,
            "add_job_s": round(add_s, 2),
            "add_job_per_s": round(sample / add_s, 1),
            "add_job_projected_s": round(n * add_s / sample, 1),
            "bulk_insert_count": n - sample,
            "bulk_insert_s": round(bulk_s, 2),
            "total_s": round(add_s + bulk_s, 2),
        },
        "bulk_base": base,
    }


async def _aps_start(case: dict[str, Any]) -> dict[str, Any]:
    from bench.baseline import aps_settings, make_aps

    rss0 = measure.rss_mb()
    scheduler = make_aps(APS_SQLALCHEMY, case["env"]["store_url"])
    t0 = time.perf_counter()
    scheduler.start()
    start_s = time.perf_counter() - t0
    try:
        ws = math.ceil(time.time()) + 1.0
        starts = _aps_add_due(scheduler, case, ws)
        result = await _idle(case, ws, starts, case["env"])
        result["schedules_in_store"] = len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=False)
    result.update(
        {
            "start_s": round(start_s, 3),
            "ready_s": round(start_s, 3),
            "rss_before_start_mb": round(rss0, 1),
            "settings": aps_settings(APS_SQLALCHEMY, scheduler),
        }
    )
    return result


async def _aps_all(case: dict[str, Any]) -> dict[str, Any]:
    from bench.baseline import aps_settings, make_aps

    n = case["schedules"]
    rss0 = measure.rss_mb()
    scheduler = make_aps(APS_MEMORY, None)
    base = time.time()
    t0 = time.perf_counter()
    _aps_add_bulk(scheduler, n, base, n)  # not started: queued, stored by start()
    add_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scheduler.start()
    start_s = time.perf_counter() - t0
    try:
        ws = math.ceil(time.time()) + 1.0
        starts = _aps_add_due(scheduler, case, ws)
        result = await _idle(case, ws, starts, case["env"])
        result["schedules_in_store"] = len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=False)
    result.update(
        {
            "register": {
                "schedules": n,
                "stored": result["schedules_in_store"],
                "add_job_s": round(add_s, 2),
                "add_job_per_s": round(n / add_s, 1),
                "total_s": round(add_s + start_s, 2),
                "note": "in memory only: registration is lost on restart",
            },
            "start_s": round(start_s, 3),
            "ready_s": round(start_s, 3),
            "rss_before_start_mb": round(rss0, 1),
            "settings": aps_settings(APS_MEMORY, scheduler),
        }
    )
    return result


# -- report ------------------------------------------------------------------------------


def _register_cells(reg: dict[str, Any]) -> list[str]:
    """(one-by-one API rate and its projection to all N, the store-call rate)."""
    if "facade_per_s" in reg:
        api = f"add_task {reg['facade_per_s']:,.0f}/s → {reg['facade_projected_s']:,.0f} s"
        put = reg.get("put_schedule_per_s")
        return [api, f"{put:,.0f}/s" if put else "–"]
    projected = reg.get("add_job_projected_s", reg["add_job_s"])
    return [f"add_job {reg['add_job_per_s']:,.0f}/s → {projected:,.0f} s", "–"]


def render(section: dict[str, Any]) -> str:
    headers = [
        "system",
        "schedules",
        "register one by one (→ all N)",
        "put_schedule",
        "start s",
        "firing after s",
        "RSS MB",
        "peak RSS MB",
        "idle CPU s/min",
        "idle % core",
        "idle round trips/min",
        "due fires",
        "due lateness p50 / max ms",
    ]
    rows = []
    for case in section["cases"].values():
        for system, r in case["results"].items():
            if "error" in r:
                rows.append([system, "error: " + r["error"][:60], *[""] * 11])
                continue
            lat = r["due_lateness"]
            rows.append(
                [
                    system + scaled_note(system, case["params"]),
                    r["schedules_in_store"],
                    *_register_cells(r["register"]),
                    r["start_s"],
                    r["ready_s"],
                    r["rss_mb"],
                    r["peak_rss_mb"],
                    r["idle_cpu_s_per_min"],
                    r["idle"]["cpu_pct_of_core"],
                    r.get("idle_round_trips_per_min"),
                    f"{r['due_executed']} / {r['due_expected']}",
                    f"{measure.fmt(lat.get('p50_ms'))} / {measure.fmt(lat.get('max_ms'))}",
                ]
            )
    return measure.table(headers, rows)


def ratios(section: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case_name, case in section["cases"].items():
        res = case["results"]
        sk, aps = res.get(SK_SQLITE, {}), res.get(APS_SQLALCHEMY, {})
        mem = res.get(APS_MEMORY, {})
        out[case_name] = {
            "rss_schedkit_over_aps_memory": measure.ratio(sk.get("rss_mb"), mem.get("rss_mb")),
            "start_s_schedkit_over_aps_sqlalchemy": measure.ratio(
                sk.get("ready_s"), aps.get("ready_s")
            ),
        }
    return out


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for case_name, case in section["cases"].items():
        r = case["results"].get(SK_SQLITE, {})
        if "ready_s" not in r or r["schedules_in_store"] < 100_000:
            continue
        pct = r["idle"]["cpu_pct_of_core"]
        out += [
            {
                "target": "100,000 schedules: start ≤ 5 s",
                "case": case_name,
                "measured": f"{r['ready_s']:.2f} s",
                "met": r["ready_s"] <= 5,
                "factor": measure.ratio(r["ready_s"], 5),
            },
            {
                "target": "100,000 schedules: idle CPU ≤ 1 % of a core",
                "case": case_name,
                "measured": f"{pct:.2f} %",
                "met": pct <= 1,
                "factor": measure.ratio(pct, 1),
            },
            {
                "target": "100,000 schedules: RSS ≤ 300 MB",
                "case": case_name,
                "measured": f"{r['peak_rss_mb']:.0f} MB (peak)",
                "met": r["peak_rss_mb"] <= 300,
                "factor": measure.ratio(r["peak_rss_mb"], 300),
            },
        ]
    return out
