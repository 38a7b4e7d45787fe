"""Measurement helpers shared by every workload: lateness statistics, CPU / RSS sampling,
machine and version information, PostgreSQL database lifecycle, table rendering.

Everything here reads the kernel's own accounting (``getrusage``, ``/proc``), so no
third-party package is needed for CPU and memory figures.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import math
import os
import platform
import re
import resource
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger("bench")

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

# -- statistics ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile of already sorted values (numpy's default method)."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * pct / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary_ms(values_s: Iterable[float], pcts: Sequence[float] = (50, 99)) -> dict[str, Any]:
    """n, mean, the given percentiles, min and max of durations given in seconds, in ms."""
    values = sorted(v * 1000 for v in values_s)
    if not values:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(values), "mean_ms": round(sum(values) / len(values), 3)}
    for p in pcts:
        out[f"p{p:g}_ms"] = round(percentile(values, p), 3)
    out["min_ms"] = round(values[0], 3)
    out["max_ms"] = round(values[-1], 3)
    return out


# -- process accounting ------------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads) so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_mb() -> float:
    """Resident set size right now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def peak_rss_mb() -> float:
    """Highest RSS this process has had (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_cpu(pid: int | str) -> float | None:
    """CPU seconds (user + system) of a process or ``self/task/<tid>``; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def thread_cpu() -> dict[str, float]:
    """CPU seconds per live thread of this process, summed by Python thread name with
    pool numbering dropped (``schedkit-run_3`` → ``schedkit-run``). The kernel's thread
    names are all ``python``, so the names come from ``threading``."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.native_id is None:
            continue
        cpu = proc_cpu(f"self/task/{thread.native_id}")
        if cpu is None:
            continue
        name = "main" if thread is threading.main_thread() else thread.name
        base = thread_group(name)
        out[base] = round(out.get(base, 0.0) + cpu, 3)
    return out


def thread_group(name: str) -> str:
    """A thread's name without pool numbering: "schedkit-run_3" → "schedkit-run",
    "Thread-12 (run)" → "Thread (run)"."""
    return re.sub(r"[-_ ]?\d+", "", name).strip() or name


def thread_cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    # Threads that ended in between are missing from ``after``; new ones count from zero.
    names = set(before) | set(after)
    delta = {n: round(after.get(n, 0.0) - before.get(n, 0.0), 3) for n in names}
    return {n: v for n, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v > 0}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Window:
    """CPU and RSS over a measurement window, sampled from a thread of its own so that a
    blocked event loop (APScheduler's synchronous job store) cannot skew the edges."""

    start_at: float
    end_at: float
    cpu_start: float = math.nan
    cpu_end: float = math.nan
    threads_start: dict[str, float] = field(default_factory=dict)
    threads_end: dict[str, float] = field(default_factory=dict)
    rss_samples: list[float] = field(default_factory=list)
    load_start: list[float] = field(default_factory=list)
    load_end: list[float] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._sample, name="bench-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        _sleep_until(self.start_at)
        self.cpu_start = cpu_seconds()
        self.threads_start = thread_cpu()
        self.load_start = loadavg()
        while True:
            self.rss_samples.append(rss_mb())
            now = time.time()
            if now >= self.end_at:
                break
            time.sleep(min(0.5, self.end_at - now))
        self.cpu_end = cpu_seconds()
        self.threads_end = thread_cpu()
        self.load_end = loadavg()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    @property
    def cpu_s(self) -> float:
        return self.cpu_end - self.cpu_start

    def report(self) -> dict[str, Any]:
        seconds = self.end_at - self.start_at
        return {
            "window_s": round(seconds, 3),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_pct_of_core": round(100 * self.cpu_s / seconds, 2) if seconds else None,
            "threads_cpu_s": thread_cpu_delta(self.threads_start, self.threads_end),
            "rss_mb_max_in_window": round(max(self.rss_samples), 1) if self.rss_samples else None,
            "loadavg_start": self.load_start,
            "loadavg_end": self.load_end,
        }


def _sleep_until(wall: float) -> None:
    while (left := wall - time.time()) > 0:
        time.sleep(min(left, 0.05))


def memory_report() -> dict[str, float]:
    return {"rss_mb": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


# -- machine ---------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def src_digest() -> str:
    """A digest of schedkit's source as it is on disk now (children import it afresh, so
    a change during a long run shows up as a different digest in their results)."""
    digest = hashlib.sha1()
    for path in sorted((Path(__file__).resolve().parent.parent / "src" / "schedkit").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine_info() -> dict[str, Any]:
    """What the figures were measured on (and how busy it was when the run began)."""
    git = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    root = Path(__file__).resolve().parent.parent
    dirty = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        status = subprocess.run(
            ["git", "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=root,
        ).stdout
        dirty = bool(status.strip())
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "mem_total_mb": _mem_total_mb(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "git_head": git or None,
        # The code measured: HEAD may not be it while work is uncommitted.
        "src_uncommitted_changes": dirty,
        "src_sha1": src_digest(),
        "loadavg_at_start": loadavg(),
        "versions": {
            name: _version(name)
            for name in ("schedkit", "apscheduler", "cronsim", "sqlalchemy", "aiosqlite", "asyncpg")
        },
    }


# -- PostgreSQL ------------------------------------------------------------------------------


def pg_with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def pg_connect(url: str, database: str | None = None) -> Any:
    """An asyncpg connection to the server of ``url`` (a store URL, ``postgresql://`` or
    ``postgresql+asyncpg://``), to ``database`` or the URL's own.

    The URL's query parameters become keyword arguments, as SQLAlchemy's asyncpg dialect
    passes them to the store's connections (``?ssl=disable``): put in a DSN, asyncpg
    would send ``ssl`` to the server as a setting, which it refuses."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=database or parsed.database,
        **{key: str(value) for key, value in parsed.query.items()},
    )


async def _pg_admin(url: str) -> Any:
    return await pg_connect(url, "postgres")


async def pg_execute(url: str, sql: str) -> None:
    """Maintenance SQL on the database of ``url`` (a benchmark's own), outside the store."""
    conn = await pg_connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_server_version(url: str) -> str | None:
    import asyncpg

    try:
        conn = await _pg_admin(url)
    except (OSError, asyncpg.PostgresError) as exc:
        logger.warning("PostgreSQL at %s unreachable: %s", urlsplit(url).hostname, exc)
        return None
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def pg_database_exists(url: str, name: str) -> bool:
    conn = await _pg_admin(url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def pg_create_database(url: str, name: str) -> str:
    """Create database ``name`` (dropping a leftover of the same name); its URL."""
    conn = await _pg_admin(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg_with_database(url, name)


async def pg_drop_database(url: str, name: str) -> None:
    conn = await _pg_admin(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def pg_backend_cpu(url: str, datname: str) -> dict[int, float]:
    """CPU seconds so far of each server process connected to ``datname`` (the server's
    share of the work, which the client's getrusage cannot see). Empty if /proc does not
    show the server's processes (server on another host)."""
    conn = await _pg_admin(url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", datname)
    finally:
        await conn.close()
    out: dict[int, float] = {}
    for row in rows:
        cpu = proc_cpu(row["pid"])
        if cpu is not None:
            out[int(row["pid"])] = cpu
    return out


def pg_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return round(sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()), 3)


# -- MongoDB ---------------------------------------------------------------------------------


def mongo_with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def mongo_server_version(url: str) -> str | None:
    """ "FerretDB v1.24.2 (MongoDB 7.0.42 protocol)", "MongoDB 7.0.12", or None if the
    server cannot be reached."""
    from pymongo import AsyncMongoClient
    from pymongo.errors import PyMongoError

    client: Any = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        info = await client.admin.command("buildInfo")
    except PyMongoError as exc:
        logger.warning("MongoDB at %s unreachable: %s", urlsplit(url).hostname, exc)
        return None
    finally:
        await client.close()
    if info.get("ferretdbVersion"):
        return f"FerretDB {info['ferretdbVersion']} (MongoDB {info['version']} protocol)"
    return f"MongoDB {info['version']}"


async def mongo_drop_database(url: str, name: str) -> None:
    from pymongo import AsyncMongoClient

    client: Any = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


# -- rendering -------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (pasteable into docs/benchmarks.md); numbers right-aligned."""
    body = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in body)])


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return round(a / b, 2)


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - start)
