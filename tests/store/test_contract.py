"""The store contract, records: what goes in comes back, and the history queries.

Every rule of ``schedkit.store.base`` is pinned here or in ``test_contract_atomic.py``, on
every backend (the ``store`` / ``store_url`` fixtures of ``tests/conftest.py``). Only the
public :class:`~schedkit.store.Store` API is used, so the suite runs unchanged on SQLite,
PostgreSQL and MongoDB.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

import schedkit.store
from schedkit.errors import StoreNotFoundError
from schedkit.models import (
    ApiToken,
    AuditEvent,
    LogLine,
    Node,
    OverlapPolicy,
    Run,
    RunFilter,
    RunStatus,
    TriggerSource,
    new_id,
)
from schedkit.store import FireRecord, LeaseFence, ScheduleAdvance, Store, create_store
from tests.store._contract import (
    CHINESE,
    SEC,
    T0,
    add_runs,
    adv,
    assert_utc,
    claim_one,
    claim_one_of,
    fin,
    make_run,
    make_schedule,
    outcome,
    seed,
)

# -- lifecycle ------------------------------------------------------------------------


async def test_open_again_keeps_data_and_close_is_idempotent(store_url: str) -> None:
    first = create_store(store_url)
    await first.open()
    await first.open()  # idempotent
    version = await first.schema_version()
    assert version >= 1
    await first.ping()
    run = make_run()
    await add_runs(first, run)
    await first.close()
    await first.close()  # safe twice

    async with create_store(store_url) as second:  # opens an existing store: no reset
        assert await second.schema_version() == version
        assert await second.get_run(run.id) == run


async def test_open_without_create_refuses_a_database_holding_no_store(store_url: str) -> None:
    """What read commands open with: a mistyped database name must not get a store."""
    for _ in range(2):  # the refusal created nothing: refused again
        with pytest.raises(StoreNotFoundError, match="holds no schedkit store"):
            await create_store(store_url).open(create=False)
    async with create_store(store_url):
        pass
    existing = create_store(store_url)
    await existing.open(create=False)
    try:
        assert existing.found_version == await existing.schema_version()
    finally:
        await existing.close()


async def test_server_time_is_the_servers_clock_or_none(store: Store) -> None:
    """PostgreSQL and MongoDB tell their server's time (here on this machine, so close to
    ours); SQLite, which has no server, none."""
    before = datetime.now(UTC)
    told = await store.server_time()
    after = datetime.now(UTC)
    if store.display_url.startswith("sqlite"):
        assert told is None
        return
    assert told is not None and told.utcoffset() == timedelta(0)
    # FerretDB's time has millisecond precision, so it may read up to 1 ms before ours.
    assert before - timedelta(milliseconds=2) <= told <= after + timedelta(milliseconds=2)


# -- schedules --------------------------------------------------------------------------


async def test_schedule_round_trip_replace_list_delete(store: Store) -> None:
    schedule = make_schedule(
        id="月结-1",
        task_name=CHINESE,
        trigger={
            "trigger": "cron",
            "hour": "2",
            "timezone": "Asia/Shanghai",
            "nested": [1, {"a": None}],
        },
        kwargs={"区域": "华东", "ids": [1, 2, 3], "deep": {"x": {"y": [True, False, None, 1.25]}}},
        paused=True,
        pause_note=CHINESE,
        misfire_grace_time=None,
        coalesce=False,
        max_instances=3,
        overlap=OverlapPolicy.QUEUE_ONE,
        timeout=12.5,
        origin="api",
        next_fire_time=T0,
        last_fire_time=T0 - 86400 * SEC,
        version=7,
    )
    await seed(store, schedule)
    got = await store.get_schedule("月结-1")
    assert got == schedule
    assert got is not None
    for value in (got.next_fire_time, got.last_fire_time, got.created_at, got.updated_at):
        assert_utc(value)
    assert isinstance(got.overlap, OverlapPolicy)

    replaced = replace(schedule, kwargs={}, paused=False, pause_note=None, version=8)
    await seed(store, replaced)
    assert await store.get_schedule("月结-1") == replaced

    other = make_schedule(id="a-first", task_name="other")
    await seed(store, other)
    assert [s.id for s in await store.list_schedules()] == ["a-first", "月结-1"]
    assert await store.list_schedules(task_name="other") == [other]
    assert await store.list_schedules(task_name="nobody") == []

    assert await store.delete_schedule("a-first") is True
    assert await store.delete_schedule("a-first") is False
    assert await store.get_schedule("a-first") is None


async def test_due_schedules_and_next_fire_time_ignore_paused(store: Store) -> None:
    assert await store.next_fire_time() is None
    assert await store.due_schedules(T0, 10) == []
    await seed(store, make_schedule(id="paused", next_fire_time=T0 - 60 * SEC, paused=True))
    await seed(store, make_schedule(id="none", next_fire_time=None))
    assert await store.next_fire_time() is None  # only paused / unscheduled ones

    await seed(store, make_schedule(id="c", next_fire_time=T0 + SEC))
    await seed(store, make_schedule(id="b", next_fire_time=T0))
    await seed(store, make_schedule(id="a", next_fire_time=T0 - 5 * SEC))
    await seed(store, make_schedule(id="later", next_fire_time=T0 + 3600 * SEC))

    assert await store.next_fire_time() == T0 - 5 * SEC
    due = await store.due_schedules(T0 + SEC, 10)  # ``until`` is inclusive
    assert [s.id for s in due] == ["a", "b", "c"]
    assert [s.id for s in await store.due_schedules(T0 + SEC, 2)] == ["a", "b"]
    assert [s.id for s in await store.due_schedules(T0 - 10 * SEC, 10)] == []


async def test_advance_schedules_honours_version(store: Store) -> None:
    await seed(store, make_schedule(id="a", version=3))
    await seed(store, make_schedule(id="b", version=1))
    nxt, last = T0 + 3600 * SEC, T0
    applied = await store.advance_schedules(
        [adv("a", 3, nxt, last), adv("b", 2, nxt, last), adv("missing", 1, nxt, last)]
    )
    assert applied == 1
    a, b = await store.get_schedule("a"), await store.get_schedule("b")
    assert a is not None and b is not None
    assert (a.next_fire_time, a.last_fire_time, a.version) == (nxt, last, 3)
    assert (b.next_fire_time, b.last_fire_time) == (T0, None)  # stale version: untouched
    # A schedule that has no next fire any more.
    assert await store.advance_schedules([adv("a", 3, None, nxt)]) == 1
    a = await store.get_schedule("a")
    assert a is not None and (a.next_fire_time, a.last_fire_time) == (None, nxt)
    assert await store.advance_schedules([]) == 0


@pytest.mark.timeout(60)
async def test_a_tick_advances_150_schedules_in_one_call(store: Store) -> None:
    # A leader's tick over many due schedules advances them all at once. FerretDB v1
    # never answered an update command holding 100 single-document updates: the MongoDB
    # store's advance of 100+ schedules hung (found by the fire-rate benchmark).
    ids = [f"s{i:03d}" for i in range(150)]
    await store.insert_schedules([make_schedule(id=sid) for sid in ids])
    nxt = T0 + 3600 * SEC
    assert await store.advance_schedules([adv(sid, 1, nxt, T0) for sid in ids]) == 150
    stored = await store.get_schedules(ids)
    assert len(stored) == 150
    assert {(s.next_fire_time, s.last_fire_time) for s in stored} == {(nxt, T0)}


async def test_due_schedule_keys_and_get_schedules(store: Store) -> None:
    await seed(store, make_schedule(id="b", next_fire_time=T0, version=4))
    await seed(store, make_schedule(id="a", next_fire_time=T0 - SEC, version=2))
    await seed(store, make_schedule(id="p", next_fire_time=T0, paused=True))
    await seed(store, make_schedule(id="later", next_fire_time=T0 + 60 * SEC))
    keys = await store.due_schedule_keys(T0, 10)
    assert keys == [("a", 2, T0 - SEC), ("b", 4, T0)]  # due_schedules' rows, order and limit
    assert keys == [(s.id, s.version, s.next_fire_time) for s in await store.due_schedules(T0, 10)]
    assert await store.due_schedule_keys(T0, 1) == [("a", 2, T0 - SEC)]
    assert_utc(keys[0][2])
    got = await store.get_schedules(["b", "missing", "a", "b"])
    assert sorted(got, key=lambda s: s.id) == [
        await store.get_schedule("a"),
        await store.get_schedule("b"),
    ]
    assert await store.get_schedules([]) == []


async def test_record_fires_inserts_and_advances_only_schedules_still_at_their_version(
    store: Store,
) -> None:
    await seed(store, make_schedule(id="kept", version=1))
    await seed(store, make_schedule(id="edited", version=2))  # changed since read
    nxt = T0 + 3600 * SEC
    kept_run = make_run(schedule_id="kept")
    kept_skip = make_run(schedule_id="kept", scheduled_for=T0 - SEC, status=RunStatus.SKIPPED)
    edited_run = make_run(schedule_id="edited")
    deleted_run = make_run(schedule_id="deleted")
    manual = make_run(schedule_id=None)  # in no advance: inserted as insert_runs would
    record = await store.record_fires(
        [kept_run, kept_skip, edited_run, deleted_run, manual],
        [adv("kept", 1, nxt, T0), adv("edited", 1, nxt, T0), adv("deleted", 1, nxt, T0)],
        fence=None,
        now=T0,
    )
    assert sorted(record.inserted) == sorted([kept_run.id, kept_skip.id, manual.id])
    assert record.advanced == 1
    kept, edited = await store.get_schedule("kept"), await store.get_schedule("edited")
    assert kept is not None and (kept.next_fire_time, kept.last_fire_time) == (nxt, T0)
    assert edited is not None and edited.next_fire_time == T0  # untouched
    assert await store.get_run(edited_run.id) is None
    # Fenced like insert_runs: the same fire again inserts nothing, and counts nothing
    # (the advance that stored its run counted it).
    again = make_run(schedule_id="kept")
    assert await store.record_fires(
        [again], [adv("kept", 1, nxt, T0)], fence=None, now=T0
    ) == FireRecord(inserted=[], advanced=1, recounted={"kept": 0})
    assert await store.record_fires([], [], fence=None, now=T0) == FireRecord(
        inserted=[], advanced=0
    )


# -- runs: records ------------------------------------------------------------------------


async def test_run_round_trip_every_field(store: Store) -> None:
    run = make_run(
        task_name=CHINESE,
        schedule_id="日报",
        trigger_source=TriggerSource.CATCH_UP,
        scheduled_for=T0,
        status=RunStatus.FAILED,
        priority=5,
        attempt=2,
        max_attempts=4,
        kwargs={"客户": ["张三", "李四"], "n": 3, "f": 0.1, "deep": {"a": [{"b": None}]}},
        not_before=T0 + SEC,
        blocked_by="other-run",
        node_id="节点-1",
        started_at=T0 + 2 * SEC,
        finished_at=T0 + 3 * SEC,
        heartbeat_at=T0 + 2.5 * SEC,
        duration=0.999999,
        result={"rows": 3, "msg": CHINESE, "list": [1, [2, [3, {"4": "五"}]]]},
        error={"type": "ValueError", "message": CHINESE, "traceback": "line 1\nline 2"},
        attempt_errors=[{"attempt": 1, "message": "首次失败"}],
        progress={"done": 3, "total": 10, "note": CHINESE},
        reason=CHINESE,
        cancel_requested=True,
        timeout=30.0,
        created_at=T0 - SEC,
        created_by="张三",
    )
    await add_runs(store, run)
    got = await store.get_run(run.id)
    assert got == run
    assert got is not None
    for value in (
        got.scheduled_for,
        got.not_before,
        got.started_at,
        got.finished_at,
        got.heartbeat_at,
        got.created_at,
    ):
        assert_utc(value)
    assert isinstance(got.status, RunStatus)
    assert isinstance(got.trigger_source, TriggerSource)
    assert await store.get_run("unknown") is None


async def test_datetimes_in_any_zone_come_back_utc_with_exact_microseconds(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    instants = [T0.replace(microsecond=m) for m in (0, 1, 999_999, 500_001)]
    runs = [
        make_run(schedule_id=f"s{i}", scheduled_for=at.astimezone(shanghai))
        for i, at in enumerate(instants)
    ]
    await add_runs(store, *runs)
    for run, at in zip(runs, instants, strict=True):
        got = await store.get_run(run.id)
        assert got is not None
        assert got.scheduled_for == at
        assert got.scheduled_for.microsecond == at.microsecond
        assert_utc(got.scheduled_for)


async def test_naive_datetime_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.insert_runs([make_run(scheduled_for=T0.replace(tzinfo=None))])
    assert await store.count_runs() == 0


async def test_large_result_round_trips(store: Store) -> None:
    """A result just under MAX_RESULT_BYTES (the engine's limit) must store intact."""
    result = {
        "rows": [{"id": i, "name": f"客户{i}", "amount": i * 1.25} for i in range(18_000)],
        "note": "x" * 1000,
    }
    compact = len(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode())
    assert 850_000 < compact < schedkit.store.MAX_RESULT_BYTES
    run = make_run()
    await add_runs(store, run)
    await claim_one(store, run)
    assert await store.finish_run(fin(run.id, 1, "n1", outcome(result=result)))
    got = await store.get_run(run.id)
    assert got is not None and got.result == result


async def test_update_progress(store: Store) -> None:
    run = make_run()
    await add_runs(store, run)
    progress = {"done": 5, "total": 10, "note": CHINESE, "updated_at": T0.isoformat()}
    await store.update_progress(run.id, progress)
    got = await store.get_run(run.id)
    assert got is not None and got.progress == progress


async def test_active_runs_pending_and_running_oldest_first(store: Store) -> None:
    old, mid, new = (make_run(scheduled_for=T0 + i * SEC) for i in range(3))
    done = make_run(scheduled_for=T0 - SEC, status=RunStatus.SUCCESS, finished_at=T0)
    other = make_run(schedule_id="other", scheduled_for=T0 - 2 * SEC)
    await add_runs(store, new, done, old, other, mid)
    await claim_one_of(store, old)
    assert [r.id for r in await store.active_runs("s")] == [old.id, mid.id, new.id]
    assert await store.active_runs("nothing") == []


async def test_active_runs_of_many_schedules(store: Store) -> None:
    a1 = make_run(schedule_id="a", kwargs={"区域": ["华东", 1.5, None]}, timeout=2.5)
    a2 = make_run(schedule_id="a", scheduled_for=T0 + SEC, blocked_by=a1.id)
    b1 = make_run(schedule_id="b", priority=9)  # claimed first
    done = make_run(schedule_id="b", scheduled_for=T0 - SEC, status=RunStatus.FAILED)
    await add_runs(store, a2, b1, a1, done, make_run(schedule_id="c"))
    await claim_one_of(store, b1)
    found = await store.active_runs_of(["b", "a", "none"])
    assert {sid: [r.id for r in runs] for sid, runs in found.items()} == {
        "a": [a1.id, a2.id],
        "b": [b1.id],
        "none": [],
    }
    assert found["b"][0].status is RunStatus.RUNNING
    # Every field as get_run reads it (the SQLite store decodes these rows itself).
    assert found["b"][0] == await store.get_run(b1.id)
    assert found["a"] == [await store.get_run(a1.id), await store.get_run(a2.id)]
    assert await store.active_runs_of([]) == {}


# -- log lines ------------------------------------------------------------------------------


async def test_logs_round_trip_in_seq_order(store: Store) -> None:
    run_id, other = new_id(), new_id()
    lines = [
        LogLine(
            run_id=run_id,
            seq=seq,
            attempt=1 + seq // 3,
            ts=T0 + seq * SEC,
            level="INFO" if seq % 2 else "ERROR",
            logger="schedkit.task.日报",
            message=f"{CHINESE} #{seq}\nsecond line",
        )
        for seq in range(6)
    ]
    await store.append_logs(lines[3:])
    await store.append_logs(lines[:3])
    await store.append_logs([replace(lines[0], run_id=other)])
    await store.append_logs([])
    got = await store.get_logs(run_id)
    assert got == lines
    for line in got:
        assert_utc(line.ts)
    assert await store.get_logs(run_id, after_seq=3) == lines[4:]
    assert await store.get_logs(run_id, after_seq=0, limit=2) == lines[1:3]
    assert await store.get_logs("unknown") == []


# -- nodes, audit, tokens, key/value ----------------------------------------------------------


async def test_nodes(store: Store) -> None:
    node = Node(
        id="n2",
        hostname="主机-1",
        pid=4242,
        started_at=T0,
        heartbeat_at=T0,
        roles=["scheduler", "executor"],
        version="0.1.0",
        info={"cpu": 2, "备注": CHINESE},
    )
    await store.upsert_node(node)
    other = Node(id="n1", hostname="h", pid=1, started_at=T0, heartbeat_at=T0)
    await store.upsert_node(other)
    assert await store.list_nodes() == [other, node]
    beat = replace(node, heartbeat_at=T0 + 5 * SEC, roles=["executor"])
    await store.upsert_node(beat)
    assert await store.list_nodes() == [other, beat]
    assert await store.delete_node("n1") is True
    assert await store.delete_node("n1") is False
    assert await store.list_nodes() == [beat]


async def test_audit_events(store: Store) -> None:
    events = [
        AuditEvent(
            id=new_id(),
            at=T0 + i * SEC,
            actor=actor,
            action=action,
            target=target,
            before={"paused": False} if i == 1 else None,
            after={"paused": True, "note": CHINESE} if i == 1 else None,
            detail=f"{CHINESE} {i}",
        )
        for i, (actor, action, target) in enumerate(
            [
                ("alice", "schedule.create", "s1"),
                ("bob", "schedule.pause", "s1"),
                ("alice", "run.cancel", "r9"),
                ("张三", "schedule.pause", "s2"),
            ]
        )
    ]
    for event in events:
        await store.add_audit(event)
    assert await store.list_audit() == events[::-1]  # newest first
    assert await store.list_audit(limit=2, offset=1) == [events[2], events[1]]
    assert await store.list_audit(actor="alice") == [events[2], events[0]]
    assert await store.list_audit(action="schedule.pause") == [events[3], events[1]]
    assert await store.list_audit(target="s1", actor="bob") == [events[1]]
    assert await store.list_audit(actor="张三") == [events[3]]
    assert await store.count_audit() == 4
    assert await store.count_audit(action="schedule.pause") == 2
    assert await store.count_audit(actor="nobody") == 0


async def test_api_tokens(store: Store) -> None:
    first = ApiToken(
        id="t1", name="运维", role="admin", token_hash="a" * 64, created_at=T0, created_by="root"
    )
    second = ApiToken(id="t2", name="ci", role="viewer", token_hash="b" * 64, created_at=T0 + SEC)
    await store.put_token(second)
    await store.put_token(first)
    assert await store.get_token_by_hash("a" * 64) == first
    assert await store.get_token_by_hash("c" * 64) is None
    assert await store.list_tokens() == [first, second]
    await store.touch_token("t1", T0 + 60 * SEC)
    assert await store.revoke_token("t2") is True
    assert await store.revoke_token("missing") is False
    touched = await store.get_token_by_hash("a" * 64)
    assert touched == replace(first, last_used_at=T0 + 60 * SEC)
    assert await store.get_token_by_hash("b" * 64) == replace(second, revoked=True)


# -- history: list, count, purge, stats ------------------------------------------------------


async def test_list_and_count_runs_filters(store: Store) -> None:
    runs = [
        make_run(task_name="a", schedule_id="sa", scheduled_for=T0 + 0 * SEC),
        make_run(
            task_name="a",
            schedule_id="sa",
            scheduled_for=T0 + 1 * SEC,
            status=RunStatus.SUCCESS,
            node_id="n1",
            finished_at=T0,
        ),
        make_run(
            task_name="b",
            schedule_id="sb",
            scheduled_for=T0 + 2 * SEC,
            status=RunStatus.FAILED,
            node_id="n2",
            finished_at=T0,
        ),
        make_run(
            task_name="a",
            schedule_id=None,
            trigger_source=TriggerSource.MANUAL,
            scheduled_for=T0 + 3 * SEC,
            status=RunStatus.RUNNING,
            node_id="n1",
        ),
        make_run(
            task_name="b",
            schedule_id="sb",
            scheduled_for=T0 + 4 * SEC,
            trigger_source=TriggerSource.RETRY,
        ),
    ]
    # Two manual runs at one instant: ties are broken by id, newest (largest) first.
    tie = sorted(
        (make_run(task_name="c", schedule_id=None, scheduled_for=T0 + 5 * SEC) for _ in range(2)),
        key=lambda r: r.id,
    )
    await add_runs(store, *runs, *tie)
    everything = [tie[1], tie[0], *runs[::-1]]

    async def ids(flt: RunFilter | None = None, **page: int) -> list[str]:
        return [r.id for r in await store.list_runs(flt, **page)]

    assert await ids() == [r.id for r in everything]
    assert await ids(None, limit=2, offset=1) == [tie[0].id, runs[4].id]
    assert await ids(None, offset=10) == []
    cases = [
        (RunFilter(task_name="a"), [runs[3], runs[1], runs[0]]),
        (RunFilter(schedule_id="sb"), [runs[4], runs[2]]),
        (RunFilter(statuses=frozenset({RunStatus.SUCCESS, RunStatus.FAILED})), [runs[2], runs[1]]),
        (RunFilter(statuses=frozenset()), []),
        (RunFilter(trigger_source=TriggerSource.MANUAL), [runs[3]]),
        (RunFilter(trigger_source=TriggerSource.RETRY), [runs[4]]),
        (RunFilter(node_id="n1"), [runs[3], runs[1]]),
        (RunFilter(since=T0 + SEC, until=T0 + 3 * SEC), [runs[2], runs[1]]),  # [since, until)
        (
            RunFilter(task_name="a", node_id="n1", statuses=frozenset({RunStatus.RUNNING})),
            [runs[3]],
        ),
        (RunFilter(task_name="nobody"), []),
    ]
    for flt, expected in cases:
        assert await ids(flt) == [r.id for r in expected], flt
        assert await store.count_runs(flt) == len(expected), flt
    assert await store.count_runs() == len(everything)


async def test_purge_deletes_old_finished_runs_and_their_logs(store: Store) -> None:
    cut = T0 + 100 * SEC
    old_done = [
        make_run(schedule_id=f"old{i}", status=status, finished_at=cut - SEC)
        for i, status in enumerate(
            [
                RunStatus.SUCCESS,
                RunStatus.FAILED,
                RunStatus.CANCELLED,
                RunStatus.SKIPPED,
                RunStatus.LOST,
                RunStatus.TIMEOUT,
                RunStatus.MISSED,
            ]
        )
    ]
    at_cut = make_run(schedule_id="at", status=RunStatus.SUCCESS, finished_at=cut)
    recent = make_run(schedule_id="new", status=RunStatus.SUCCESS, finished_at=cut + SEC)
    old_pending = make_run(schedule_id="p", scheduled_for=T0 - 3600 * SEC)
    old_running = make_run(
        schedule_id="r",
        scheduled_for=T0 - 3600 * SEC,
        status=RunStatus.RUNNING,
        node_id="n",
        started_at=T0,
    )
    await add_runs(store, *old_done, at_cut, recent, old_pending, old_running)
    for run in (*old_done, at_cut, recent, old_pending, old_running):
        await store.append_logs(
            [
                LogLine(
                    run_id=run.id, seq=i, attempt=1, ts=T0, level="INFO", logger="t", message="m"
                )
                for i in range(3)
            ]
        )

    assert await store.purge_runs(cut) == len(old_done)
    for run in old_done:
        assert await store.get_run(run.id) is None
        assert await store.get_logs(run.id) == []
    for run in (at_cut, recent, old_pending, old_running):
        assert await store.get_run(run.id) is not None
        assert len(await store.get_logs(run.id)) == 3
    assert await store.purge_runs(cut) == 0


async def test_run_stats_counts_and_nearest_rank_percentiles(store: Store) -> None:
    since = T0
    runs = [
        make_run(
            task_name="a",
            schedule_id=f"a{i}",
            status=RunStatus.SUCCESS,
            duration=float(d),
            finished_at=T0,
        )
        for i, d in enumerate(
            [7, 3, 20, 1, 15, 2, 9, 11, 4, 19, 5, 13, 6, 17, 8, 10, 12, 14, 16, 18]
        )
    ]
    runs += [
        make_run(
            task_name="a", schedule_id="af", status=RunStatus.FAILED, duration=100.0, finished_at=T0
        ),
        make_run(task_name="a", schedule_id="ap"),  # pending: counted, no duration
        make_run(
            task_name="a",
            schedule_id="old",
            scheduled_for=since - SEC,
            status=RunStatus.FAILED,
            duration=999.0,
            finished_at=T0,
        ),  # before the window
        make_run(
            task_name="b", schedule_id="b1", status=RunStatus.TIMEOUT, duration=30.0, finished_at=T0
        ),
        make_run(task_name="c", schedule_id="c1", status=RunStatus.RUNNING),
    ]
    await add_runs(store, *runs)

    stats = await store.run_stats(since, exact=True)
    assert [s.task_name for s in stats] == ["a", "b", "c"]
    a, b, c = stats
    assert dict(a.counts) == {"success": 20, "failed": 1, "pending": 1}
    assert a.total == 22
    assert a.success_rate == pytest.approx(20 / 21)  # of finished runs
    # 21 durations: 1..20 and 100. Nearest rank: the ceil(p/100 * n)-th smallest.
    assert a.mean_duration == pytest.approx(310 / 21)
    assert (a.p50_duration, a.p95_duration, a.p99_duration) == (11.0, 20.0, 100.0)

    assert dict(b.counts) == {"timeout": 1} and b.total == 1 and b.success_rate == 0.0
    assert b.p50_duration == b.p99_duration == b.mean_duration == 30.0

    assert dict(c.counts) == {"running": 1} and c.total == 1
    assert c.success_rate is None and c.mean_duration is None and c.p95_duration is None

    only_b = await store.run_stats(since, task_name="b", exact=True)
    assert only_b == [b]
    assert await store.run_stats(T0 + SEC, exact=True) == []


async def test_skipped_fires_count_neither_for_nor_against_the_success_rate(
    store: Store,
) -> None:
    """A first user's finding: a task that never failed read 40 % after a restart (its
    fires coalesced during the outage, recorded skipped, counted as finished runs that
    did not succeed). Skipped fires (calendar, coalesced, overlap) are no outcome; a
    missed fire, due to run, counts against the rate."""
    runs = [
        make_run(
            task_name=name,
            schedule_id=f"{name}-{i}",
            scheduled_for=T0 + i * SEC,
            status=status,
            duration=1.0 if status is RunStatus.SUCCESS else None,
            finished_at=T0,
        )
        for name, statuses in {
            "healthy": [RunStatus.SUCCESS] * 2 + [RunStatus.SKIPPED] * 3,
            "late": [RunStatus.SUCCESS, RunStatus.MISSED, RunStatus.SKIPPED],
            "off": [RunStatus.SKIPPED] * 2,
        }.items()
        for i, status in enumerate(statuses)
    ]
    await add_runs(store, *runs)
    for exact in (True, False):
        rates = {s.task_name: s.success_rate for s in await store.run_stats(T0, exact=exact)}
        assert rates == {"healthy": 1.0, "late": 0.5, "off": None}, exact


async def test_run_stats_equal_a_reference_over_many_tasks_statuses_and_sizes(
    store: Store,
) -> None:
    """Nearest ranks at every size around the rank boundaries, ties, every status, tasks
    with no duration or no run in the window, names in any script: the stats equal
    what a plain sort of each task's window computes."""
    rng = random.Random(7)
    since = T0
    statuses = [s for s in RunStatus if s.finished] + [RunStatus.PENDING, RunStatus.RUNNING]
    runs = []
    expected: dict[str, tuple[dict[str, int], list[float]]] = {}
    sizes = {f"n{n:03d}": n for n in (1, 2, 3, 19, 20, 21, 99, 100, 101)}
    sizes |= {CHINESE: 40, "ties": 30, "无时长": 5}
    for name, size in sizes.items():
        counts: dict[str, int] = {}
        durations: list[float] = []
        for i in range(size):
            status = statuses[i % len(statuses)] if name != "n001" else RunStatus.SUCCESS
            duration: float | None = None
            if status.finished and name != "无时长":
                duration = float(i % 3) if name == "ties" else 10 ** rng.uniform(-3, 3)
                durations.append(duration)
            counts[status.value] = counts.get(status.value, 0) + 1
            runs.append(
                make_run(
                    task_name=name,
                    schedule_id=f"{name}-{i}",
                    scheduled_for=since + i * SEC,
                    status=status,
                    duration=duration,
                    finished_at=T0 if status.finished else None,
                )
            )
        expected[name] = (counts, sorted(durations))
    # Tasks with runs before the window only, or just before it: not reported.
    runs += [
        make_run(task_name="a-old", schedule_id="old", scheduled_for=since - SEC),
        make_run(
            task_name="zz-old",
            schedule_id="old2",
            scheduled_for=since - timedelta(microseconds=1),
            status=RunStatus.SUCCESS,
            duration=1.0,
            finished_at=T0,
        ),
    ]
    await add_runs(store, *runs)

    stats = await store.run_stats(since, exact=True)
    assert [s.task_name for s in stats] == sorted(expected)
    for s in stats:
        counts, durations = expected[s.task_name]
        assert dict(s.counts) == counts, s.task_name
        assert s.total == sum(counts.values())
        judged = sum(
            n for status, n in counts.items() if RunStatus(status).finished and status != "skipped"
        )
        assert s.success_rate == counts.get("success", 0) / judged
        if not durations:
            assert s.mean_duration is s.p50_duration is s.p95_duration is s.p99_duration is None
            continue
        n = len(durations)
        ranks = [max(1, math.ceil(p / 100 * n)) for p in (50, 95, 99)]
        percentiles = (s.p50_duration, s.p95_duration, s.p99_duration)
        assert percentiles == tuple(durations[r - 1] for r in ranks), s.task_name
        assert s.mean_duration == pytest.approx(sum(durations) / n, rel=1e-12)
    for name in (CHINESE, "n101", "无时长"):
        assert await store.run_stats(since, task_name=name, exact=True) == [
            s for s in stats if s.task_name == name
        ]
    assert await store.run_stats(since, task_name="a-old", exact=True) == []
    assert await store.run_stats(since, task_name="no such task", exact=True) == []


async def test_record_fires_counts_inserted_runs_towards_max_runs(store: Store) -> None:
    """End after N runs: ``run_count`` moves in the tick's write by the counted runs it
    inserts, never by a fire already stored, a stale tick, or a fenced-out one; a user's
    replacement keeps it."""
    await seed(store, make_schedule(id="s", max_runs=3))
    nxt = T0 + 3600 * SEC
    first, second = make_run(), make_run(scheduled_for=T0 + SEC)
    skipped = make_run(scheduled_for=T0 - SEC, status=RunStatus.SKIPPED)

    def counting(*runs: Run) -> ScheduleAdvance:
        return replace(adv("s", 1, nxt, T0), counted=tuple(r.id for r in runs))

    record = await store.record_fires(
        [first, second, skipped], [counting(first, second)], fence=None, now=T0
    )
    assert len(record.inserted) == 3 and record.advanced == 1
    stored = await store.get_schedule("s")
    assert stored is not None and (stored.max_runs, stored.run_count) == (3, 2)
    # The same fire again (a tick re-sent, another leader): inserted nothing, counts nothing.
    again = make_run()
    await store.record_fires([again], [counting(again)], fence=None, now=T0)
    # Without counted runs (advance_schedules, or a calendar skip): no change.
    await store.advance_schedules([counting(make_run(scheduled_for=T0 + 9 * SEC))])
    # Fenced out (a lease never held): nothing written, nothing counted.
    late = make_run(scheduled_for=T0 + 2 * SEC)
    fence = LeaseFence(name="scheduler", holder="x", term=7)
    fenced = await store.record_fires([late], [counting(late)], fence=fence, now=T0)
    assert fenced.fenced
    stored = await store.get_schedule("s")
    assert stored is not None and stored.run_count == 2
    # A user's edit (compare-and-set) keeps the count; raising max_runs does not reset it.
    await store.put_schedule(
        replace(stored, max_runs=5, run_count=0, version=2), expected_version=1
    )
    edited = await store.get_schedule("s")
    assert edited is not None and (edited.max_runs, edited.run_count) == (5, 2)
    # A tick planned from the copy before the edit counts nothing.
    stale = make_run(scheduled_for=T0 + 3 * SEC)
    assert (await store.record_fires([stale], [counting(stale)], fence=None, now=T0)).advanced == 0
    edited = await store.get_schedule("s")
    assert edited is not None and edited.run_count == 2
    # A new schedule starts with the count it is given (an import, a copy).
    await seed(store, make_schedule(id="copy", run_count=4, max_runs=None))
    copy = await store.get_schedule("copy")
    assert copy is not None and (copy.max_runs, copy.run_count) == (None, 4)


async def test_record_fires_counts_a_fire_an_earlier_write_stored_once(store: Store) -> None:
    """A tick's fires planned again after an earlier write stored their runs but not
    their advance (the MongoDB store writes in steps and can stop between them; a reply
    lost and the write sent again): each fire's run counts once, whichever write stored
    it. Before, a re-planned fire counted nothing, and a schedule ending after 2 runs
    started 3."""
    await seed(store, make_schedule(id="s", max_runs=10))

    async def tick(*runs: Run, last: datetime, counted: Sequence[Run] = ()) -> FireRecord:
        advance = replace(adv("s", 1, last + SEC, last), counted=tuple(r.id for r in counted))
        return await store.record_fires(list(runs), [advance], fence=None, now=T0)

    async def run_count() -> int:
        stored = await store.get_schedule("s")
        assert stored is not None
        return stored.run_count

    first = make_run()
    await tick(first, last=T0, counted=[first])
    assert await run_count() == 1
    # The next tick's write stored its run, then stopped before its advance.
    second = make_run(scheduled_for=T0 + SEC)
    assert await store.insert_runs([second]) == [second.id]
    # Planned again from the store, the fire overlaps its own run and is skipped: the
    # run stored for it still counts.
    overlapped = make_run(scheduled_for=T0 + SEC, status=RunStatus.SKIPPED)
    record = await tick(overlapped, last=T0 + SEC)
    assert record.inserted == [] and record.advanced == 1 and record.recounted == {"s": 1}
    assert await run_count() == 2
    # A second leader's tick planned from a copy read before that advance: its fire was
    # counted by the advance, so it counts nothing.
    stale = make_run(scheduled_for=T0 + SEC)
    record = await tick(stale, last=T0 + SEC, counted=[stale])
    assert record.advanced == 1 and record.recounted == {"s": 0}
    assert await run_count() == 2
    # Several fires, one of them stored before: each counts once; runs of other sources
    # and fires stored as skipped or missed in between count nothing.
    third = make_run(scheduled_for=T0 + 2 * SEC)
    others = [
        make_run(scheduled_for=T0 + 3 * SEC, trigger_source=TriggerSource.BACKFILL),
        make_run(scheduled_for=T0 + 4 * SEC, status=RunStatus.MISSED),
    ]
    await store.insert_runs([third, *others])
    third_again, fifth = make_run(scheduled_for=T0 + 2 * SEC), make_run(scheduled_for=T0 + 5 * SEC)
    record = await tick(third_again, fifth, last=T0 + 5 * SEC, counted=[third_again, fifth])
    assert record.inserted == [fifth.id] and record.recounted == {"s": 2}
    assert await run_count() == 4
    # A tick whose runs were all inserted now counts them, as ever.
    sixth = make_run(scheduled_for=T0 + 6 * SEC)
    record = await tick(sixth, last=T0 + 6 * SEC, counted=[sixth])
    assert record.recounted == {}
    assert await run_count() == 5
