"""The monitor on a real Scheduler (SQLite store) sending to a real HTTP receiver.

Pins each rule end to end, de-duplication across a restart and across two nodes sharing
the store (compare-and-set on the alert state), and that a dead or hanging channel
neither slows nor fails runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit import OffsetClock, RunStatus, Scheduler, TaskRegistry, task
from schedkit.alerts.running import long_runs
from schedkit.models import Run, RunFilter, TriggerSource, new_id
from schedkit.monitor import STATE_PREFIX, Monitor

from .conftest import MakeMonitored, Receiver, alert_settings, fast_config, wait_until


def switchable(name: str = "nightly", **options: Any) -> tuple[Any, dict[str, bool]]:
    """A task that fails while ``flag["fail"]`` is set."""
    flag = {"fail": True}

    @task(name, description="nightly customer sync", retry={"max_retries": 0}, **options)
    async def run_it() -> dict[str, Any]:
        if flag["fail"]:
            raise RuntimeError("upstream said no (password=hunter2)")
        return {"success": True, "message": "ok"}

    return run_it, flag


def hook(receiver: Receiver, path: str = "/alerts") -> str:
    return f"json://127.0.0.1:{receiver.port}{path}"


def titles(receiver: Receiver, path: str = "/alerts") -> list[str]:
    return [r.json()["title"] for r in receiver.on(path)]


async def settle(monitor: Monitor) -> None:
    """Wait until the events received so far are evaluated and their messages delivered."""
    await asyncio.sleep(0.05)  # events published just now reach the monitor's queue
    await asyncio.wait_for(monitor._queue.join(), 5)
    if monitor.sender is not None:
        await asyncio.wait_for(
            asyncio.gather(*(q.join() for q in monitor.sender._queues.values())), 10
        )


async def test_failed_once_per_streak_then_recovered(
    make_monitored: MakeMonitored, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="schedkit.monitor")
    t, flag = switchable()
    s, mon = await make_monitored(
        t, settings=alert_settings([hook(receiver)], base_url="http://console")
    )
    for _ in range(5):
        run = await s.run_now("nightly", wait=True, timeout=5)
        assert run.status is RunStatus.FAILED
    await settle(mon)
    assert titles(receiver) == ["[ERROR] Task failed: nightly"]
    body = receiver.on("/alerts")[0].json()["message"]
    assert "Error: RuntimeError: upstream said no (password=***)" in body
    assert "Description: nightly customer sync" in body and "Schedule: manual run" in body
    assert "Details: http://console/runs/" in body
    flag["fail"] = False
    await s.run_now("nightly", wait=True, timeout=5)
    await s.run_now("nightly", wait=True, timeout=5)
    await receiver.wait("/alerts", 2)
    await settle(mon)
    assert titles(receiver) == ["[ERROR] Task failed: nightly", "[OK] Task recovered: nightly"]
    assert "Failures in a row: 5" in receiver.on("/alerts")[1].json()["message"]
    samples = {
        (s_.labels.get("task"), s_.labels.get("kind")): s_.value
        for metric in mon.metrics.registry.collect()
        if metric.name == "schedkit_alerts"
        for s_ in metric.samples
        if s_.name == "schedkit_alerts_total"
    }
    assert samples == {("nightly", "failed"): 1, ("nightly", "recovered"): 1}
    # An audit: "alert failed for task nightly" read as a failed delivery when grepped,
    # and a recovery was logged as a warning.
    raised = [
        (r.levelname, r.getMessage().split(" (run ")[0])
        for r in caplog.records
        if r.getMessage().startswith("raised alert")
    ]
    assert raised == [
        ("WARNING", "raised alert 'failed' for task nightly"),
        ("INFO", "raised alert 'recovered' for task nightly"),
    ]


async def test_retries_are_not_failures_until_the_last(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    calls = {"n": 0}

    @task("flaky", retry={"max_retries": 2, "retry_delay": 0.05, "jitter": 0})
    async def flaky() -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError("transient")

    s, mon = await make_monitored(flaky, settings=alert_settings([hook(receiver)]))
    run = await s.run_now("flaky", wait=True, timeout=5)
    assert run.status is RunStatus.SUCCESS and run.attempt == 3
    await settle(mon)
    assert titles(receiver) == []


async def test_consecutive_failures_per_task_rules(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    t, _ = switchable()
    settings = alert_settings(
        [hook(receiver)], tasks={"nightly": {"failed": False, "consecutive_failures": 3}}
    )
    s, mon = await make_monitored(t, settings=settings)
    for i in range(5):
        await s.run_now("nightly", wait=True, timeout=5)
        await settle(mon)
        assert len(titles(receiver)) == (1 if i >= 2 else 0)
    assert titles(receiver) == ["[CRITICAL] Task failed 3 times in a row: nightly"]


async def test_a_failure_streak_is_reminded_of_without_another_failure(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    """An audit: a reminder went out only with the task's next failure, so a daily job
    that failed once stayed broken all day without one (monitoring.md: "goes out at
    that interval")."""
    t, _flag = switchable()
    clock = OffsetClock()
    settings = alert_settings([hook(receiver)], rules={"reminder_interval": 120})
    s, mon = await make_monitored(t, clock=clock, settings=settings)
    await s.run_now("nightly", wait=True, timeout=5)
    await receiver.wait("/alerts", 1, timeout=5)
    clock.advance(timedelta(seconds=61))  # past the monitor's look, not the interval
    await asyncio.sleep(0.3)
    assert titles(receiver) == ["[ERROR] Task failed: nightly"]
    clock.advance(timedelta(seconds=60))
    (_, reminder) = await receiver.wait("/alerts", 2, timeout=5)
    assert reminder.json()["title"] == "(Reminder) [ERROR] Task failed: nightly"
    assert "Error: RuntimeError: upstream said no" in reminder.json()["message"]
    await asyncio.sleep(0.3)
    await settle(mon)
    assert len(receiver.on("/alerts")) == 2  # once per interval


async def test_no_reminders_for_a_paused_task(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    """An on-call audit: reminders kept coming for tasks the operator had paused (an
    acknowledgement); they come back when the task is resumed and still failing."""
    t, _flag = switchable()
    clock = OffsetClock()
    settings = alert_settings([hook(receiver)], rules={"reminder_interval": 120})
    s, mon = await make_monitored(t, clock=clock, settings=settings)
    await s.add_task("nightly", {"trigger": "cron", "hour": 2, "minute": 0})
    await s.run_now("nightly", wait=True, timeout=5)
    await receiver.wait("/alerts", 1, timeout=5)
    await s.pause_task("nightly", "known: upstream down until Monday")
    clock.advance(timedelta(seconds=121))  # a reminder is due, and the monitor looks
    with pytest.raises(AssertionError, match="not met"):  # (every check_interval: 0.1 s)
        await receiver.wait("/alerts", 2, timeout=1.0)
    await settle(mon)
    assert titles(receiver) == ["[ERROR] Task failed: nightly"]
    await s.resume_task("nightly")
    clock.advance(timedelta(seconds=61))  # the monitor looks again once a minute
    (_, reminder) = await receiver.wait("/alerts", 2, timeout=5)
    assert reminder.json()["title"] == "(Reminder) [ERROR] Task failed: nightly"


async def test_too_long_skips_a_run_whose_node_is_dead(make_monitored: MakeMonitored) -> None:
    """An audit: a node killed -9 and restarted 45 s later got "still running" (too_long)
    and "lost" in the same second for the run it had left."""
    s, mon = await make_monitored(
        settings=alert_settings([], rules={"too_long": 10}), scheduler={"lost_after": 30}
    )
    run = Run(
        id=new_id(),
        task_name="elsewhere",  # registered on no node here: only the ghost claims it
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=datetime.now(UTC),
    )
    await s.store.insert_runs([run])
    [claimed] = await s.store.claim_runs("ghost", datetime.now(UTC), 1, run_ids=[run.id])
    assert claimed.started_at is not None
    soon = await long_runs(s, mon.rules_for, claimed.started_at + timedelta(seconds=20), 100)
    assert [r.id for r, _ in soon["elsewhere"]] == [run.id]  # silent 20 s: still running
    later = await long_runs(s, mon.rules_for, claimed.started_at + timedelta(seconds=45), 100)
    assert later == {}  # silent 45 s, its node gone: the reaper's, not too_long's
    # The reaper's reason for it names the time in the zone alerts show.
    assert s._loop.reaper.tz == ZoneInfo("Asia/Shanghai")


async def test_too_long_fires_while_the_run_is_still_running(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    release = asyncio.Event()

    @task("slow")
    async def slow() -> None:
        await release.wait()

    s, mon = await make_monitored(
        slow, settings=alert_settings([hook(receiver)], rules={"too_long": 0.3})
    )
    run = await s.run_now("slow")
    (msg,) = await receiver.wait("/alerts", 1, timeout=5)
    assert (await s.get_run(run.id)).status is RunStatus.RUNNING
    assert msg.json()["title"] == "[WARNING] Task running too long: slow"
    assert "(still running)" in msg.json()["message"]
    assert "Threshold: 0.3 s" in msg.json()["message"]
    release.set()
    assert (await s.wait_for_run(run.id, 5)).status is RunStatus.SUCCESS
    await settle(mon)
    assert len(receiver.on("/alerts")) == 1  # not again at its end


async def test_missed_fires_after_downtime_one_alert(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    @task("every_second", schedule={"trigger": "interval", "seconds": 1, "misfire_grace_time": 0.5})
    async def every_second() -> None:
        return None

    clock = OffsetClock()
    s, _mon = await make_monitored(
        every_second, clock=clock, settings=alert_settings([hook(receiver)])
    )
    await s.stop(grace=0)
    clock.advance(timedelta(seconds=20))  # twenty fires pass while the node is down
    s2, mon2 = await make_monitored(
        every_second, clock=clock, settings=alert_settings([hook(receiver)])
    )
    await wait_until(lambda: len(receiver.on("/alerts")) >= 1, 5)
    await asyncio.sleep(0.5)
    await settle(mon2)
    missed = await s2.count_runs("every_second", status=RunStatus.MISSED)
    assert missed >= 15
    assert titles(receiver) == ["[WARNING] Fire missed: every_second"]
    body = receiver.on("/alerts")[0].json()["message"]
    assert "Status: missed" in body and "Schedule: every second" in body
    assert "over misfire_grace_time 0.5 s" in body
    # An audit: "2 fires of … missed" in the log, the alert said nothing of a count.
    counted = re.search(r"Fires missed: (\d+)", body)
    assert counted and int(counted.group(1)) >= 15, body


async def test_overlap_skip_is_a_missed_alert(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    release = asyncio.Event()

    @task(
        "busy",
        schedule={
            "trigger": "interval",
            "seconds": 0.3,
            "max_instances": 1,
            "overlap": "skip",
            "misfire_grace_time": 60,
        },
    )
    async def busy() -> None:
        await release.wait()

    _s, _mon = await make_monitored(
        busy, settings=alert_settings([hook(receiver)], rules={"too_long": 0})
    )
    (msg,) = await receiver.wait("/alerts", 1, timeout=5)
    assert msg.json()["title"] == "[WARNING] Fire missed: busy"
    assert "overlap policy skip" in msg.json()["message"]
    await asyncio.sleep(0.7)  # more skips: same episode, no new alert
    assert len(receiver.on("/alerts")) == 1
    release.set()


async def test_late_run_alerts_while_waiting(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    t, _ = switchable("queued")
    # This node executes nothing, so the run waits; the monitor (leader) sees it late.
    s, _mon = await make_monitored(
        t,
        executor={"enabled": False},
        settings=alert_settings([hook(receiver)], rules={"late_after": 0.3}),
    )
    run = await s.run_now("queued")
    (msg,) = await receiver.wait("/alerts", 1, timeout=5)
    assert msg.json()["title"] == "[WARNING] Run started late: queued"
    assert "(not started yet)" in msg.json()["message"]
    assert run.id in msg.json()["message"]
    await asyncio.sleep(0.5)
    assert len(receiver.on("/alerts")) == 1


@pytest.mark.parametrize(
    ("language", "said"),
    [("zh", "没有在线节点提供此运行所需的标签 gpu"), ("en", "no live node offers the labels gpu")],
)
async def test_late_alert_of_a_run_no_node_can_take_says_why(
    make_monitored: MakeMonitored, receiver: Receiver, language: str, said: str
) -> None:
    # This node executes, but offers no "gpu": the run waits, and the alert says why.
    t, _ = switchable("render", labels=["gpu"])
    s, _mon = await make_monitored(
        t,
        executor={"labels": ["reports"]},
        settings=alert_settings([hook(receiver)], rules={"late_after": 0.3}, language=language),
    )
    run = await s.run_now("render")
    (msg,) = await receiver.wait("/alerts", 1, timeout=5)
    assert said in msg.json()["message"]
    assert (await s.get_run(run.id)).status is RunStatus.PENDING


async def test_late_alert_of_a_run_whose_task_no_node_has_says_why(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    # Its code deployed away: this node, the only one, runs other tasks.
    t, _ = switchable("current")
    s, _mon = await make_monitored(
        t, settings=alert_settings([hook(receiver)], rules={"late_after": 0.3})
    )
    run = Run(
        id=new_id(),
        task_name="old_report",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=datetime.now(UTC),
    )
    await s.store.insert_runs([run])
    (msg,) = await receiver.wait("/alerts", 1, timeout=5)
    assert msg.json()["title"] == "[WARNING] Run started late: old_report"
    assert "task 'old_report' is not registered on any live node" in msg.json()["message"]


async def test_no_resend_after_restart(make_monitored: MakeMonitored, receiver: Receiver) -> None:
    t, flag = switchable()
    s, mon = await make_monitored(t, settings=alert_settings([hook(receiver)]))
    await s.run_now("nightly", wait=True, timeout=5)
    await settle(mon)
    await s.stop()
    assert titles(receiver) == ["[ERROR] Task failed: nightly"]
    state = await _state(s, "nightly")
    assert state is not None and state.value["streak"] == 1

    # A new process on the same store: the streak goes on, nothing is sent again ...
    s2, mon2 = await make_monitored(t, settings=alert_settings([hook(receiver)]))
    for _ in range(3):
        await s2.run_now("nightly", wait=True, timeout=5)
    await settle(mon2)
    assert titles(receiver) == ["[ERROR] Task failed: nightly"]
    # ... and the recovery is sent exactly once.
    flag["fail"] = False
    await s2.run_now("nightly", wait=True, timeout=5)
    await receiver.wait("/alerts", 2)
    await settle(mon2)
    assert titles(receiver)[1:] == ["[OK] Task recovered: nightly"]
    assert "Failures in a row: 4" in receiver.on("/alerts")[1].json()["message"]


async def test_two_nodes_send_once(make_monitored: MakeMonitored, receiver: Receiver) -> None:
    t, _ = switchable()
    a, mon_a = await make_monitored(t, settings=alert_settings([hook(receiver)]))
    b, mon_b = await make_monitored(t, settings=alert_settings([hook(receiver)]))
    runs = await asyncio.gather(
        *(node.run_now("nightly", wait=True, timeout=5) for node in (a, b, a, b, a, b))
    )
    assert {r.node_id for r in runs} == {a.node_id, b.node_id}
    assert all(r.status is RunStatus.FAILED for r in runs)
    await settle(mon_a)
    await settle(mon_b)
    assert titles(receiver) == ["[ERROR] Task failed: nightly"]
    state = await _state(a, "nightly")
    assert state is not None and state.value["streak"] == 6


async def test_dead_channels_neither_slow_nor_fail_runs(
    make_monitored: MakeMonitored, receiver: Receiver, dead_port: int, blackhole: int
) -> None:
    t, _flag = switchable()
    ok_task, _ = switchable("other")
    settings = alert_settings(
        [f"json://127.0.0.1:{dead_port}/", f"json://127.0.0.1:{blackhole}/", hook(receiver)],
        delivery={"timeout": 0.3, "retries": 2, "retry_delay": 0.1, "unhealthy_after": 1},
        rules={"reminder_interval": 0.01},
    )
    s, mon = await make_monitored(t, ok_task, settings=settings)
    durations = []
    for _ in range(4):
        started = time.monotonic()
        run = await s.run_now("nightly", wait=True, timeout=5)
        durations.append(time.monotonic() - started)
        assert run.status is RunStatus.FAILED  # the task's own outcome, untouched
    # Delivery to the dead channels takes 1.2 s per alert (3 tries of 0.3 s, 0.1 and
    # 0.2 s apart): a run waiting for it would be slow every time. One slow wait alone is
    # the machine (CI: 0.06, 1.37, 0.05, 0.05 s under load).
    assert sorted(durations)[-2] < 1.0, durations
    # the healthy channel got every alert raised while the other two were failing
    # (failure + reminders; events arriving together share one reminder). run_now
    # returns before the monitor has the last run's event: count alerts only once all
    # four failures are in, or a reminder raised after the count is "sent" beyond it.
    await wait_until(lambda: _total(mon, "schedkit_runs", status="failed") == 4)
    await asyncio.wait_for(mon._queue.join(), 5)
    raised = _total(mon, "schedkit_alerts")
    assert raised >= 2
    await receiver.wait("/alerts", int(raised))

    def both_down() -> bool:
        status = {c["name"]: c for c in mon.status()["channels"]}
        return not status["json"]["healthy"] and not status["json-2"]["healthy"]

    await wait_until(both_down, 10)
    status = {c["name"]: c for c in mon.status()["channels"]}
    assert status["json-3"]["healthy"] is True and status["json-3"]["sent"] == raised
    assert "hunter2" not in str(mon.status())


def _total(mon: Monitor, metric_name: str, **labels: str) -> float:
    """A counter's total over the samples whose labels include ``labels``."""
    return sum(
        sample.value
        for metric in mon.metrics.registry.collect()
        if metric.name == metric_name
        for sample in metric.samples
        if sample.name == metric_name + "_total"
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def _state(s: Scheduler, task_name: str) -> Any:
    store = s.store
    if not s.started:
        await store.open()
        try:
            return await store.get_state(STATE_PREFIX + task_name)
        finally:
            await store.close()
    return await store.get_state(STATE_PREFIX + task_name)


async def test_disabled_alerts_send_nothing_but_metrics_move(
    store_path: str, receiver: Receiver
) -> None:
    t, _ = switchable()
    registry = TaskRegistry()
    registry.register_task(t)
    mon = Monitor()  # settings from config: [alerts] enabled = false
    config = fast_config(store_path, alerts={"enabled": False, "channels": [hook(receiver)]})
    async with Scheduler(config, registry=registry, extensions=[mon]) as s:
        await s.run_now("nightly", wait=True, timeout=5)
        await asyncio.sleep(0.2)
        assert mon.sender is None
        assert await s.store.count_runs(RunFilter(statuses=frozenset({RunStatus.FAILED}))) == 1
    assert receiver.on("/") == []
    text = mon.metrics.render().decode()
    assert 'schedkit_runs_total{status="failed",task="nightly"} 1.0' in text


def test_a_monitor_started_again_in_another_event_loop_alerts(
    receiver: Receiver, tmp_path: Any
) -> None:
    """A first user's finding: ``extensions=[Monitor()]`` in an app whose lifespan is
    entered twice (each ``TestClient`` runs it in an event loop of its own). The second
    time no alert went out, without a word: the monitor's event queue belonged to the
    first event loop, and the task reading it died at its first read."""
    t, flag = switchable()
    registry = TaskRegistry()
    registry.register_task(t)
    monitor = Monitor(settings=alert_settings([hook(receiver)]))
    s = Scheduler(
        fast_config(f"sqlite:///{tmp_path / 'm.db'}"), registry=registry, extensions=[monitor]
    )

    async def session() -> None:
        async with s:
            flag["fail"] = True
            await s.run_now("nightly", wait=True, timeout=5)
            flag["fail"] = False
            await s.run_now("nightly", wait=True, timeout=5)
            await settle(monitor)

    asyncio.run(session())
    asyncio.run(session())
    assert titles(receiver) == ["[ERROR] Task failed: nightly", "[OK] Task recovered: nightly"] * 2


async def test_backfilled_runs_and_what_they_start_are_not_late(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    """Audit finding: backfilling past days sent "started late ... waited 140 hours".
    Backfill runs are asked for, not late (docs/backfill.md); a run a backfilled run
    starts (depends_on) counts from when it was created, not from the old fire time."""
    t, flag = switchable("refill")
    flag["fail"] = False

    @task("after_refill", description="runs after refill", depends_on=("refill",))
    async def after() -> dict[str, Any]:
        return {"success": True, "message": "ok"}

    s, mon = await make_monitored(
        t, after, settings=alert_settings([hook(receiver)], rules={"late_after": 60})
    )
    await s.add_task("refill", {"trigger": "cron", "hour": 9, "minute": 0}, schedule_id="daily")
    today = s.clock.now().astimezone(s.tz).date()
    done = await s.backfill("daily", today - timedelta(days=6), today - timedelta(days=4))
    assert done.created == 3

    async def finished() -> int:
        found = await s.list_runs(status=RunStatus.SUCCESS, limit=50)
        return len(found)

    deadline = time.monotonic() + 15
    while await finished() < 6:  # 3 backfill runs, 3 runs they started
        assert time.monotonic() < deadline, await s.list_runs(limit=50)
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # periodic checks run too
    await settle(mon)
    assert titles(receiver) == []


async def test_pending_backfill_runs_are_not_reported_late(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    t, _ = switchable("refill_waiting")
    # This node executes nothing: the backfill's runs wait, as the periodic check sees.
    s, mon = await make_monitored(
        t,
        executor={"enabled": False},
        settings=alert_settings([hook(receiver)], rules={"late_after": 0.3}),
    )
    await s.add_task("refill_waiting", {"trigger": "cron", "hour": 9}, schedule_id="daily")
    today = s.clock.now().astimezone(s.tz).date()
    await s.backfill("daily", today - timedelta(days=3), today - timedelta(days=2), concurrency=2)
    await asyncio.sleep(1.0)
    await settle(mon)
    assert titles(receiver) == []
    # A manual run in the same wait is still reported late (the rule works here).
    await s.run_now("refill_waiting")
    (msg,) = await receiver.wait("/alerts", 1, timeout=5)
    assert msg.json()["title"] == "[WARNING] Run started late: refill_waiting"
