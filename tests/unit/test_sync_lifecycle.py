"""SyncScheduler's start and stop: a program using it ends (a forgotten stop(), an
error, Ctrl-C), and a start that fails leaves nothing behind. The programs run as real
processes: what is checked is that the interpreter exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import schedkit
from schedkit import NotRunningError, SchedkitError, SyncScheduler, TaskRegistry, task
from schedkit.engine.work import ABANDON_AFTER
from schedkit.stopping import LEFTOVER_WAIT

SRC = Path(schedkit.__file__).parents[1]
FORGOT = "is still started as the program ends: stopping it"
LEFT_BEHIND = "1 task(s) ignored being stopped and are left running after the stop: run "


def _program(tmp_path: Path, body: str, *, grace: float = 1) -> subprocess.Popen[str]:
    config = {
        "store_url": f"sqlite:///{tmp_path / 'p.db'}",
        "entry_points": False,
        "scheduler": {"shutdown_grace": grace},
    }
    # The task in a module of its own, as programs have them: the old code's hang at
    # exit depended on the order in which the interpreter tore its modules down.
    (tmp_path / "tasks.py").write_text(
        textwrap.dedent("""
            import asyncio, threading, time
            from schedkit import task

            @task("slow", retry={"max_retries": 0})
            def slow(s: float) -> None:
                time.sleep(s)

            began = threading.Event()

            @task("stubborn", retry={"max_retries": 0})
            async def stubborn() -> None:
                began.set()
                while True:
                    try:
                        await asyncio.sleep(1)
                    except asyncio.CancelledError:
                        pass
        """)
    )
    head = f"""
        import signal, time
        from schedkit import SyncScheduler, TaskRegistry
        from tasks import began, slow, stubborn

        # A test runner started in the background passes SIGINT on ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        s = SyncScheduler({config!r}, registry=TaskRegistry(), tasks=[slow, stubborn])
    """
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(head) + textwrap.dedent(body))
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )


def _wait_for_line(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == line


def _ended(proc: subprocess.Popen[str], within: float) -> tuple[int, str]:
    """The exit code and stderr of ``proc``, which must end within ``within`` seconds."""
    try:
        _, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the program did not end within {within} s:\n{err}")
    return proc.returncode, err


def test_a_program_that_forgets_stop_ends_and_says_so(tmp_path: Path) -> None:
    proc = _program(
        tmp_path,
        """
        s.start()
        s.run_now("slow", {"s": 0.2}, wait=True)
        s.run_now("slow", {"s": 60})
        time.sleep(0.5)
        print("leaving", flush=True)
        """,
    )
    _wait_for_line(proc, "leaving")
    code, err = _ended(proc, 15)
    assert code == 0, err
    assert err.count(FORGOT) == 1, err
    assert "call stop() or use 'with SyncScheduler(...)'" in err
    # The stop at the end is the ordinary one: the run got the shutdown grace.
    assert "scheduler.shutdown_grace (1 s)" in err


def test_a_program_raising_after_start_ends_with_its_error(tmp_path: Path) -> None:
    proc = _program(tmp_path, 's.start()\nraise ValueError("a bug after start()")\n')
    code, err = _ended(proc, 15)
    assert code == 1
    assert "ValueError: a bug after start()" in err
    assert FORGOT in err


#: The program's wait for Ctrl-C, in short sleeps: Python acts on a SIGINT whose handler
#: ran after its last check for signals but before a sleep's system call began only once
#: that sleep ends. The node's threads, busy right after the start, widen that gap (the
#: main thread hands them the GIL on its way into the sleep): in one sleep of 60 s, 3 in
#: 80 of these programs outlived the test's wait (a CI flake), each found sleeping in
#: clock_nanosleep with no signal pending; none in 80 with these sleeps.
FOREVER = "while True:\n    time.sleep(0.1)\n"


def test_ctrl_c_ends_a_program_that_never_stops(tmp_path: Path) -> None:
    proc = _program(tmp_path, f's.start()\nprint("ready", flush=True)\n{FOREVER}')
    _wait_for_line(proc, "ready")
    proc.send_signal(signal.SIGINT)
    code, err = _ended(proc, 10)
    assert code == -signal.SIGINT
    assert "KeyboardInterrupt" in err and FORGOT in err


BLOCKED = """
    with s:
        print("ready", flush=True)
        try:
            s.run_now("slow", {"s": 60}, wait=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
"""


def test_ctrl_c_interrupts_a_blocking_call_then_the_stop_drains(tmp_path: Path) -> None:
    proc = _program(tmp_path, BLOCKED, grace=1)
    _wait_for_line(proc, "ready")
    time.sleep(0.5)  # the run has started
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _wait_for_line(proc, "interrupted")
    assert time.monotonic() - started < 2
    code, err = _ended(proc, 15)
    assert code == -signal.SIGINT
    assert "it did not finish within scheduler.shutdown_grace (1 s)" in err
    assert FORGOT not in err


def test_a_second_ctrl_c_cuts_the_stop_short(tmp_path: Path) -> None:
    proc = _program(tmp_path, BLOCKED, grace=60)
    _wait_for_line(proc, "ready")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _wait_for_line(proc, "interrupted")
    time.sleep(1)  # the stop waits for the run, up to its 60 s grace
    proc.send_signal(signal.SIGINT)
    code, err = _ended(proc, 8)
    assert code == -signal.SIGINT, err


def test_ctrl_c_taken_by_another_thread_interrupts_a_blocking_call(tmp_path: Path) -> None:
    # The kernel may hand a process's SIGINT to any of its threads; Python's handler
    # then runs in the main thread only once that thread wakes.
    body = """
        import threading

        def ctrl_c() -> None:
            time.sleep(1)
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)

        with s:
            threading.Thread(target=ctrl_c).start()
            started = time.monotonic()
            try:
                s.run_now("slow", {"s": 30}, wait=True)
            except KeyboardInterrupt:
                print(f"interrupted after {time.monotonic() - started:.0f} s", flush=True)
                raise
    """
    proc = _program(tmp_path, body)
    _wait_for_line(proc, "interrupted after 1 s")
    code, err = _ended(proc, 15)
    assert code == -signal.SIGINT, err


def test_ctrl_c_ends_a_with_block_whose_task_code_ignores_its_cancel(tmp_path: Path) -> None:
    """Before: the with block's stop waited until every task of its event loop had ended,
    and this one never does: the program outlived any wait."""
    body = """
        with s:
            s.run_now("stubborn")
            began.wait(10)
            print("ready", flush=True)
    """
    proc = _program(tmp_path, textwrap.dedent(body) + textwrap.indent(FOREVER, "    "))
    _wait_for_line(proc, "ready")
    proc.send_signal(signal.SIGINT)
    # The run's grace (1 s), the 5 s its code gets after its cancel, the loop's 2 s.
    code, err = _ended(proc, 1 + ABANDON_AFTER + LEFTOVER_WAIT + 5)
    assert code == -signal.SIGINT, err
    assert LEFT_BEHIND in err and " of stubborn" in err, err
    assert FORGOT not in err and "Task was destroyed" not in err, err


def test_stop_leaves_task_code_that_ignores_its_cancel_behind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: stop() waited as long as the code ran (for ever here, but for the test's
    release): the thread of anyio's portal ended only with the last task of its loop."""
    began, release = threading.Event(), threading.Event()
    laps: list[None] = []

    @task("stubborn", retry={"max_retries": 0})
    async def stubborn() -> None:
        began.set()
        while not release.is_set():
            laps.append(None)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)

    grace = 0.5
    before = set(threading.enumerate())
    s = SyncScheduler(
        _config(tmp_path, scheduler={"shutdown_grace": grace}),
        registry=TaskRegistry(),
        tasks=[stubborn],
    )
    s.start()
    run = s.run_now("stubborn")
    assert began.wait(10)
    stopping = threading.Thread(target=s.stop)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        stopping.start()
        try:
            stopping.join(grace + ABANDON_AFTER + LEFTOVER_WAIT + 5)
            took = time.monotonic() - started
            assert not stopping.is_alive(), "stop() did not return"
            # Left running: the code goes on, and its loop with it, until it returns.
            lap = len(laps)
            time.sleep(0.3)
            assert len(laps) > lap
            assert "schedkit-sync-loop" in {t.name for t in threading.enumerate()}
        finally:
            release.set()
            stopping.join(30)
    assert took < grace + ABANDON_AFTER + LEFTOVER_WAIT + 3, took
    said = [r.getMessage() for r in caplog.records if r.name == "schedkit.stopping"]
    assert said == [f"{LEFT_BEHIND}{run.id} of stubborn"], said
    # Once it returned, the loop ends and closes without a word.
    assert _threads_left(before) == set()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def _config(tmp_path: Path, **more: object) -> dict[str, object]:
    return {"store_url": f"sqlite:///{tmp_path / 's.db'}", "entry_points": False, **more}


