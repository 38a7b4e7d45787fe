"""A SyncScheduler (or Scheduler) used in a process forked from the one that started it:
its event loop thread is not there, and its store connections are shared with the
parent, so a call raises at once instead of waiting for ever, and nothing the child does
stops or unregisters the parent's node."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .test_sync_lifecycle import FORGOT, SRC, _program

FORKS = """
    import multiprocessing, os, sys
    from schedkit import NotRunningError

    def child(how: str, stop: bool) -> None:
        try:
            s.add_task("slow", {"trigger": "interval", "hours": 1})
        except NotRunningError as exc:
            print(f"{how} child: {exc}", flush=True)
        if stop:  # a with block's end in the child: the node is the parent's, forgotten
            s.stop()

    def waited(pid: int) -> int | None:
        # A child that hangs is killed: the test then fails instead of hanging. Its exit
        # (coverage saving its data) took over 5 s on a loaded CI machine.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return None

    def quick() -> bool:
        started = time.monotonic()
        for _ in range(20):
            s.count_runs()
        return time.monotonic() - started < 2

    s.start()
    pid = os.fork()
    if pid == 0:
        child("os.fork", stop=False)
        # An ordinary exit, holding the node: the interpreter's exit hooks run, and it
        # collects the node.
        sys.exit(0)
    print(f"os.fork exit {waited(pid)}", flush=True)
    fork = multiprocessing.get_context("fork")
    forked = fork.Process(target=child, args=("multiprocessing", True))
    forked.start()
    forked.join(20)
    if forked.is_alive():
        forked.kill()
        forked.join()
    print(f"multiprocessing exit {forked.exitcode}", flush=True)
    run = s.run_now("slow", {"s": 0.1}, wait=True, timeout=10)
    ours = [n.id for n in s.list_nodes()] == [s.node_id]
    print(f"parent: {run.status.value}, nodes {ours}, quick {quick()}", flush=True)
    s.stop()
"""


def test_a_forked_child_is_told_the_node_is_its_parent_s(tmp_path: Path) -> None:
    """Before: the child's call waited for ever on the parent's event loop thread."""
    proc = _program(tmp_path, FORKS)
    try:
        out, err = proc.communicate(timeout=80)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the program did not end:\n{out}\n{err}")
    assert proc.returncode == 0, err
    lines = out.splitlines()
    for how in ("os.fork", "multiprocessing"):
        said = [line for line in lines if line.startswith(f"{how} child: ")]
        assert len(said) == 1, out
        assert "this SyncScheduler was started in process" in said[0]
        assert "make and start a new SyncScheduler in this process" in said[0]
        assert f"{how} exit 0" in lines, out
    # The parent's node goes on, still registered (the child's stop did not unregister
    # it), and no child ran the stop at exit against it.
    # Quick: a child closing its copy of the loop took the parent's wake-up out of their
    # shared epoll instance; each call then waited for a timer of the loop (0.3 s).
    assert "parent: success, nodes True, quick True" in lines, out
    assert FORGOT not in err, err


ASYNC_FORK = """
    import asyncio, os, sys, time
    from schedkit import NotRunningError, Scheduler, TaskRegistry

    async def main() -> None:
        async with Scheduler({config!r}, registry=TaskRegistry()) as s:
            pid = os.fork()
            if pid == 0:
                try:
                    await s.run_now("t")
                except NotRunningError as exc:
                    print(f"child: {{exc}}", flush=True)
                await s.stop()  # only forgets: the node is the parent's
                # At once: the rest of this copy of the loop is the parent's too (docs).
                os._exit(0)
            deadline = time.monotonic() + 10
            while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            print(f"child exit {{done[1]}}", flush=True)
            ours = [n.id for n in await s.list_nodes()] == [s.node_id]
            print(f"parent: nodes {{ours}}", flush=True)

    asyncio.run(main())
"""


def test_an_async_scheduler_in_a_forked_child_is_not_used_nor_stopped(tmp_path: Path) -> None:
    """Before: the child's copy worked on the store connections it shares with the
    parent, and its stop unregistered the parent's node."""
    config = {"store_url": f"sqlite:///{tmp_path / 'a.db'}", "entry_points": False}
    script = tmp_path / "forks.py"
    script.write_text(textwrap.dedent(ASYNC_FORK.format(config=config)))
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=40,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    said = [line for line in lines if line.startswith("child: ")]
    assert len(said) == 1, proc.stdout
    assert "this Scheduler was started in process" in said[0]
    assert "make and start a new Scheduler in this process" in said[0]
    assert lines[-2:] == ["child exit 0", "parent: nodes True"], proc.stdout
