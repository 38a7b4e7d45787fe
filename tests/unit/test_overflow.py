"""Bounded buffers (issue #16: during a store outage the log buffer and the event bus's
pending listener calls grew without limit): a bound, a dropped count, one warning."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.logcapture import RunLogBuffer
from schedkit.models import Run, TriggerSource
from schedkit.task import TaskContext


def _ctx(run_id: str = "r1") -> TaskContext:
    return TaskContext(
        run_id=run_id,
        task_name="t",
        schedule_id=None,
        scheduled_for=datetime(2026, 12, 2, tzinfo=UTC),
        attempt=1,
        kwargs={},
    )


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("task", logging.INFO, __file__, 1, message, None, None)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "schedkit.overflow"]


def test_log_buffer_drops_past_its_bound_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    buffer = RunLogBuffer(max_lines=5)
    buffer.start_run("r1")
    ctx = _ctx()
    with caplog.at_level(logging.INFO, logger="schedkit.overflow"):
        for i in range(12):  # the store is down: nothing is taken meanwhile
            buffer.add(ctx, _record(f"line {i}"))
        assert buffer.overflow.dropped == 7
        assert len([m for m in _warnings(caplog) if "dropping" in m]) == 1
        lines = buffer.take()
        assert [line.message for line in lines] == [f"line {i}" for i in range(5)]
        # A failed write puts its lines back; past the bound the newest go.
        buffer.add(ctx, _record("after"))
        buffer.put_back(lines)
        assert buffer.overflow.dropped == 8
        assert [(line.seq, line.message) for line in buffer.take()] == [
            *[(i, f"line {i}") for i in range(5)],
            # The first drops' marker stays; the put-back's replaces "after" (seq 13).
            (12, _dropped(7)),
            (13, _dropped(1)),
        ]
        # Drained and overflowing anew: warned again.
        for i in range(7):
            buffer.add(ctx, _record(f"again {i}"))
    assert buffer.overflow.dropped == 10
    # One warning per episode of drops (the first, the put-back, this one).
    assert len([m for m in _warnings(caplog) if "dropping" in m]) == 3
    # Line numbers keep counting through the drops: the gap shows where lines are missing,
    # and the line before the next one kept says how many.
    assert len(buffer.take()) == 5
    buffer.add(ctx, _record("last"))
    marker, last = buffer.take()
    assert (marker.seq, marker.level, marker.message) == (21, "WARNING", _dropped(2))
    assert (last.seq, last.message) == (22, "last")


def _dropped(n: int) -> str:
    line = "line" if n == 1 else "lines"
    return (
        f"{n} log {line} dropped here: this node's buffer of lines not yet written to the "
        "store was full (5 lines)"
    )


def test_a_run_ending_while_its_lines_are_dropped_says_so_at_the_end_of_its_log() -> None:
    """A task logging faster than the store takes lines (200,000 in one run) lost the
    newest ones with nothing in its log to say so: it read as if it stopped logging."""
    buffer = RunLogBuffer(max_lines=3)
    buffer.start_run("r1")
    buffer.start_run("r2")
    for i in range(5):
        buffer.add(_ctx("r1"), _record(f"r1 {i}"))
    buffer.add(_ctx("r2"), _record("r2 dropped"))
    buffer.end_run("r1")
    buffer.end_run("r2")
    buffer.end_run("r2")  # twice: no second marker
    lines = [(line.run_id, line.seq, line.message) for line in buffer.take()]
    assert lines == [
        ("r1", 0, "r1 0"),
        ("r1", 1, "r1 1"),
        ("r1", 2, "r1 2"),
        ("r1", 5, _dropped(2).replace("(5 lines)", "(3 lines)")),
        ("r2", 1, _dropped(1).replace("(5 lines)", "(3 lines)")),
    ]


async def test_event_bus_bounds_pending_listener_calls(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()
    handled: list[str] = []

    async def stuck_listener(event: RunEvent) -> None:  # e.g. writes to an unreachable store
        await release.wait()
        handled.append(event.run.id)

    bus = EventBus(max_pending=3)
    bus.add_listener(stuck_listener)
    run = Run(
        id="r",
        task_name="t",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=datetime(2026, 12, 2, tzinfo=UTC),
    )
    with caplog.at_level(logging.WARNING, logger="schedkit.overflow"):
        for i in range(10):
            bus.publish(RunEvent(kind=EventKind.PROGRESS, run=replace(run, id=str(i))))
    assert bus.overflow.dropped == 7
    assert len(_warnings(caplog)) == 1
    release.set()
    await bus.drain()
    assert handled == ["0", "1", "2"]
