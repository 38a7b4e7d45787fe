"""``python -m bench``: run the workloads, schedkit and APScheduler 3 back to back.

    python -m bench                         # everything (about 25 minutes)
    python -m bench --smoke                 # tiny version of every workload (CI)
    python -m bench --only throughput,history --json out.json
    python -m bench --postgres-url postgresql://user:pw@host/postgres
    python -m bench --mongo-url mongodb://host:27017   # adds schedkit-mongo (FerretDB here)

Each (workload, case, system) runs in a fresh interpreter (``--child``, internal), so
CPU and RSS figures belong to one system and a crash cannot take the harness down.
Tables go to stdout (Markdown), the harness's own diagnostics to stderr, and the full
report, every figure included, to ``--json`` (default ``var/bench/last.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import json
import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import measure, roundtrips
from bench.systems import APS_SQLALCHEMY, MONGO_NOTE, SK_MONGO, SK_POSTGRES, SK_SQLITE

WORKLOADS = (
    "fire_precision",
    "fire_rate",
    "throughput",
    "scale",
    "history",
    "overhead",
    "triggers",
)
ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
POSTGRES_VAR = "SCHEDKIT_TEST_POSTGRES_URL"
MONGO_VAR = "SCHEDKIT_TEST_MONGO_URL"

logger = logging.getLogger("bench")


class ChildFailed(Exception):
    pass


# -- child side ------------------------------------------------------------------------------


def _child(workload: str, system: str, phase: str, spec_path: str, out_path: str) -> int:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s {workload}/{system}/{phase} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("bench").setLevel(logging.INFO)
    # A system falling behind logs one line per missed fire; the store records them and
    # the report counts them, so keep stderr readable.
    for name in ("schedkit", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Lease changes stay visible: a leader losing its lease under load is a false
    # takeover waiting to happen (one "holds the scheduler lease" line per run is right).
    logging.getLogger("schedkit.engine.leadership").setLevel(logging.INFO)
    # shutdown(wait=False) cancels in-flight jobs and APScheduler logs each as an error;
    # real job errors are counted from its EVENT_JOB_ERROR events instead.
    logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
    spec = json.loads(Path(spec_path).read_text())
    module = importlib.import_module(f"bench.{workload}")
    # The profiling workload opts out, and a run with --no-count: the counting costs
    # CPU of its own (≈ 3 % per fire at 1,000 fires/s on SQLite, docs/benchmarks.md).
    if getattr(module, "COUNT_ROUND_TRIPS", True) and spec["case"].get("count", True):
        roundtrips.install()
    result = asyncio.run(module.run(phase, system, spec["case"], spec["prior"]))
    Path(out_path).write_text(json.dumps(_clean(result)))
    return 0


# -- parent side -----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON-safe: NaN / inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _run_child(
    workload: str,
    system: str,
    phase: str,
    case: dict[str, Any],
    prior: dict[str, Any],
    workdir: Path,
    timeout: float,
) -> dict[str, Any]:
    tag = f"{workload}-{_slug(case['case'])}-{system}-{phase}"
    spec_path = workdir / f"{tag}.spec.json"
    out_path = workdir / f"{tag}.out.json"
    spec_path.write_text(json.dumps({"case": case, "prior": prior}))
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "--child",
        workload,
        system,
        phase,
        str(spec_path),
        str(out_path),
    ]
    tail: collections.deque[str] = collections.deque(maxlen=40)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    stream = proc.stderr

    def forward() -> None:
        for line in stream:
            tail.append(line)
            sys.stderr.write(line)

    reader = threading.Thread(target=forward, daemon=True)
    reader.start()
    try:
        _pid, status, usage = _wait4(proc, timeout)
        code = os.waitstatus_to_exitcode(status)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(5)
        raise ChildFailed(f"timed out after {timeout:.0f} s") from None
    reader.join(5)
    if code != 0 or not out_path.exists():
        last = "".join(tail).strip().splitlines()
        raise ChildFailed(f"exit code {code}: {last[-1] if last else 'no output'}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    result.setdefault("children", []).append(
        {
            "phase": phase,
            "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
    )
    return result


def _wait4(proc: subprocess.Popen[str], timeout: float) -> tuple[int, int, Any]:
    """``os.wait4`` (exit status and the child's own rusage) with a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.05)


def _provision(
    module: ModuleType, system: str, case: dict[str, Any], urls: dict[str, str], workdir: Path
) -> tuple[dict[str, Any], list[Any]]:
    """Where the system stores its data for this case, and how to clean up after."""
    cleanup: list[Any] = []
    directory = workdir / f"{module.NAME}-{_slug(case['case'])}-{system}"
    directory.mkdir(parents=True, exist_ok=True)
    pg_url = urls.get("postgres")
    if case.get("cache") and system != SK_MONGO:
        # A store kept between runs (var/bench/, a named database); never on FerretDB,
        # whose cases are small enough to fill each time.
        env: dict[str, Any] = asyncio.run(module.provision(system, case, pg_url, VAR))
        return env, cleanup
    cleanup.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    env = {"workdir": str(directory)}
    if system == SK_SQLITE:
        env["store_url"] = f"sqlite:///{directory / 'schedkit.db'}"
    elif system == APS_SQLALCHEMY:
        env["store_url"] = f"sqlite:///{directory / 'apscheduler.db'}"
    elif system == SK_POSTGRES:
        assert pg_url is not None
        name = f"schedkit_bench_{uuid.uuid4().hex[:10]}"
        env["store_url"] = asyncio.run(measure.pg_create_database(pg_url, name))
        env["pg_url"], env["pg_db"] = pg_url, name
        cleanup.append(lambda: asyncio.run(measure.pg_drop_database(pg_url, name)))
    elif system == SK_MONGO:
        mongo_url = urls["mongo"]
        db = f"schedkit_bench_{uuid.uuid4().hex[:10]}"
        env["store_url"] = measure.mongo_with_database(mongo_url, db)
        cleanup.append(lambda: asyncio.run(measure.mongo_drop_database(mongo_url, db)))
    return env, cleanup


def _run_system(
    module: ModuleType,
    system: str,
    case: dict[str, Any],
    urls: dict[str, str],
    workdir: Path,
) -> dict[str, Any]:
    started = time.time()
    result: dict[str, Any] = {
        "loadavg_before": measure.loadavg(),
        "src_sha1": measure.src_digest(),
    }
    cleanup: list[Any] = []
    try:
        env, cleanup = _provision(module, system, case, urls, workdir)
        spec = {**case, "env": env}
        for phase in module.phases(system):
            logger.info("%s / %s / %s: %s", module.NAME, case["case"], system, phase)
            out = _run_child(
                module.NAME, system, phase, spec, result, workdir, module.timeout(case)
            )
            children = result.get("children", []) + out.pop("children", [])
            result.update(out)
            result["children"] = children
    except Exception as exc:
        logger.error("%s / %s / %s failed: %s", module.NAME, case["case"], system, exc)
        result["error"] = str(exc)
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as exc:
                logger.warning("cleanup failed: %s", exc)
    result["loadavg_after"] = measure.loadavg()
    result["elapsed_s"] = round(time.time() - started, 1)
    return result


def _write(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(_clean(report), indent=2, allow_nan=False) + "\n")


def _targets_table(targets: list[dict[str, Any]]) -> str:
    rows = [
        [t["target"], t["case"], t["measured"], "met" if t["met"] else "MISSED", t["factor"]]
        for t in targets
    ]
    return measure.table(["target", "case", "measured", "verdict", "measured/target"], rows)


def _postgres_url(args: argparse.Namespace) -> str | None:
    if args.no_postgres:
        return None
    url: str | None = args.postgres_url or os.environ.get(POSTGRES_VAR)
    if not url:
        logger.info(
            "no PostgreSQL URL (--postgres-url or %s): schedkit-postgres skipped", POSTGRES_VAR
        )
        return None
    return url


def _mongo_url(args: argparse.Namespace) -> str | None:
    if args.no_mongo:
        return None
    url: str | None = args.mongo_url or os.environ.get(MONGO_VAR)
    if not url:
        logger.info("no MongoDB URL (--mongo-url or %s): schedkit-mongo skipped", MONGO_VAR)
    return url


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version of every workload")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"one of {', '.join(WORKLOADS)} (repeatable, comma-separated)",
    )
    parser.add_argument(
        "--systems",
        action="append",
        default=[],
        metavar="NAME",
        help="only these systems (e.g. schedkit-sqlite; repeatable, comma-separated)",
    )
    parser.add_argument(
        "--case", metavar="TEXT", help="only cases whose name contains TEXT (e.g. '10,000')"
    )
    parser.add_argument("--json", metavar="PATH", help="write the report here")
    parser.add_argument(
        "--postgres-url", metavar="URL", help=f"also run on PostgreSQL (default ${POSTGRES_VAR})"
    )
    parser.add_argument("--no-postgres", action="store_true", help="never run on PostgreSQL")
    parser.add_argument(
        "--mongo-url",
        metavar="URL",
        help=f"also run schedkit-mongo on this MongoDB/FerretDB server (default ${MONGO_VAR})",
    )
    parser.add_argument("--no-mongo", action="store_true", help="never run on MongoDB")
    parser.add_argument(
        "--duration", type=float, help="fire-precision window in seconds (default 60)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="fire_rate: run PostgreSQL at 1,000 fires/s N times in a row (default 5; smoke 2)",
    )
    parser.add_argument(
        "--max-concurrent-runs",
        type=int,
        help="schedkit executor.max_concurrent_runs for throughput/overhead",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="children at a time (default 1; 6 with --smoke, whose timings mean nothing)",
    )
    parser.add_argument(
        "--no-count",
        action="store_true",
        help="do not count store round trips (the counting adds CPU of its own: "
        "measure speed and CPU with this, round trips without it)",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.child:
        return _child(*args.child)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s bench: %(message)s"
    )
    selected = [n.strip() for item in args.only for n in item.split(",") if n.strip()] or list(
        WORKLOADS
    )
    unknown = sorted(set(selected) - set(WORKLOADS))
    if unknown:
        print(
            f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}",
            file=sys.stderr,
        )
        return 2
    pg_url = _postgres_url(args)
    pg_version = asyncio.run(measure.pg_server_version(pg_url)) if pg_url else None
    if pg_url and pg_version is None:
        pg_url = None
    mongo_url = _mongo_url(args)
    mongo_version = asyncio.run(measure.mongo_server_version(mongo_url)) if mongo_url else None
    if mongo_url and mongo_version is None:
        mongo_url = None
    urls = {k: v for k, v in (("postgres", pg_url), ("mongo", mongo_url)) if v is not None}
    opts = {
        "duration": args.duration,
        "max_concurrent_runs": args.max_concurrent_runs,
        "repeat": args.repeat,
        "count_round_trips": not args.no_count,
    }
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "command": shlex.join(
            [
                Path(sys.executable).name,
                "-m",
                "bench",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "started_at": started.isoformat(),
        "smoke": args.smoke,
        "machine": {
            **measure.machine_info(),
            "postgres_server": pg_version,
            "mongo_server": mongo_version,
        },
        "options": opts,
        "workloads": {},
        "targets": [],
    }
    kind = "smoke" if args.smoke else "full"
    print(f"# schedkit benchmarks ({kind} run, {started:%Y-%m-%d %H:%M} UTC)\n")
    m = report["machine"]
    print(
        f"machine: {m['cpu_model']}, {m['cpus']} CPUs, {m['mem_total_mb']:,} MB; "
        f"Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {pg_version or 'not used'}, "
        f"MongoDB protocol {mongo_version or 'not used'}; "
        f"load {m['loadavg_at_start']}\n"
    )
    if args.no_count:
        print("store round trips: not counted (--no-count); CPU and speed without its cost\n")
    VAR.mkdir(parents=True, exist_ok=True)
    out = Path(args.json) if args.json else VAR / ("smoke.json" if args.smoke else "last.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="schedkit-bench-"))
    parallel = args.parallel or (6 if args.smoke else 1)
    if parallel > 1:
        logger.info("running %d children at a time: figures are NOT comparable", parallel)
    report["options"]["parallel"] = parallel
    modules = [importlib.import_module(f"bench.{name}") for name in selected]
    only_systems = {s.strip() for item in args.systems for s in item.split(",") if s.strip()}

    def cases_of(module: ModuleType) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = module.cases(args.smoke, opts)
        return [
            {**c, "count": False} if args.no_count else c
            for c in found
            if not args.case or args.case in c["case"]
        ]

    def systems_of(module: ModuleType) -> list[str]:
        found: list[str] = module.systems(pg_url is not None, mongo_url is not None)
        return [s for s in found if not only_systems or s in only_systems]

    def systems_of_case(module: ModuleType, case: dict[str, Any]) -> list[str]:
        """A case may name the only systems it runs on (``systems``)."""
        return [s for s in systems_of(module) if s in case.get("systems", [s])]

    try:
        jobs = [
            (module, case, system)
            for module in modules
            for case in cases_of(module)
            for system in systems_of_case(module, case)
        ]
        results: dict[tuple[str, str, str], dict[str, Any]] = {}
        started_at: dict[str, float] = {}
        if parallel > 1:
            with ThreadPoolExecutor(parallel) as pool:
                futures = {
                    (m.NAME, c["case"], sy): pool.submit(_run_system, m, sy, c, urls, workdir)
                    for m, c, sy in jobs
                }
                results = {key: future.result() for key, future in futures.items()}
        for module in modules:
            name = module.NAME
            section: dict[str, Any] = {
                "title": module.TITLE,
                "systems": systems_of(module),
                "cases": {},
            }
            started_at[name] = time.time()
            for case in cases_of(module):
                section["cases"][case["case"]] = {
                    "params": case,
                    "results": {
                        system: results.get((name, case["case"], system))
                        or _run_system(module, system, case, urls, workdir)
                        for system in systems_of_case(module, case)
                    },
                }
            section["elapsed_s"] = round(time.time() - started_at[name], 1)
            report["workloads"][name] = section
            _write(out, report)  # partial reports survive a crash further on
            try:
                if hasattr(module, "ratios"):
                    section["ratios"] = module.ratios(section)
                if hasattr(module, "targets"):
                    report["targets"].extend(module.targets(section))
                rendered = module.render(section)
            except Exception:
                logger.exception("%s: rendering the results failed (the JSON has them)", name)
                rendered = "(rendering failed; see the JSON report)"
            print(f"## {module.TITLE}\n")
            print(rendered)
            print()
            if SK_MONGO in section["systems"]:
                print(f"{MONGO_NOTE}\n")
            sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["finished_at"] = datetime.now(UTC).isoformat()
    report["machine"]["loadavg_at_end"] = measure.loadavg()
    if report["targets"]:
        print("## Targets (schedkit)\n")
        print(_targets_table(report["targets"]))
        print()
    _write(out, report)
    logger.info("report written to %s", out)
    failed = [
        f"{w}/{c}/{s}"
        for w, sec in report["workloads"].items()
        for c, case in sec["cases"].items()
        for s, r in case["results"].items()
        if "error" in r
    ]
    if failed:
        logger.error("failed: %s", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
