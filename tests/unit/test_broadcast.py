"""The broadcast's own rules, over an in-memory channel: messages stay under the NOTIFY
size limit, a wake-up rides the first one, a node ignores its own messages, remote events
reach live views only, a broken channel or message costs live updates only, and a node
sends only while it knows another node listens (hello, here, bye)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from schedkit import broadcast
from schedkit.broadcast import _EVENT, MAX_MESSAGE, MAX_PAYLOAD, Broadcast, slim, transport_for
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
        self.losses: list[Callable[[str], None]] = []
        self.fail = fail
        #: Opens that fail before one succeeds (a server still down).
        self.refuse = 0
        self.opened = 0
        self.closed = 0

    async def open(self, receive: Callable[[str], None], lost: Callable[[str], None]) -> None:
        if self.refuse:
            self.refuse -= 1
            raise OSError("connection refused")
        self.opened += 1
        self.receivers.append(receive)
        self.losses.append(lost)

    async def send(self, payloads: Sequence[str]) -> None:
        if self.fail:
            raise OSError("channel down")
        for payload in payloads:
            assert len(payload.encode()) <= MAX_PAYLOAD
            self.sent.append(payload)
            for receive in self.receivers:
                receive(payload)

    async def close(self) -> None:
        self.closed += 1


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


def presence(node: str, says: str) -> str:
    return json.dumps({"n": node, "p": says})


def told(channel: Channel, node: str = "a") -> list[dict[str, object]]:
    """The messages ``node`` sent other than its presence: events and wake-ups."""
    messages = [json.loads(p) for p in channel.sent]
    return [m for m in messages if m["n"] == node and "p" not in m]


def spoken(channel: Channel, node: str = "a") -> list[object]:
    """What ``node`` said of its presence, in order."""
    return [m["p"] for p in channel.sent if (m := json.loads(p))["n"] == node and "p" in m]


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
    node._receive(presence("b", "here"))  # somebody listens
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
    node._receive(presence("b", "here"))
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


def test_a_slim_event_is_the_event_without_the_runs_heavy_fields() -> None:
    """What a node receives: every field of the run as sent, kwargs, result and attempt
    records emptied, the error cut to its type and the start of its message."""
    sent = run("note ✓", result={"success": True, "data": [1, 2]}, attempt_errors=[{"a": 1}])
    event = RunEvent(kind=EventKind.FINISHED, run=sent, at=NOW)
    got = _EVENT.validate_python(json.loads(slim(event)))
    error = {"type": "E", "message": "x" * MAX_MESSAGE}
    light = dataclasses.replace(sent, kwargs={}, result=None, attempt_errors=[], error=error)
    assert got == RunEvent(kind=EventKind.FINISHED, run=light, at=NOW)
    no_error = RunEvent(kind=EventKind.CREATED, run=dataclasses.replace(sent, error=None))
    assert json.loads(slim(no_error))["run"]["error"] is None


class Poll:
    """A stand-in for the store poll: records when it runs."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def start(self) -> None:
        self.log.append("poll started")

    async def stop(self) -> None:
        self.log.append("poll stopped")


_sleep = asyncio.sleep  # the real one, for tests that replace asyncio.sleep


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await _sleep(0.005)


async def test_a_lost_channel_is_polled_over_and_reconnected(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcast, "RECONNECT_FIRST", 0.01)
    caplog.set_level(logging.INFO, logger="schedkit.broadcast")
    channel = Channel()
    bus = EventBus()
    log: list[str] = []
    node = Broadcast(
        transport=channel,
        events=bus,
        node_id="a",
        wake=lambda: log.append("woken"),
        fallback=lambda: Poll(log),
    )
    await node.start()
    channel.receivers[0](presence("b", "here"))  # another node listens
    channel.refuse = 3  # the server is still down for three attempts
    channel.losses[0]("server restarted")
    channel.losses[0]("server restarted")  # reported twice: one outage, one warning
    assert not node.connected
    # While down, nothing is sent: the store poll covers live views.
    bus.publish(RunEvent(kind=EventKind.STARTED, run=run()))
    await until(lambda: node.connected and "woken" in log)
    assert log == ["poll started", "poll stopped", "woken"]
    assert channel.opened == 2 and channel.refuse == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable (server restarted)" in warnings[0].getMessage()
    assert "polling the store" in warnings[0].getMessage()
    assert any("memory back after" in r.getMessage() for r in caplog.records)
    # The other nodes are told to claim (their wake-ups sent meanwhile were lost); the
    # event published during the outage is not sent. It says hello again: the others
    # may have forgotten it while it was silent.
    await until(lambda: bool(told(channel)))
    [message] = told(channel)
    assert message["w"] is True and message["e"] == []
    assert spoken(channel) == ["hello", "hello"]
    await node.stop()


async def test_the_backoff_doubles_up_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(broadcast.asyncio, "sleep", sleep)
    channel = Channel()
    node = Broadcast(transport=channel, events=EventBus(), node_id="a", wake=lambda: None)
    await node.start()
    channel.refuse = 9
    channel.losses[0]("gone")
    await until(lambda: node.connected)
    monkeypatch.setattr(broadcast.asyncio, "sleep", real_sleep)
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0, 10.0]
    await node.stop()


async def test_a_failed_send_counts_as_a_lost_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broadcast, "RECONNECT_FIRST", 0.01)
    channel = Channel(fail=True)
    bus = EventBus()
    node = Broadcast(transport=channel, events=bus, node_id="a", wake=lambda: None)
    node._receive(presence("b", "here"))
    await node.start()
    bus.publish(RunEvent(kind=EventKind.FINISHED, run=run()))
    await until(lambda: channel.opened == 2)  # reconnected
    channel.fail = False
    await until(lambda: bool(told(channel)))
    await node.stop()
    assert channel.closed >= 2


