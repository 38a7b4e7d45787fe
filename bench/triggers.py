"""Workload 6 — the time engine: next-fire and build cost of cron schedules.

Three figures, for schedkit, cronsim and APScheduler 3 in the same run, each in its own
interpreter:

* next fire of common schedules: each call finds the fire after the previous one (what the
  scheduler does); per-call median and p95 in µs. cronsim is asked as schedkit used to ask
  it, ``next(CronSim(expression, previous))``; APScheduler 3 as its scheduler does,
  ``get_next_fire_time(previous, previous)``;
* building a trigger from its spec: schedkit validates and compiles (compiled field sets
  are cached per expression, so both a fresh compile and a cached one are reported);
* the next fire of 10,000 distinct schedules (mixed expressions and zones), built once.

The same schedules are written as a crontab string for schedkit and cronsim and as the
equivalent cron fields for APScheduler (its crontab reading counts weekdays from Monday).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench import measure

NAME = "triggers"
TITLE = "Time engine"
SCHEDKIT, CRONSIM, APSCHEDULER = "schedkit", "cronsim", "apscheduler-3"

#: (label, crontab, APScheduler cron fields) — the same schedule in both languages.
COMMON: list[tuple[str, str, dict[str, Any]]] = [
    ("every 5 minutes", "*/5 * * * *", {"minute": "*/5"}),
    ("daily at 02:00", "0 2 * * *", {"hour": 2, "minute": 0}),
    ("weekdays at 09:00", "0 9 * * 1-5", {"day_of_week": "mon-fri", "hour": 9, "minute": 0}),
    ("1st of the month 08:30", "30 8 1 * *", {"day": 1, "hour": 8, "minute": 30}),
    ("every 2 hours", "0 */2 * * *", {"hour": "*/2", "minute": 0}),
    (
        "every 15 min, 9-17, weekdays",
        "*/15 9-17 * * 1-5",
        {"day_of_week": "mon-fri", "hour": "9-17", "minute": "*/15"},
    ),
]
ZONES = ("Europe/Berlin", "Asia/Shanghai", "America/New_York")
START = datetime(2026, 3, 1, tzinfo=UTC)


def systems(postgres: bool, mongo: bool = False) -> list[str]:
    return [SCHEDKIT, CRONSIM, APSCHEDULER]


def cases(smoke: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if smoke:
        return [{"case": "cron schedules", "calls": 200, "builds": 100, "schedules": 1_000}]
    return [{"case": "cron schedules", "calls": 20_000, "builds": 5_000, "schedules": 10_000}]


def phases(system: str) -> list[str]:
    return ["run"]


def timeout(case: dict[str, Any]) -> float:
    return 600.0


# -- the three systems behind one interface -------------------------------------------------

Next = Callable[[datetime], datetime]


def _schedkit_build(crontab: str, fields: dict[str, Any], zone: str) -> Next:
    from schedkit.triggers import build_trigger

    trigger = build_trigger({"trigger": "cron", "expression": crontab, "timezone": zone})

    def next_fire(previous: datetime) -> datetime:
        fire = trigger.next_fire_time(previous, previous)
        assert fire is not None
        return fire

    return next_fire


def _cronsim_build(crontab: str, fields: dict[str, Any], zone: str) -> Next:
    from cronsim import CronSim

    tz = ZoneInfo(zone)
    CronSim(crontab, START.astimezone(tz))  # parses (what validating a spec cost before)

    def next_fire(previous: datetime) -> datetime:
        return next(CronSim(crontab, previous.astimezone(tz)))

    return next_fire


def _aps_build(crontab: str, fields: dict[str, Any], zone: str) -> Next:
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger(timezone=ZoneInfo(zone), **fields)

    def next_fire(previous: datetime) -> datetime:
        fire: datetime = trigger.get_next_fire_time(previous, previous)
        return fire

    return next_fire


BUILDERS: dict[str, Callable[[str, dict[str, Any], str], Next]] = {
    SCHEDKIT: _schedkit_build,
    CRONSIM: _cronsim_build,
    APSCHEDULER: _aps_build,
}


def _clear_compile_caches() -> None:
    from schedkit.triggers import cronfields, crontab

    crontab.compile_crontab.cache_clear()
    cronfields._compile.cache_clear()


# -- measurements ---------------------------------------------------------------------------


def _summary_us(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {
        "n": len(ordered),
        "p50_us": round(statistics.median(ordered) / 1000, 2),
        "p95_us": round(measure.percentile(ordered, 95) / 1000, 2),
    }


def _next_fire_costs(system: str, calls: int) -> dict[str, Any]:
    build = BUILDERS[system]
    out: dict[str, Any] = {}
    for label, crontab, fields in COMMON:
        samples: list[int] = []
        for zone in ZONES[:2]:
            next_fire = build(crontab, fields, zone)
            previous = START
            for _ in range(calls // 2):
                began = time.perf_counter_ns()
                fire = next_fire(previous)
                samples.append(time.perf_counter_ns() - began)
                previous = fire
        out[label] = _summary_us(samples)
    everything = sorted(s for r in out.values() for s in [r["p50_us"]])
    out["median of the schedules"] = {"p50_us": round(statistics.median(everything), 2)}
    return out


def _build_costs(system: str, builds: int) -> dict[str, Any]:
    build = BUILDERS[system]
    out: dict[str, Any] = {}
    variants = ["cached"] + (["first compile"] if system == SCHEDKIT else [])
    for variant in variants:
        samples: list[int] = []
        for i in range(builds):
            _label, crontab, fields = COMMON[i % len(COMMON)]
            zone = ZONES[i % len(ZONES)]
            if variant == "first compile":
                _clear_compile_caches()
            began = time.perf_counter_ns()
            build(crontab, fields, zone)
            samples.append(time.perf_counter_ns() - began)
        out[variant] = _summary_us(samples)
    return out


def _many(count: int) -> list[tuple[str, dict[str, Any], str]]:
    """``count`` distinct schedules: the common shapes at varied minutes, hours and zones."""
    out = []
    for i in range(count):
        minute, hour, zone = i % 60, (i // 60) % 24, ZONES[i % len(ZONES)]
        kind = i % 4
        if kind == 0:
            out.append((f"{minute} {hour} * * *", {"hour": hour, "minute": minute}, zone))
        elif kind == 1:
            out.append(
                (
                    f"{minute} {hour} * * 1-5",
                    {"day_of_week": "mon-fri", "hour": hour, "minute": minute},
                    zone,
                )
            )
        elif kind == 2:
            out.append(
                (
                    f"{minute} */{1 + i % 6} * * *",
                    {"hour": f"*/{1 + i % 6}", "minute": minute},
                    zone,
                )
            )
        else:
            day = 1 + i % 28
            out.append(
                (f"{minute} {hour} {day} * *", {"day": day, "hour": hour, "minute": minute}, zone)
            )
    return out


def _many_next_fires(system: str, count: int) -> dict[str, Any]:
    build = BUILDERS[system]
    schedules = _many(count)
    began = time.perf_counter()
    triggers = [build(crontab, fields, zone) for crontab, fields, zone in schedules]
    built_s = time.perf_counter() - began
    now = START + timedelta(days=17, hours=5, minutes=3)
    gc.collect()
    began = time.perf_counter()
    for next_fire in triggers:
        next_fire(now)
    total_s = time.perf_counter() - began
    return {"n": count, "total_ms": round(total_s * 1000, 1), "build_ms": round(built_s * 1000, 1)}


async def run(
    phase: str, system: str, case: dict[str, Any], prior: dict[str, Any]
) -> dict[str, Any]:
    return {
        "next_fire": _next_fire_costs(system, case["calls"]),
        "build": _build_costs(system, case["builds"]),
        "schedules": _many_next_fires(system, case["schedules"]),
        **measure.memory_report(),
    }


# -- report ---------------------------------------------------------------------------------


def _cell(result: dict[str, Any], pick: Callable[[dict[str, Any]], Any]) -> str:
    if "error" in result:
        return str(result["error"])[:40]
    try:
        return str(pick(result))
    except KeyError:
        return "–"


def render(section: dict[str, Any]) -> str:
    names = section["systems"]
    rows: list[list[Any]] = []
    for case in section["cases"].values():
        results = [case["results"].get(system, {}) for system in names]

        def row(
            label: str, pick: Callable[[dict[str, Any]], Any], res: list[Any] = results
        ) -> None:
            rows.append([label, *(_cell(r, pick) for r in res)])

        for label, _crontab, _fields in COMMON:
            row(
                f"next fire: {label} (µs p50 / p95)",
                lambda r, lb=label: (
                    f"{r['next_fire'][lb]['p50_us']} / {r['next_fire'][lb]['p95_us']}"
                ),
            )
        row(
            "next fire: median of the schedules (µs)",
            lambda r: r["next_fire"]["median of the schedules"]["p50_us"],
        )
        row("build a trigger (µs p50)", lambda r: r["build"]["cached"]["p50_us"])
        row(
            "build, an expression not seen before (µs p50)",
            lambda r: r["build"].get("first compile", {}).get("p50_us", "–"),
        )
        n = case["params"]["schedules"]
        row(f"next fire of {n:,} schedules (ms)", lambda r: r["schedules"]["total_ms"])
    return measure.table(["figure", *names], rows)


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for case_name, case in section["cases"].items():
        r = case["results"].get(SCHEDKIT, {})
        if "error" in r:
            continue
        median = r["next_fire"]["median of the schedules"]["p50_us"]
        build = r["build"]["cached"]["p50_us"]
        many = r["schedules"]
        out += [
            {
                "target": "next fire of common schedules: median ≤ 20 µs",
                "case": case_name,
                "measured": f"{median} µs",
                "met": median <= 20,
                "factor": measure.ratio(median, 20),
            },
            {
                "target": "building a trigger ≤ 50 µs",
                "case": case_name,
                "measured": f"{build} µs",
                "met": build <= 50,
                "factor": measure.ratio(build, 50),
            },
        ]
        if many["n"] >= 10_000:
            out.append(
                {
                    "target": "next fire of 10,000 schedules ≤ 200 ms",
                    "case": case_name,
                    "measured": f"{many['total_ms']} ms",
                    "met": many["total_ms"] <= 200,
                    "factor": measure.ratio(many["total_ms"], 200),
                }
            )
    return out