def _threads_left(before: set[threading.Thread]) -> set[str]:
    deadline = time.monotonic() + 5
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {t.name for t in left}


def test_a_configuration_error_raises_from_start_and_leaves_no_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    s = SyncScheduler(_config(tmp_path, timezone="Mars/Base"), registry=TaskRegistry())
    with pytest.raises(Exception, match="Mars/Base") as raised:
        s.start()
    assert not isinstance(raised.value, RuntimeError)
    assert _threads_left(before) == set()
    s.stop()


def test_a_failed_start_leaves_it_stoppable_and_startable(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    # A directory where the database file should be: the store cannot open.
    s = SyncScheduler({"store_url": f"sqlite:///{tmp_path}"}, registry=TaskRegistry())
    with pytest.raises(SchedkitError) as first:
        s.start()
    assert _threads_left(before) == set()
    s.stop()
    with pytest.raises(NotRunningError, match=r"call start\(\)"):
        s.list_runs()
    with pytest.raises(SchedkitError) as second:
        s.start()
    assert type(second.value) is type(first.value)
    assert _threads_left(before) == set()


def test_a_second_start_starts_no_second_node(tmp_path: Path) -> None:
    with SyncScheduler(_config(tmp_path), registry=TaskRegistry()) as s:
        s.start()
        assert [n.id for n in s.list_nodes()] == [s.node_id]
    before = set(threading.enumerate())
    s.start()  # again after a stop: a new node
    try:
        assert len(s.list_nodes()) == 1
    finally:
        s.stop()
    assert _threads_left(before) == set()


def test_used_when_not_started_it_says_to_call_start(tmp_path: Path) -> None:
    s = SyncScheduler(_config(tmp_path), registry=TaskRegistry())
    for use in (lambda: s.run_now("t"), lambda: s.node_id):
        with pytest.raises(NotRunningError, match=r"call start\(\)"):
            use()
    s.start()
    s.stop()
    with pytest.raises(NotRunningError, match=r"call start\(\)"):
        s.list_runs()


def test_called_from_a_running_event_loop_it_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def notebook_cell() -> None:
        s = SyncScheduler(_config(tmp_path), registry=TaskRegistry())
        s.start()
        s.list_runs()
        s.stop()

    with caplog.at_level(logging.WARNING, logger="schedkit.sync"):
        asyncio.run(notebook_cell())
    said = [r.getMessage() for r in caplog.records if r.name == "schedkit.sync"]
    assert len(said) == 1 and "blocks that loop" in said[0], said


def test_two_threads_starting_at_once_start_one_node(tmp_path: Path) -> None:
    """Before: both passed the "started?" check and made a node each (a re-audit: the
    second was never stopped and fired on as an orphan)."""
    before = set(threading.enumerate())
    s = SyncScheduler(_config(tmp_path), registry=TaskRegistry())
    barrier = threading.Barrier(2)

    def start() -> None:
        barrier.wait()
        s.start()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert [n.id for n in s.list_nodes()] == [s.node_id]
    finally:
        s.stop()
    assert _threads_left(before) == set()


def test_the_stop_at_exit_waits_for_a_stop_under_way_in_another_thread(tmp_path: Path) -> None:
    """Before: the main thread ended while a timer thread's stop() waited for a run; the
    stop then failed ("cannot schedule new futures after interpreter shutdown")."""
    proc = _program(
        tmp_path,
        """
        import threading
        s.start()
        s.run_now("slow", {"s": 1.5})
        time.sleep(0.3)
        threading.Timer(0.1, s.stop).start()
        time.sleep(0.3)
        print("leaving", flush=True)
        """,
        grace=5,
    )
    _wait_for_line(proc, "leaving")
    code, err = _ended(proc, 15)
    assert code == 0, err
    assert "Traceback" not in err and "after interpreter shutdown" not in err, err
