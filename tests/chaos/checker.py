"""The chaos test's verdict, from what the store holds and the marks the tasks wrote.

A pure function of its inputs (:func:`check`), so that it is tested on made-up data too
(``test_checker.py``): a checker that cannot fail proves nothing.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schedkit.models import Run, RunStatus

SECOND = timedelta(seconds=1)


@dataclass(frozen=True, kw_only=True)
class Kill:
    at: float  # Unix time
    pid: int
    node_id: str
    leader: bool


@dataclass(kw_only=True)
class Figures:
    store: str
    seconds: float
    kills: int = 0
    leader_kills: int = 0
    server_restarts: int = 0
    fires: int = 0
    runs_executed: int = 0
    duplicates: int = 0
    double_executions: int = 0
    false_lost: int = 0
    gaps: int = 0
    stuck: int = 0
    failover: list[float] = field(default_factory=list)
    lost_detection: list[float] = field(default_factory=list)
    #: Lost detections whose window held a server restart: delayed by the outage, and
    #: reported apart (the bound holds for a reachable store).
    lost_detection_outage: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.duplicates
            or self.double_executions
            or self.false_lost
            or self.gaps
            or self.stuck
            or self.problems
        )

    def summary(self) -> dict[str, Any]:
        def p50(values: list[float]) -> float | None:
            return round(statistics.median(values), 2) if values else None

        return {
            "store": self.store,
            "seconds": round(self.seconds),
            "kills": self.kills,
            "leader_kills": self.leader_kills,
            "server_restarts": self.server_restarts,
            "fires": self.fires,
            "runs_executed": self.runs_executed,
            "duplicates": self.duplicates,
            "double_executions": self.double_executions,
            "false_lost": self.false_lost,
            "gaps": self.gaps,
            "stuck": self.stuck,
            "failover_p50_s": p50(self.failover),
            "failover_max_s": round(max(self.failover), 2) if self.failover else None,
            "lost_detection_p50_s": p50(self.lost_detection),
            "lost_detection_max_s": (
                round(max(self.lost_detection), 2) if self.lost_detection else None
            ),
            "lost_detection_across_restart_max_s": (
                round(max(self.lost_detection_outage), 2) if self.lost_detection_outage else None
            ),
        }


def check(
    store: str,
    seconds: float,
    runs: list[Run],
    marks: list[dict[str, Any]],
    kills: list[Kill],
    restarts: list[tuple[float, float]],
) -> Figures:
    """Judge a chaos run (the store read after the cluster drained). ``restarts``: when
    the server went down and came back (Unix times)."""
    f = Figures(
        store=store,
        seconds=seconds,
        kills=len(kills),
        leader_kills=sum(k.leader for k in kills),
        server_restarts=len(restarts),
    )
    killed = {k.pid: k for k in kills}
    fired = [r for r in runs if r.schedule_id is not None]
    f.fires = len(fired)

    # 1. At most one run per fire time of a schedule.
    keys = Counter((r.schedule_id, r.scheduled_for) for r in fired)
    f.duplicates = sum(n - 1 for n in keys.values() if n > 1)

    # 2. No attempt executed twice; a run re-executed only after its node died (the
    #    earlier attempt recorded lost, its process one that was killed).
    starts: dict[tuple[str, int], list[int]] = defaultdict(list)
    for m in marks:
        if m["event"] == "start":
            starts[(m["run"], m["attempt"])].append(m["pid"])
    f.runs_executed = len({run_id for run_id, _ in starts})
    f.double_executions = sum(len(pids) - 1 for pids in starts.values() if len(pids) > 1)
    by_id = {r.id: r for r in runs}
    for (run_id, attempt), pids in starts.items():
        run = by_id.get(run_id)
        if run is None:
            f.problems.append(f"run {run_id} executed but not in the store")
            continue
        if attempt < run.attempt:
            record = _attempt_record(run, attempt)
            status = record.get("status") if record else None
            if status != "lost" or pids[0] not in killed:
                f.double_executions += 1
                f.problems.append(
                    f"run {run_id} attempt {attempt} re-executed without a lost record "
                    f"of a killed node (recorded {status!r}, pid {pids[0]})"
                )

    # 3. Lost verdicts: each for a killed node's attempt; how long the verdict took.
    killed_nodes = {k.node_id: k for k in kills}
    for run in runs:
        for record in run.attempt_errors:
            if record.get("status") != "lost":
                continue
            kill = killed_nodes.get(record.get("node_id") or "")
            if kill is None:
                f.false_lost += 1
                f.problems.append(f"run {run.id} attempt {record['attempt']} lost, node alive")
                continue
            judged = datetime.fromisoformat(record["finished_at"]).timestamp()
            across = any(down < judged and up > kill.at for down, up in restarts)
            (f.lost_detection_outage if across else f.lost_detection).append(judged - kill.at)
        if run.status is RunStatus.LOST:
            f.problems.append(f"run {run.id} ended lost with retries left")

    # 4. Every nominal second of each schedule has a record: a run, or a skip/miss with
    #    its reason.
    by_schedule: dict[str, list[Run]] = defaultdict(list)
    for r in fired:
        by_schedule[r.schedule_id or ""].append(r)
    for schedule_id, rs in by_schedule.items():
        seen = {r.scheduled_for for r in rs}
        t, last = min(seen), max(seen)
        while t <= last:
            if t not in seen:
                f.gaps += 1
                f.problems.append(f"{schedule_id}: no record for {t.isoformat()}")
            t += SECOND
        for r in rs:
            if r.status in (RunStatus.SKIPPED, RunStatus.MISSED) and not r.reason:
                f.gaps += 1
                f.problems.append(f"{schedule_id}: {r.status} at {r.scheduled_for} without reason")

    # 5. Nothing left pending or running after the drain.
    f.stuck = sum(1 for r in runs if not r.status.finished)
    if f.stuck:
        f.problems.extend(
            f"run {r.id} left {r.status} (node {r.node_id})" for r in runs if not r.status.finished
        )

    # 6. Failover: from a leader's kill to the next fire written by another node.
    created = sorted(r.created_at.timestamp() for r in fired if r.created_at is not None)
    for kill in kills:
        if not kill.leader:
            continue
        after = next((c for c in created if c > kill.at), None)
        if after is not None:
            f.failover.append(after - kill.at)
    return f


def _attempt_record(run: Run, attempt: int) -> dict[str, Any] | None:
    for record in run.attempt_errors:
        if isinstance(record, dict) and record.get("attempt") == attempt:
            return record
    return None
