"""The chaos test's moving parts: node processes (``node.py``) that it starts, SIGKILLs
and replaces, and the schedule of disturbances (kills of the lease holder and of random
nodes, restarts of the database server)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from schedkit.errors import StoreError
from schedkit.store import Store
from tests.untraced import untraced_env

from .checker import Kill

HERE = Path(__file__).parent
SRC = HERE.parent.parent / "src"


@dataclass
class ChaosNode:
    proc: subprocess.Popen[str]
    node_id: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Cluster:
    url: str
    workdir: Path
    nodes: list[ChaosNode] = field(default_factory=list)
    started: int = 0

    @property
    def marks(self) -> Path:
        return self.workdir / "marks.jsonl"

    async def start_node(self) -> ChaosNode:
        node = ChaosNode(self._spawn())
        assert node.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(node.proc.stdout.readline), 60)
        assert line.startswith("READY "), f"node did not start: {line!r} (see its log)"
        node.node_id = line.split()[1]
        self.nodes.append(node)
        return node

    def _spawn(self) -> subprocess.Popen[str]:
        self.started += 1
        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(SRC)) if p)
        env = {**untraced_env(), "SCHEDKIT_CHAOS_MARKS": str(self.marks), "PYTHONPATH": path}
        with open(self.workdir / f"node-{self.started}.log", "w") as log:
            return subprocess.Popen(
                [sys.executable, str(HERE / "node.py"), self.url],
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
            )

    def kill(self, node: ChaosNode) -> None:
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        self._forget(node)

    def stop_all(self) -> None:
        for node in list(self.nodes):
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in list(self.nodes):
            try:
                node.proc.wait(30)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(10)
            self._forget(node)

    def lease_changes(self) -> int:
        """How many times a node took the scheduler lease (from the nodes' logs)."""
        return sum(
            log.read_text().count("holds the scheduler lease")
            for log in self.workdir.glob("node-*.log")
        )

    def _forget(self, node: ChaosNode) -> None:
        if node in self.nodes:
            self.nodes.remove(node)
        if node.proc.stdout is not None:
            node.proc.stdout.close()


@dataclass(frozen=True, kw_only=True)
class Plan:
    """When to disturb: a kill every ``kill_every`` seconds (uniform range), the lease
    holder with probability ``leader_share``; a server restart every ``restart_every``
    seconds (None: never); nothing within ``quiet`` seconds of a server restart or of the
    end of the load."""

    seconds: float
    kill_every: tuple[float, float]
    leader_share: float = 0.5
    restart_every: float | None = None
    quiet: float = 6.0
    seed: int = 16


async def lease_holder(store: Store) -> str | None:
    with contextlib.suppress(StoreError):
        lease = await store.get_lease("scheduler")
        if lease is not None:
            return lease.holder
    return None


async def disturb(
    cluster: Cluster,
    observer: Store,
    plan: Plan,
    restart_server: Callable[[], None] | None,
) -> tuple[list[Kill], list[tuple[float, float]]]:
    """Run the plan against the cluster (keeping it at its size); the kills made and the
    server restarts (Unix times down, up again)."""
    rng = random.Random(plan.seed)
    loop = asyncio.get_running_loop()
    begin = loop.time()
    end = begin + plan.seconds
    next_restart = (
        begin + plan.restart_every / 2
        if restart_server is not None and plan.restart_every is not None
        else None
    )
    quiet_until = begin
    kills: list[Kill] = []
    restarts: list[tuple[float, float]] = []
    size = len(cluster.nodes)
    while True:
        await asyncio.sleep(rng.uniform(*plan.kill_every))
        now = loop.time()
        if now > end - plan.quiet:
            break
        if next_restart is not None and now >= next_restart and restart_server is not None:
            down = time.time()
            await asyncio.to_thread(restart_server)
            restarts.append((down, time.time()))
            quiet_until = loop.time() + plan.quiet
            next_restart += plan.restart_every or 0
            continue
        # A failover must not overlap a restart: the times measured would be the outage's.
        if now < quiet_until or (next_restart is not None and next_restart - now < plan.quiet):
            continue
        holder = await lease_holder(observer)
        leader = next((n for n in cluster.nodes if n.node_id == holder), None)
        target = leader if leader is not None and rng.random() < plan.leader_share else None
        target = target or rng.choice(cluster.nodes)
        kills.append(
            Kill(at=time.time(), pid=target.pid, node_id=target.node_id, leader=target is leader)
        )
        cluster.kill(target)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        while len(cluster.nodes) < size:
            await cluster.start_node()
    await asyncio.sleep(max(0.0, end - loop.time()))
    return kills, restarts
