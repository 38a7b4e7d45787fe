"""The broadcast's own rules, over an in-memory channel: messages stay under the NOTIFY
size limit, a wake-up rides the first one, a node ignores its own messages, remote events
reach live views only, and a broken channel or message costs live updates only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from schedkit.broadcast import MAX_PAYLOAD, Broadcast, slim, transport_for
from schedkit.config import SchedkitConfig
from schedkit.errors import ConfigError
from schedkit.events import EventBus, EventKind, RunEvent
from schedkit.models import Run, TriggerSource

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Channel:
    """Every sent payload is delivered to every opened receiver, like pub/sub."""

    def __init__(self, *, fail: bool = False) -> None:
        self.name = "memory"
        self.sent: list[str] = []
        self.receivers: list[Callable[[str], None]] = []
        self.fail = fail

    async def open(self, receive: Callable[[str], None]) -> None:
        self.receivers.append(receive)

    async def send(self, payload: str) -> None:
        if self.fail:
            raise OSError("channel down")
        assert len(payload.encode()) <= MAX_PAYLOAD
        self.sent.append(payload)
        for receive in self.receivers:
            receive(payload)

    async def close(self) -> None:
        pass


def run(note: str = "", **fields: object) -> Run:
    return Run(
        id=f"r{note[:5]}{len(note)}",
        task_name="t",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=NOW,
        progress={"note": note} if note else None,
        error={"type": "E", "message": "x" * 1000, "traceback": "long"},
        kwargs={"secret": "not sent"},
        labels=("gpu",),
        **fields,  # type: ignore[arg-type]
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_events_and_wake_ups_cross_between_nodes() -> None:
    channel = Channel()
    here, there = EventBus(), EventBus()
    woken: list[str] = []
    a = Broadcast(transport=channel, events=here, node_id="a", wake=lambda: woken.append("a"))
    b = Broadcast(transport=channel, events=there, node_id="b", wake=lambda: woken.append("b"))
    heard: list[RunEvent] = []
    there.add_listener(heard.append)  # listeners hear only of their own node's runs
    await a.start()
    await b.start()
    with_view = there.subscribe()
    here.publish(RunEvent(kind=EventKind.STARTED, run=run()))
    a.announce_wake()
    await settle()
    assert woken == ["b"]  # not the sender
    event = with_view.get_nowait()
    assert event.kind is EventKind.STARTED and event.run.labels == ("gpu",)
    assert event.run.kwargs == {} and event.run.error == {"type": "E", "message": "x" * 300}
    assert heard == []
    channel.receivers[1]("not json")  # another version's message: skipped
    channel.receivers[1](json.dumps({"n": "c", "e": [{"kind": "nope"}]}))
    assert with_view.empty()
    await a.stop()
    await b.stop()


async def test_messages_stay_under_the_payload_limit() -> None:
    channel = Channel()
    bus = EventBus()
    node = Broadcast(transport=channel, events=bus, node_id="a", wake=lambda: None)
    node.announce_wake()
    for i in range(40):
        bus_event = RunEvent(kind=EventKind.PROGRESS, run=run(f"步骤 {i} " * 40))
        node._on_event(bus_event)
    node._on_event(RunEvent(kind=EventKind.PROGRESS, run=run("huge " * 3000)))
    payloads = node._payloads()
    assert len(payloads) > 1
    messages = [json.loads(p) for p in payloads]
    assert [m["w"] for m in messages] == [True] + [False] * (len(messages) - 1)
    assert sum(len(m["e"]) for m in messages) == 40  # the huge one is left to the store
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)


async def test_a_broken_channel_loses_live_updates_only(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    node = Broadcast(transport=Channel(fail=True), events=bus, node_id="a", wake=lambda: None)
    await node.start()
    bus.publish(RunEvent(kind=EventKind.FINISHED, run=run()))
    await settle()
    assert "channel down" in caplog.text
    await node.stop()


def test_the_channel_follows_the_configuration() -> None:
    def config(**data: object) -> SchedkitConfig:
        return SchedkitConfig(entry_points=False, **data)  # type: ignore[arg-type]

    sqlite = {"store_url": "sqlite:///x.db"}
    postgres = {"store_url": "postgresql://u:p@h/db"}
    assert transport_for(config(**sqlite)) is None
    assert transport_for(config(**postgres, cluster={"notify": "none"})) is None
    pg = transport_for(config(**postgres))
    assert pg is not None and pg.name.startswith("PostgreSQL NOTIFY")
    redis = transport_for(config(**postgres, cluster={"redis_url": "redis://h:6379/0"}))
    assert redis is not None and redis.name.startswith("Redis")
    with pytest.raises(ConfigError, match="PostgreSQL store_url"):
        transport_for(config(**sqlite, cluster={"notify": "postgres"}))
    assert slim(RunEvent(kind=EventKind.CREATED, run=run()))["kind"] == "created"
