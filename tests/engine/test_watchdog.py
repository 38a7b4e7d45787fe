"""The watchdog of a held event loop: it says what holds the loop, heartbeats the runs
executing here through a store connection of its own (on each store), gives up after
``blocked_loop_grace``, and says when the loop runs again. The loop is held here by a
synchronous sleep, as a blocking async task holds it."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from schedkit.clock import SystemClock
from schedkit.engine.watchdog import LoopWatchdog
from schedkit.models import RunStatus
from schedkit.store import Store, create_store
from tests.store._contract import make_run

NODE = "vm:1:watch"


def hold_the_loop(seconds: float) -> None:
    """What an async task making a blocking call does to the loop that runs it."""
    time.sleep(seconds)


def watchdog(url: str | None, run_id: str, grace: float) -> LoopWatchdog:
    return LoopWatchdog(
        node_id=NODE,
        interval=0.05,
        grace=grace,
        clock=SystemClock(),
        executing=lambda: [(run_id, "settle_accounts")],
        open_store=None if url is None else lambda: create_store(url),
    )


async def test_runs_are_heartbeated_while_the_loop_is_held(
    store: Store, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    run = make_run(
        status=RunStatus.RUNNING, node_id=NODE, started_at=long_ago, heartbeat_at=long_ago
    )
    await store.insert_runs([run])
    dog = watchdog(store_url, run.id, grace=60)
    held_at = datetime.now(UTC)
    dog.start()
    hold_the_loop(1.5)  # the watchdog's store has a loop of its own
    await dog.stop()
    stored = await store.get_run(run.id)
    assert stored is not None and stored.heartbeat_at is not None
    assert stored.heartbeat_at > held_at
    said = [r.getMessage() for r in caplog.records if r.name == "schedkit.engine.watchdog"]
    assert "has not run for" in said[0] and f"settle_accounts (run {run.id})" in said[0]
    assert "runs again after" in said[-1]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_loop_held_past_the_grace_is_given_up(
    store: Store, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Past ``blocked_loop_grace`` the node counts as hung: the watchdog stops speaking
    for its runs (the reaper then judges them lost, as a dead node's) and says so."""
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    run = make_run(
        status=RunStatus.RUNNING, node_id=NODE, started_at=long_ago, heartbeat_at=long_ago
    )
    await store.insert_runs([run])
    caplog.set_level(logging.WARNING, "schedkit.engine.watchdog")
    dog = watchdog(store_url, run.id, grace=0.4)
    held_at = datetime.now(UTC)
    dog.start()
    hold_the_loop(1.5)  # one hold, well past the grace
    await dog.stop()
    stored = await store.get_run(run.id)
    assert stored is not None and stored.heartbeat_at is not None
    # Beaten within the grace, and not after it.
    assert held_at < stored.heartbeat_at < held_at + timedelta(seconds=0.8)
    said = [r.getMessage() for r in caplog.records if r.name == "schedkit.engine.watchdog"]
    assert any("will be judged lost" in m for m in said), said


async def test_without_a_store_of_its_own_it_only_reports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A node given a store object (not a URL) cannot open another connection to it."""
    dog = watchdog(None, "r1", grace=60)
    dog.start()
    hold_the_loop(0.3)
    await dog.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "schedkit.engine.watchdog"]
    assert len(said) == 2 and "settle_accounts (run r1)" in said[0], said


def test_a_paused_process_is_said_paused_not_blamed_on_its_task(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chaos audit: on SIGCONT after 30 s of SIGSTOP, the watchdog said the loop "has
    not run for 31.2 s" and blamed the task executing (an async task making blocking
    calls) that only awaited a sleep: its own thread had been paused as well."""
    caplog.set_level(logging.WARNING, logger="schedkit.engine.watchdog")
    jumped = [0.0]
    real = time.monotonic

    class Clocks:
        process_time = time.process_time  # a paused process uses no CPU

        @staticmethod
        def monotonic() -> float:
            return real() + jumped[0]

    monkeypatch.setattr("schedkit.engine.watchdog.time", Clocks)
    dog = watchdog(None, "r1", grace=60)
    done = threading.Event()

    def the_loop() -> None:  # what the node's event loop does: stamp, again and again
        while not done.is_set():
            dog._seen = Clocks.monotonic()
            time.sleep(0.01)

    dog._seen = Clocks.monotonic()
    threads = [threading.Thread(target=the_loop), threading.Thread(target=dog._watch)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    jumped[0] = 30.0  # the whole process stood still for 30 s
    time.sleep(0.3)
    done.set()
    dog._stop.set()
    for thread in threads:
        thread.join()
    said = [r.getMessage() for r in caplog.records if r.name == "schedkit.engine.watchdog"]
    assert any("was paused for 3" in m for m in said), said
    assert not any("has not run for" in m for m in said), said


def test_a_pause_does_not_forgive_the_hold_before_it() -> None:
    """CI: a hiccup of the machine (the thread's wait overran while the process used
    little CPU) counted as a pause and restarted the held loop's clock, so a loop held
    past ``blocked_loop_grace`` was heartbeated again for another grace. Only the pause
    itself is not the loop's."""
    dog = watchdog(None, "r1", grace=0.4)
    dog._seen = time.monotonic() - 0.5  # the loop has been held for 0.5 s ...
    assert dog._paused(overslept=0.3, cpu=0.0)  # ... 0.3 s of it with the process paused
    assert time.monotonic() - dog._seen == pytest.approx(0.2, abs=0.05)


def test_a_pause_while_the_loop_runs_leaves_it_running() -> None:
    dog = watchdog(None, "r1", grace=0.4)
    dog._seen = time.monotonic() - 0.01  # stamped just now
    assert dog._paused(overslept=0.3, cpu=0.0)
    assert time.monotonic() - dog._seen < 0.05