async def test_stopping_during_an_outage_ends_the_reconnection() -> None:
    channel = Channel()
    log: list[str] = []
    node = Broadcast(
        transport=channel,
        events=EventBus(),
        node_id="a",
        wake=lambda: None,
        fallback=lambda: Poll(log),
    )
    await node.start()
    channel.refuse = 1000
    channel.losses[0]("gone")
    await until(lambda: log == ["poll started"])
    await node.stop()
    assert log == ["poll started", "poll stopped"]
    channel.losses[0]("late report")  # after stop: ignored
    assert not node._reconnects


async def test_a_channel_unreachable_at_start_is_polled_over_until_it_connects(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcast, "RECONNECT_FIRST", 0.01)
    channel = Channel()
    channel.refuse = 2
    log: list[str] = []
    node = Broadcast(
        transport=channel,
        events=EventBus(),
        node_id="a",
        wake=lambda: log.append("woken"),
        fallback=lambda: Poll(log),
    )
    await node.start()  # not an error: the node polls meanwhile
    assert not node.connected
    assert "unavailable (cannot connect: OSError: connection refused)" in caplog.text
    await until(lambda: node.connected and "woken" in log)
    assert log == ["poll started", "poll stopped", "woken"]
    await node.stop()


async def test_a_node_sends_only_while_another_node_listens() -> None:
    """Alone, a node sends its presence and nothing else (the channel costs CPU on both
    ends); a node starting says hello, is answered, and from then on hears the others'
    events; a node stopping says bye, and the others go quiet again."""
    channel = Channel()
    here, there = EventBus(), EventBus()
    woken: list[str] = []
    a = Broadcast(transport=channel, events=here, node_id="a", wake=lambda: woken.append("a"))
    await a.start()  # nobody answers: waits HELLO_WAIT
    here.publish(RunEvent(kind=EventKind.STARTED, run=run()))
    a.announce_wake()
    await settle()
    assert spoken(channel) == ["hello"] and told(channel) == [] and a.peers == []

    b = Broadcast(transport=channel, events=there, node_id="b", wake=lambda: woken.append("b"))
    loop = asyncio.get_running_loop()
    began = loop.time()
    await b.start()
    assert loop.time() - began < broadcast.HELLO_WAIT  # answered, not timed out
    assert spoken(channel, "a") == ["hello", "here"] and spoken(channel, "b") == ["hello"]
    assert a.peers == ["b"] and b.peers == ["a"]
    view = there.subscribe()
    here.publish(RunEvent(kind=EventKind.FINISHED, run=run()))
    a.announce_wake()
    await settle()
    assert view.get_nowait().kind is EventKind.FINISHED
    assert woken == ["b"]

    await b.stop()
    assert spoken(channel, "b") == ["hello", "bye"] and a.peers == []
    sent = len(channel.sent)
    here.publish(RunEvent(kind=EventKind.FINISHED, run=run()))
    a.announce_wake()
    await settle()
    assert len(channel.sent) == sent
    await a.stop()


async def test_presence_is_repeated_and_a_silent_peer_is_forgotten(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcast, "PRESENCE_INTERVAL", 0.02)
    monkeypatch.setattr(broadcast, "PEER_EXPIRY", 0.1)
    caplog.set_level(logging.INFO, logger="schedkit.broadcast")
    channel = Channel()
    node = Broadcast(transport=channel, events=EventBus(), node_id="a", wake=lambda: None)
    await node.start()
    channel.receivers[0](presence("killed", "here"))  # then never heard from again
    assert node.peers == ["killed"]
    await until(lambda: node.peers == [])
    assert spoken(channel).count("here") >= 3  # one every PRESENCE_INTERVAL
    assert "no word from node killed" in caplog.text
    await node.stop()


async def test_a_node_of_an_older_version_is_known_from_its_first_message() -> None:
    """Older nodes say no hello but send every event: the first one tells this node that
    somebody listens."""
    channel = Channel()
    bus = EventBus()
    node = Broadcast(transport=channel, events=bus, node_id="a", wake=lambda: None)
    await node.start()
    channel.receivers[0](json.dumps({"n": "old", "w": False, "e": []}))
    assert node.peers == ["old"]
    bus.publish(RunEvent(kind=EventKind.STARTED, run=run()))
    await settle()
    [message] = told(channel)
    assert [e["kind"] for e in message["e"]] == ["started"]  # type: ignore[union-attr]
    await node.stop()


class SwallowingChannel(Channel):
    """A channel whose send, cancelled mid-command, raises a connection error instead:
    what redis-py can make of a cancellation (seen as ``schedkit run`` hanging at exit
    with ``cluster.redis_url`` set, 1 time in 3). Not a mock of Redis: the driver's
    conversion is what the test needs, and a real server cannot be made to hit it."""

    async def send(self, payloads: Sequence[str]) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("Connection closed by server.") from None


async def test_a_stop_ends_even_when_the_channel_swallows_the_cancel() -> None:
    channel = SwallowingChannel()
    node = Broadcast(transport=channel, events=EventBus(), node_id="a", wake=lambda: None)
    await node.start(expect_peers=False)  # its hello is being sent, and never returns
    await settle()
    await asyncio.wait_for(node.stop(), 5)
    assert channel.closed == 1
