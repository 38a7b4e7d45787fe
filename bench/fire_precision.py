"""Workload 1 — fire precision.

N interval schedules of one period P with staggered phases (schedule i starts at
``base + i·P/N``), so fires arrive evenly at N/P per second; every fire runs the no-op
task.

Registration (schedkit) happens on a node that does not fire: the first 1,000 schedules
through ``add_task``, the rest by the bench's bulk INSERT (set-up only; the scale
workload reports registration rates). The stored next fires are then moved to just
after the firing node starts, through ``store.advance_schedules`` (the scheduler's own
call), so that fires due during registration do not arrive as a catch-up burst.
APScheduler: ``add_job`` before ``start()`` (MemoryJobStore); on SQLAlchemyJobStore the
first 1,000 through ``add_job`` on a paused scheduler, the rest as the same rows in bulk,
then ``resume()``.

After a warm-up of one period, a window of ``duration_s`` seconds is measured:

* lateness = actual start − nominal fire time, taken inside the task (schedkit:
  ``ctx.scheduled_for``; APScheduler: the run time its executor submitted). No schedule
  has jitter, so the nominal time is the intended one;
* fires lost = fires whose nominal time falls in the window − those that started by the
  end of the window + ``drain_s`` (the deadline; later starts are counted apart, as
  ``executed_after_deadline``, and their lateness is not in the percentiles); for
  schedkit the ``missed`` / ``skipped`` runs the store recorded for the window are
  reported too (APScheduler: its missed / max_instances events);
* CPU seconds of the process over the window (plus, on PostgreSQL, of the server
  processes serving the benchmark's database), and peak RSS of the process;
* store round trips over the window per fire executed (``bench.roundtrips``).

schedkit-mongo runs fewer schedules on FerretDB (the case's ``mongo`` sizes; the table
says so): the full rates are far beyond FerretDB v1.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
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
from schedkit.models import RunStatus
from schedkit.store import ScheduleAdvance, create_store

NAME = "fire_precision"
TITLE = "Fire precision"
logger = logging.getLogger("bench")

_US = 1_000_000


def systems(postgres: bool, mongo: bool = False) -> list[str]:
    return [*store_systems(postgres, mongo), APS_MEMORY, APS_SQLALCHEMY]


def cases(smoke: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    duration: float | None = opts.get("duration")
    if smoke:
        return [
            {
                "case": "20 schedules @ 20/s",
                "schedules": 20,
                "interval_s": 1.0,
                "warmup_s": 0.5,
                "duration_s": duration or 1.5,
                "drain_s": 1.0,
                "mongo": {"schedules": 5},
            }
        ]
    d = duration or 60.0
    return [
        {
            "case": f"{n:,} schedules @ {n // 10:,}/s",
            "schedules": n,
            "interval_s": 10.0,
            "warmup_s": 10.0,
            "duration_s": d,
            "drain_s": 10.0,
            "facade_max": 1_000,
            # 10 fires/s: about what FerretDB v1 keeps up with.
            "mongo": {"schedules": 100},
        }
        for n in (1_000, 10_000)
    ]


def phases(system: str) -> list[str]:
    return ["run"]


def timeout(case: dict[str, Any]) -> float:
    return 900.0 + float(case["duration_s"]) + float(case["schedules"]) * 0.05


def _nominal_us(case: dict[str, Any], base_us: int) -> list[int]:
    """First nominal fire (µs since epoch) of each schedule."""
    n, period = case["schedules"], round(case["interval_s"] * _US)
    return [base_us + (i * period) // n for i in range(n)]


def _expected(starts_us: list[int], period_us: int, ws_us: int, we_us: int) -> int:
    """Nominal fires in [ws, we) of schedules firing at start + k·period (k ≥ 0)."""
    total = 0
    for s in starts_us:
        first = max(0, -(-(ws_us - s) // period_us))  # ceil
        last = -(-(we_us - s) // period_us)  # exclusive
        total += max(0, last - first)
    return total


async def run(
    phase: str, system: str, spec: dict[str, Any], prior: dict[str, Any]
) -> dict[str, Any]:
    if is_schedkit(system):
        return await _run_schedkit(system, sized(system, spec))
    return await _run_aps(system, spec)


async def _wait_until(wall: float) -> None:
    await asyncio.sleep(max(0.0, wall - time.time()))


async def _drain(ws_us: int, we_us: int, expected: int, drain_s: float) -> float:
    """Wait until every in-window fire ran or ``drain_s`` passed; the seconds waited."""
    started = time.time()
    while time.time() - started < drain_s:
        if _in_window(ws_us, we_us)[0] >= expected:
            break
        await asyncio.sleep(0.1)
    return time.time() - started


def _in_window(
    ws_us: int, we_us: int, deadline: float = math.inf
) -> tuple[int, list[float], int, int]:
    """Fires of the window that started by ``deadline``: (distinct fires, their lateness
    in s, duplicate executions, fires of the window that started after the deadline —
    a system that blocks its event loop reports them late)."""
    seen: Counter[tuple[str | None, int]] = Counter()
    lateness: list[float] = []
    too_late = 0
    for sid, scheduled, started in RECORDS:
        if math.isnan(scheduled):
            continue
        if started > deadline:
            too_late += ws_us <= round(scheduled * _US) < we_us
            continue
        key_us = round(scheduled * _US)
        if ws_us <= key_us < we_us:
            seen[(sid, key_us)] += 1
            if seen[(sid, key_us)] == 1:
                lateness.append(started - scheduled)
    duplicates = sum(c - 1 for c in seen.values())
    return len(seen), lateness, duplicates, too_late


def _result(
    case: dict[str, Any],
    starts: list[int],
    ws: float,
    we: float,
    window: measure.Window,
    drain_waited: float,
) -> dict[str, Any]:
    ws_us, we_us = round(ws * _US), round(we * _US)
    period_us = round(case["interval_s"] * _US)
    expected = _expected(starts, period_us, ws_us, we_us)
    executed, lateness, duplicates, too_late = _in_window(ws_us, we_us, we + case["drain_s"])
    win = window.report()
    return {
        "expected_fires": expected,
        "executed_fires": executed,
        "lost_fires": expected - executed,
        "lost_pct": round(100 * (expected - executed) / expected, 3) if expected else None,
        "duplicate_executions": duplicates,
        "executed_after_deadline": too_late,
        "fires_per_s_nominal": round(case["schedules"] / case["interval_s"], 1),
        "fires_per_s_executed": round(executed / case["duration_s"], 1),
        "lateness": measure.summary_ms(lateness, (50, 90, 99, 99.9)),
        "cpu": win,
        "cpu_ms_per_fire": round(1000 * win["cpu_s"] / executed, 3) if executed else None,
        "drain_waited_s": round(drain_waited, 2),
        "jitter": None,
        **measure.memory_report(),
    }


async def _register_schedkit(system: str, case: dict[str, Any], starts: list[int]) -> float:
    """Register on a node that does not fire: the first ``facade_max`` schedules through
    the façade (validation, audit event; 50 calls in flight), the rest by the bench's
    bulk INSERT (set-up only; scale reports the one-by-one rates). The seconds the
    façade part took per schedule."""
    n, period = case["schedules"], case["interval_s"]
    facade_n = min(n, case.get("facade_max", n))
    registrar = make_scheduler(case["env"]["store_url"], scheduler={"enabled": False})
    await registrar.start()

    def spec(i: int) -> dict[str, Any]:
        start = utc_from_ts(starts[i] / _US)
        return {"trigger": "interval", "seconds": period, "start_date": start}

    try:
        t0 = time.perf_counter()
        for chunk in range(0, facade_n, 50):
            await asyncio.gather(
                *(
                    registrar.add_task(TASK_NAME, spec(i), schedule_id=f"fp-{i:06d}")
                    for i in range(chunk, min(facade_n, chunk + 50))
                )
            )
        per_schedule: float = (time.perf_counter() - t0) / facade_n
        now = datetime.now(UTC)
        rest = [
            schedule_from_spec(registrar, f"fp-{i:06d}", spec(i), now) for i in range(facade_n, n)
        ]
        await bulk_insert_schedules(case["env"]["store_url"], rest)
    finally:
        await registrar.stop(grace=1)
    logger.info(
        "%s: %d schedules registered (%.1f ms each via add_task)", system, n, per_schedule * 1000
    )
    return per_schedule


async def _align(url: str, case: dict[str, Any], starts: list[int], first_us: int) -> set[str]:
    """Move every schedule's stored next fire to its first grid point at or after
    ``first_us`` (``store.advance_schedules``, the call the scheduler itself makes), so
    that the fires due while registration ran are not fired late as catch-up. Returns
    the schedules' jitter settings (all must be None)."""
    period_us = round(case["interval_s"] * _US)
    store = create_store(url)
    await store.open()
    try:
        schedules = await store.list_schedules()
        updates = []
        for schedule in schedules:
            start = starts[int(schedule.id.removeprefix("fp-"))]
            k = max(0, -(-(first_us - start) // period_us))
            nxt = utc_from_ts((start + k * period_us) / _US)
            updates.append(
                ScheduleAdvance(
                    schedule_id=schedule.id,
                    version=schedule.version,
                    next_fire_time=nxt,
                    last_fire_time=None,
                )
            )
        for i in range(0, len(updates), 1000):
            await store.advance_schedules(updates[i : i + 1000])
    finally:
        await store.close()
    return {str(s.trigger.get("jitter")) for s in schedules}


async def _run_schedkit(system: str, case: dict[str, Any]) -> dict[str, Any]:
    env = case["env"]
    period = case["interval_s"]
    base = math.ceil(time.time())
    starts = _nominal_us(case, round(base * _US))
    per_schedule = await _register_schedkit(system, case, starts)
    first = math.ceil(time.time()) + 3
    jitters = await _align(env["store_url"], case, starts, first * _US)
    scheduler = make_scheduler(env["store_url"])
    await scheduler.start()
    try:
        ws = first + case["warmup_s"]
        we = ws + case["duration_s"]
        window = measure.Window(ws, we)
        window.start()
        pg_before: dict[int, float] = {}
        await _wait_until(ws)
        trips0 = roundtrips.snapshot()
        if env.get("pg_db"):
            pg_before = await measure.pg_backend_cpu(env["pg_url"], env["pg_db"])
        await _wait_until(we)
        trips1 = roundtrips.snapshot()
        pg_after: dict[int, float] = {}
        if env.get("pg_db"):
            pg_after = await measure.pg_backend_cpu(env["pg_url"], env["pg_db"])
        window.join()
        ws_us, we_us = round(ws * _US), round(we * _US)
        expected = _expected(starts, round(period * _US), ws_us, we_us)
        drained = await _drain(ws_us, we_us, expected, case["drain_s"])
        result = _result(case, starts, ws, we, window, drained)
        _add_round_trips(result, trips0, trips1)
        result["schedules"] = case["schedules"]
        since, until = utc_from_ts(ws), utc_from_ts(we)
        result["store_missed"] = await scheduler.count_runs(
            status=RunStatus.MISSED, since=since, until=until
        )
        result["store_skipped"] = await scheduler.count_runs(
            status=RunStatus.SKIPPED, since=since, until=until
        )
        result["store_success"] = await scheduler.count_runs(
            status=RunStatus.SUCCESS, since=since, until=until
        )
        result["store_runs_total"] = await scheduler.count_runs()
        result["register_per_s"] = round(1 / per_schedule, 1)
        result["schedule_jitter_values"] = sorted(jitters)
        if env.get("pg_db"):
            result["server_cpu_s"] = measure.pg_cpu_delta(pg_before, pg_after)
        result["settings"] = config_json(scheduler.config)
        return result
    finally:
        await scheduler.stop(grace=5)


async def _run_aps(system: str, case: dict[str, Any]) -> dict[str, Any]:
    from apscheduler.triggers.interval import IntervalTrigger

    from bench.baseline import EVENTS, aps_bulk_add, aps_noop, aps_settings, make_aps

    env = case["env"]
    scheduler = make_aps(system, env.get("store_url"))
    n, period = case["schedules"], case["interval_s"]
    base = math.ceil(time.time()) + 2.0
    starts = _nominal_us(case, round(base * _US))

    def trigger(i: int) -> IntervalTrigger:
        start = utc_from_ts(starts[i] / _US)
        return IntervalTrigger(seconds=period, start_date=start, timezone="UTC")

    sample = n if system == APS_MEMORY else min(n, case.get("facade_max", n))
    if system == APS_SQLALCHEMY:
        scheduler.start(paused=True)  # started: add_job writes to the store at once
    t0 = time.perf_counter()
    for i in range(sample):
        sid = f"fp-{i:06d}"
        scheduler.add_job(aps_noop, trigger(i), args=[sid], id=sid)
    add_s = time.perf_counter() - t0
    if system == APS_SQLALCHEMY:
        aps_bulk_add(
            scheduler, [(f"fp-{i:06d}", trigger(i), [f"fp-{i:06d}"]) for i in range(sample, n)]
        )
        scheduler.resume()
    else:
        scheduler.start()  # MemoryJobStore: the queued jobs are stored now
    register_s = time.perf_counter() - t0
    logger.info("%s: %d jobs registered and started in %.1f s", system, n, register_s)
    try:
        # Never before the first nominal fire: with a short smoke warm-up the window
        # could otherwise end before any schedule has started.
        ws = max(math.ceil(time.time() + case["warmup_s"]), math.ceil(base))
        we = ws + case["duration_s"]
        window = measure.Window(ws, we)
        window.start()
        await _wait_until(ws)
        trips0 = roundtrips.snapshot()
        await _wait_until(we)
        trips1 = roundtrips.snapshot()
        window.join()
        ws_us, we_us = round(ws * _US), round(we * _US)
        expected = _expected(starts, round(period * _US), ws_us, we_us)
        drained = await _drain(ws_us, we_us, expected, case["drain_s"])
        result = _result(case, starts, ws, we, window, drained)
        _add_round_trips(result, trips0, trips1)
        result["aps_events"] = dict(EVENTS)
        result["register_s"] = round(register_s, 2)
        result["register_per_s"] = round(sample / add_s, 1)
        result["settings"] = aps_settings(system, scheduler)
        if system == APS_SQLALCHEMY:
            result["settings"]["note"] = "SQLite rollback journal, synchronous=FULL (defaults)"
        return result
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


def _add_round_trips(result: dict[str, Any], before: Counter[str], after: Counter[str]) -> None:
    """The window's store round trips, per fire executed."""
    trips = roundtrips.per_run(before, after, result["executed_fires"])
    result["round_trips"] = trips["round_trips"]
    result["round_trips_per_fire"] = trips["round_trips_per_run"]
    result["round_trips_by_kind"] = trips["round_trips_by_kind"]


def _lost_cell(r: dict[str, Any]) -> str:
    lost = r.get("lost_fires")
    if lost is None:
        return "–"
    pct = r.get("lost_pct")
    return f"{lost:,} ({pct:.1f} %)" if pct else f"{lost:,}"


def _recorded_misses(r: dict[str, Any]) -> str:
    if "store_missed" in r:
        return f"{r['store_missed']:,} / {r['store_skipped']:,}"
    ev = r.get("aps_events", {})
    return f"{ev.get('missed', 0):,} / {ev.get('max_instances', 0):,}"


def render(section: dict[str, Any]) -> str:
    headers = [
        "case",
        "system",
        "expected",
        "executed",
        "lost",
        "missed/skipped rec.",
        "p50 ms",
        "p99 ms",
        "max ms",
        "CPU s",
        "CPU % core",
        "CPU ms/fire",
        "round trips/fire",
        "srv CPU s",
        "peak RSS MB",
    ]
    rows = []
    for case_name, case in section["cases"].items():
        for system, r in case["results"].items():
            if "error" in r:
                rows.append([case_name, system, "error: " + r["error"][:60], *[""] * 12])
                continue
            lat = r["lateness"]
            rows.append(
                [
                    case_name,
                    system + scaled_note(system, case["params"]),
                    r["expected_fires"],
                    r["executed_fires"],
                    _lost_cell(r),
                    _recorded_misses(r),
                    lat.get("p50_ms"),
                    lat.get("p99_ms"),
                    lat.get("max_ms"),
                    r["cpu"]["cpu_s"],
                    r["cpu"]["cpu_pct_of_core"],
                    r["cpu_ms_per_fire"],
                    r.get("round_trips_per_fire"),
                    r.get("server_cpu_s"),
                    r["peak_rss_mb"],
                ]
            )
    return measure.table(headers, rows)


def ratios(section: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case_name, case in section["cases"].items():
        res = case["results"]
        sk, aps = res.get(SK_SQLITE, {}), res.get(APS_SQLALCHEMY, {})
        mem = res.get(APS_MEMORY, {})
        if "lateness" in sk and "lateness" in aps:
            out[case_name] = {
                "p99_lateness_apsSQLA_over_schedkit": measure.ratio(
                    aps["lateness"].get("p99_ms"), sk["lateness"].get("p99_ms")
                ),
                "p99_lateness_apsMemory_over_schedkit": measure.ratio(
                    mem.get("lateness", {}).get("p99_ms"), sk["lateness"].get("p99_ms")
                ),
                "lost_pct": {s: r.get("lost_pct") for s, r in res.items()},
                "cpu_per_fire_schedkit_over_apsMemory": measure.ratio(
                    sk.get("cpu_ms_per_fire"), mem.get("cpu_ms_per_fire")
                ),
            }
    return out


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    """1,000 fires/s sustained with full history on SQLite: p99 ≤ 50 ms, no fire lost."""
    out = []
    for case_name, case in section["cases"].items():
        r = case["results"].get(SK_SQLITE)
        if r is None or "lateness" not in r or r["fires_per_s_nominal"] < 1000:
            continue
        p99 = r["lateness"].get("p99_ms")
        lost = r["lost_fires"] + r.get("store_missed", 0)
        out.append(
            {
                "target": "1,000 fires/s on SQLite: p99 lateness ≤ 50 ms",
                "case": case_name,
                "measured": f"{p99:,.1f} ms" if p99 is not None else "no fire ran",
                "met": p99 is not None and p99 <= 50,
                "factor": measure.ratio(p99, 50),
            }
        )
        out.append(
            {
                "target": "1,000 fires/s on SQLite: no fire lost",
                "case": case_name,
                "measured": f"{lost:,} lost",
                "met": lost == 0,
                "factor": None,
            }
        )
    return out


__all__ = ["NAME", "TITLE", "cases", "phases", "render", "run", "systems", "targets"]
