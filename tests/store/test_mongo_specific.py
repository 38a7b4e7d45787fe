"""What only the MongoDB store has: its indexes and their upgrade, configurable
collections, the documents behind fences, claims and locks, recovery from a writer that
died halfway, the codec, and races that FerretDB's non-atomic updates would lose.

The shared behaviour is pinned by ``test_contract.py``; these tests run against the
server in SCHEDKIT_TEST_MONGO_URL (FerretDB v1 here, MongoDB works the same).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import socket
import uuid
import warnings
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from schedkit import Scheduler, TaskRegistry, task
from schedkit.errors import ConfigError, StoreError, StoreUnavailableError
from schedkit.models import (
    ApiToken,
    Node,
    Run,
    RunFilter,
    RunOutcome,
    RunStatus,
    TriggerSource,
)
from schedkit.store import LeaseFence, ScheduleAdvance, create_store
from schedkit.store._upgrade import UpgradeCheck
from schedkit.store.mongo import DEFAULT_COLLECTIONS, INDEX_VERSION, MongoStore
from schedkit.store.mongo.codec import fire_key, from_us, to_us
from schedkit.store.mongo.indexes import INDEXES
from tests.engine.conftest import fast_config
from tests.engine.taps import until
from tests.stopping import stop_or_fail
from tests.store._contract import SEC, T0, adv, fin, lost, make_run, make_schedule, rq, seed
from tests.store.conftest import Raw
from tests.store.proxy import Proxy

external = pytest.mark.external_service


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoStore]:
    async with MongoStore(mongo_url) as s:
        yield s


async def index_specs(raw: Raw, collection: str) -> dict[str, tuple[list[tuple[str, int]], bool]]:
    indexes = await (await raw[collection].list_indexes()).to_list()
    return {
        ix["name"]: ([(k, int(v)) for k, v in ix["key"].items()], bool(ix.get("unique")))
        for ix in indexes
    }


def wanted_specs(kind: str) -> dict[str, tuple[list[tuple[str, int]], bool]]:
    return {ix.name: (list(ix.keys), ix.unique) for ix in INDEXES[kind]}


# -- indexes and their version -------------------------------------------------------------


@external
async def test_indexes_are_created_once_and_their_version_recorded(
    mongo_url: str, raw: Raw
) -> None:
    for _ in range(2):  # a second open finds everything in place and changes nothing
        async with MongoStore(mongo_url) as s:
            assert await s.schema_version() == INDEX_VERSION
        for kind, collection in DEFAULT_COLLECTIONS.items():
            specs = await index_specs(raw, collection)
            ours = {name: spec for name, spec in specs.items() if name != "_id_"}
            assert ours == wanted_specs(kind), kind
    assert await raw["schedkit_meta"].count_documents({}) == 1


@external
async def test_an_older_index_version_is_upgraded_in_place(mongo_url: str, raw: Raw) -> None:
    run, schedule = make_run(), make_schedule()
    async with MongoStore(mongo_url) as s:
        await s.insert_runs([run])
        await seed(s, schedule)
    # An older layout: version 0, one index missing, one defined differently, one that
    # schedkit no longer uses, and an index of the operator's own.
    runs = raw["task_execution_logs"]
    await raw["schedkit_meta"].update_one({"_id": "schema"}, {"$set": {"version": 0}})
    await runs.drop_index("sk_claim")
    await runs.drop_index("sk_history")
    await runs.create_index([("scheduled_for", 1)], name="sk_history")
    await runs.create_index([("created_at", 1)], name="sk_obsolete")
    await runs.create_index([("created_by", 1)], name="operators_own")

    async with MongoStore(mongo_url) as s:
        assert await s.schema_version() == INDEX_VERSION
        assert await s.get_run(run.id) == run
        assert await s.get_schedule(schedule.id) == schedule
    specs = await index_specs(raw, "task_execution_logs")
    assert specs.pop("operators_own") == ([("created_by", 1)], False)
    specs.pop("_id_")
    assert specs == wanted_specs("runs")


@external
async def test_a_version_2_store_gets_the_task_status_index_in_place(
    mongo_url: str, raw: Raw
) -> None:
    failed = make_run(status=RunStatus.FAILED, finished_at=T0, duration=2.0)
    async with MongoStore(mongo_url) as s:
        await s.insert_runs([failed, make_run(schedule_id="other")])
    runs = raw["task_execution_logs"]
    await runs.drop_index("sk_task_status_history")
    await raw["schedkit_meta"].update_one({"_id": "schema"}, {"$set": {"version": 2}})

    async with MongoStore(mongo_url) as s:
        assert await s.schema_version() == INDEX_VERSION == 5
        flt = RunFilter(task_name=failed.task_name, statuses=frozenset({RunStatus.FAILED}))
        assert await s.list_runs(flt) == [failed]
    specs = await index_specs(raw, "task_execution_logs")
    assert specs["sk_task_status_history"] == (
        [("task_name", 1), ("status", 1), ("scheduled_for", -1), ("_id", -1)],
        False,
    )


@external
async def test_a_version_3_store_gets_the_workflow_runs_indexes(mongo_url: str, raw: Raw) -> None:
    async with MongoStore(mongo_url):
        pass
    await raw["schedkit_workflow_runs"].drop()
    await raw["schedkit_meta"].update_one({"_id": "schema"}, {"$set": {"version": 3}})
    async with MongoStore(mongo_url) as s:
        assert await s.schema_version() == INDEX_VERSION
    specs = await index_specs(raw, "schedkit_workflow_runs")
    specs.pop("_id_")
    assert specs == wanted_specs("workflow_runs")


@external
async def test_the_rollups_upgrade_waits_until_no_node_of_the_older_release_is_alive(
    mongo_url: str, raw: Raw
) -> None:
    """An upgrade audit (on FerretDB): a node of new code upgraded an index-version-4
    store to rollups while a node of the older release was alive on it, which went on
    finishing runs without marking their hours. Now the upgrade is refused, changing
    nothing, while a node heartbeated within lost_after; forced, or once the node is
    silent longer, it goes ahead."""
    done = make_run(status=RunStatus.SUCCESS, finished_at=T0, duration=1.0)
    now = datetime.now(UTC)
    async with MongoStore(mongo_url) as s:
        await s.insert_runs([done])
        for node_id, silent in (("old-1", 5), ("crashed", 60)):
            await s.upsert_node(
                Node(
                    id=node_id,
                    hostname=f"host-{node_id}",
                    pid=4242,
                    started_at=now,
                    heartbeat_at=now - silent * SEC,
                    version="0.9.0",
                )
            )
    await raw["schedkit_run_rollups"].delete_many({})
    await raw["schedkit_meta"].update_one({"_id": "schema"}, {"$set": {"version": 4}})

    with pytest.raises(StoreError) as refused:
        await MongoStore(mongo_url).open()
    message = str(refused.value)
    assert f"refusing to upgrade from index version 4 to {INDEX_VERSION}" in message
    assert "old-1 (host host-old-1, pid 4242, last heartbeat" in message
    assert "crashed" not in message and "--ignore-live-nodes" in message
    assert (await raw["schedkit_meta"].find_one({"_id": "schema"}) or {})["version"] == 4
    assert await raw["schedkit_run_rollups"].count_documents({}) == 0

    # lost_after 3 s: the node silent for 5 s is gone.
    s = MongoStore(mongo_url)
    await s.open(upgrade=UpgradeCheck(lost_after=3))
    try:
        assert await s.schema_version() == INDEX_VERSION
        assert await raw["schedkit_run_rollups"].count_documents({"kind": "mark"}) == 1
    finally:
        await s.close()
    # Forced (schedkit db upgrade --ignore-live-nodes) with the node alive.
    await raw["schedkit_meta"].update_one({"_id": "schema"}, {"$set": {"version": 4}})
    s = MongoStore(mongo_url)
    await s.open(upgrade=UpgradeCheck(ignore_live_nodes=True))
    try:
        assert await s.schema_version() == INDEX_VERSION
    finally:
        await s.close()


@external
async def test_a_newer_index_version_is_refused(mongo_url: str, raw: Raw) -> None:
    await raw["schedkit_meta"].insert_one({"_id": "schema", "version": INDEX_VERSION + 1})
    with pytest.raises(StoreError, match="newer"):
        await MongoStore(mongo_url).open()


@external
async def test_apscheduler_jobs_in_the_schedules_collection_are_refused(
    mongo_url: str, raw: Raw
) -> None:
    # The design document's APScheduler 3 job store keeps pickled jobs there.
    await raw["scheduler_jobs"].insert_one({"_id": "job", "next_run_time": 1.0, "job_state": b"x"})
    with pytest.raises(ConfigError, match="APScheduler"):
        await MongoStore(mongo_url).open()
    async with MongoStore(mongo_url, collections={"schedules": "schedkit_schedules"}) as s:
        await seed(s, make_schedule())
    assert await raw["scheduler_jobs"].count_documents({}) == 1


# -- configuration -------------------------------------------------------------------------------


@external
async def test_collection_names_are_configurable(mongo_url: str, raw: Raw) -> None:
    names = {"runs": "history", "schedules": "jobs", "claims": "fences"}
    async with MongoStore(mongo_url, collections=names) as s:
        run = make_run()
        await s.insert_runs([run])
        await seed(s, make_schedule())
        await s.claim_runs("n1", T0, 1)
    assert await raw["history"].count_documents({"_id": run.id}) == 1
    assert await raw["jobs"].count_documents({}) == 1
    assert await raw["fences"].count_documents({"_id": f"{run.id}:1"}) == 1
    collections = set(await raw.list_collection_names())
    assert not collections & {"task_execution_logs", "scheduler_jobs", "schedkit_claims"}


@external
async def test_default_collections_are_the_design_documents(mongo_url: str, raw: Raw) -> None:
    async with create_store(mongo_url) as s:
        await s.insert_runs([make_run()])
        await seed(s, make_schedule())
    assert await raw["task_execution_logs"].count_documents({}) == 1
    assert await raw["scheduler_jobs"].count_documents({}) == 1


@external
async def test_database_option_wins_over_the_url_path(
    mongo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = f"schedkit_test_{uuid.uuid4().hex[:12]}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    caplog.set_level(logging.INFO, logger="schedkit.store")
    try:
        async with MongoStore(mongo_url, database=other) as s:
            await s.insert_runs([make_run()])
        # An audit: a Celery worker configured by the jobstores dict (the database as an
        # option) logged "store mongodb://127.0.0.1:27017 open", no database named.
        assert f"{mongo_url} (database {other}) open at index version" in caplog.text
        assert await client[other]["task_execution_logs"].count_documents({}) == 1
        url_db = urlsplit(mongo_url).path.lstrip("/")
        assert "task_execution_logs" not in await client[url_db].list_collection_names()
    finally:
        await client.drop_database(other)
        await client.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colections": {}}, "unknown MongoDB store option"),
        ({"collections": {"jobs": "x"}}, "unknown collection kind"),
        ({"collections": {"runs": "same", "schedules": "same"}}, "share a collection"),
        ({"collections": {"runs": "a$b"}}, "runs collection"),
        ({"database": "a.b"}, "database name"),
        ({"server_selection_timeout": 0}, "server_selection_timeout"),
        ({"recover_after": -1}, "recover_after"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MongoStore("mongodb://127.0.0.1/db", **options)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mongodb://ops:s3cret@127.0.0.1:notaport/db",
            "bad MongoDB store URL 'mongodb://ops:***@127.0.0.1:notaport/db': Port contains "
            "non-digit characters",
        ),
        (
            "mongodb://127.0.0.1:99999",
            "bad MongoDB store URL 'mongodb://127.0.0.1:99999': Port must be an integer",
        ),
        (
            "mongodb://ops:s3cr@t@127.0.0.1/db",
            "bad MongoDB store URL 'mongodb://ops:***@127.0.0.1/db': Username and password "
            "must be escaped",
        ),
    ],
)
async def test_a_malformed_url_is_a_config_error_masked(url: str, message: str) -> None:
    """An audit: a port that is no number gave uvicorn a raw ``ValueError: Port contains
    non-digit characters`` and ``schedkit check`` "unexpected ValueError"."""
    store = MongoStore(url)
    with pytest.raises(ConfigError) as caught:
        await store.open()
    assert str(caught.value).startswith(message)
    assert "s3c" not in str(caught.value)


def test_database_defaults() -> None:
    assert MongoStore("mongodb://h/exds")._database == "exds"
    assert MongoStore("mongodb://h/?replicaSet=rs")._database == "schedkit"
    assert MongoStore("mongodb://h")._database == "schedkit"


def test_the_store_is_shown_with_its_database() -> None:
    """Its URL names the database, or the database follows it (as the store's label, in
    the log lines and messages)."""
    assert MongoStore("mongodb://u:pw@h/exds").display_url == "mongodb://u:***@h/exds"
    assert MongoStore("mongodb://h", database="exds").display_url == "mongodb://h (database exds)"
    assert MongoStore("mongodb://h/admin", database="exds").display_url == (
        "mongodb://h/admin (database exds)"
    )
    assert MongoStore("mongodb://h").display_url == "mongodb://h (database schedkit)"


async def test_unreachable_server_is_store_unavailable_with_the_url_masked() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = MongoStore(f"mongodb://ops:s3cret@127.0.0.1:{port}/db", server_selection_timeout=0.3)
    with pytest.raises(StoreUnavailableError) as caught:
        await store.open()
    message = str(caught.value)
    assert f"ops:***@127.0.0.1:{port}" in message
    assert "s3cret" not in message
    with pytest.raises(StoreError, match="not open"):
        await store.ping()
    # Closing the client cancels pymongo's monitor in the middle of a connection attempt,
    # and pymongo's _async_create_connection closes its socket on OSError but not on
    # cancellation. That socket hangs on a traceback the caught error leads to: drop it
    # and collect the socket here, not in whichever later test the collector runs.
    del caught
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# -- documents ---------------------------------------------------------------------------------


@external
async def test_fire_keys_datetimes_and_json_as_stored(store: MongoStore, raw: Raw) -> None:
    scheduled = make_run()
    manual = make_run(schedule_id=None, trigger_source=TriggerSource.MANUAL)
    # Keys FerretDB refuses in documents and an integer BSON cannot hold: stored as text.
    odd = {"$set": 1, "a.b": [2], "big": 2**70, "": None}
    await store.insert_runs([scheduled, replace(manual, kwargs=odd)])
    docs = {d["_id"]: d for d in await raw["task_execution_logs"].find().to_list()}
    assert docs[scheduled.id]["fire_key"] == f"s|s|{to_us(T0)}"
    assert docs[manual.id]["fire_key"] == f"m|{manual.id}"
    assert docs[scheduled.id]["scheduled_for"] == to_us(T0) == 1772353815123457
    got = await store.get_run(manual.id)
    assert got is not None and got.kwargs == odd


def test_microsecond_codec_is_exact_and_refuses_naive_datetimes() -> None:
    for value in (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        T0,
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ):
        assert from_us(to_us(value)) == value
    assert to_us(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1
    with pytest.raises(ValueError, match="naive"):
        to_us(datetime(2026, 1, 1))


def test_fire_keys_of_different_fires_never_collide() -> None:
    pairs = [("a|1", T0), ("a", T0), ("a|1|2", T0), ("m", T0)]
    keys = {fire_key(make_run(schedule_id=sid, scheduled_for=at)) for sid, at in pairs}
    manual = make_run(schedule_id=None, id="s|m")
    keys.add(fire_key(manual))
    assert len(keys) == len(pairs) + 1


@external
async def test_claims_heartbeats_and_exits_are_fence_documents(store: MongoStore, raw: Raw) -> None:
    run = make_run()
    await store.insert_runs([run])
    await store.claim_runs("n1", T0, 1)
    fences = raw["schedkit_claims"]
    claim = await fences.find_one({"_id": f"{run.id}:1"})
    assert claim is not None
    assert (claim["kind"], claim["node_id"], claim["heartbeat_at"]) == ("claim", "n1", to_us(T0))
    await store.heartbeat_runs("n1", [run.id], T0 + 5 * SEC)
    claim = await fences.find_one({"_id": f"{run.id}:1"})
    assert claim is not None and claim["heartbeat_at"] == to_us(T0 + 5 * SEC)
    # The run document is not written by heartbeats; reads merge the claim in.
    doc = await raw["task_execution_logs"].find_one({"_id": run.id})
    assert doc is not None and doc["heartbeat_at"] == to_us(T0)
    got = await store.get_run(run.id)
    assert got is not None and got.heartbeat_at == T0 + 5 * SEC

    done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0 + 6 * SEC, duration=6.0)
    assert await store.finish_run(fin(run.id, 1, "n1", done))
    final = await fences.find_one({"_id": f"{run.id}:1:final"})
    assert final is not None and final["kind"] == "finish"
    # Finishing freezes the last heartbeat into the run document.
    doc = await raw["task_execution_logs"].find_one({"_id": run.id})
    assert doc is not None and doc["heartbeat_at"] == to_us(T0 + 5 * SEC)
    # Purging the run removes its fences and sidecars too.
    assert await store.purge_runs(T0 + 7 * SEC) == 1
    assert await fences.count_documents({"run_id": run.id}) == 0


@external
async def test_a_large_outcome_is_not_kept_twice(store: MongoStore, raw: Raw) -> None:
    small, large = make_run(schedule_id="small"), make_run(schedule_id="large")
    await store.insert_runs([small, large])
    await store.claim_runs("n1", T0, 2)
    for run, result in ((small, {"rows": 3}), (large, {"rows": ["x" * 100] * 500})):
        outcome = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0, result=result)
        assert await store.finish_run(fin(run.id, 1, "n1", outcome))
        got = await store.get_run(run.id)
        assert got is not None and got.result == result
    fences = raw["schedkit_claims"]
    kept = await fences.find_one({"_id": f"{small.id}:1:final"})
    dropped = await fences.find_one({"_id": f"{large.id}:1:final"})
    assert kept is not None and kept["fields"]["result"] == '{"rows":3}'
    assert dropped is not None and dropped["fields"]["result"] is None


# -- a writer that dies halfway ----------------------------------------------------------------


@external
async def test_a_claim_abandoned_halfway_is_completed_then_reaped(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(max_attempts=2)
    async with (
        MongoStore(mongo_url, recover_after=0.3) as dying,
        MongoStore(mongo_url, recover_after=0.3) as live,
    ):
        await live.insert_runs([run])

        async def die(*args: Any, **kwargs: Any) -> int:
            raise RuntimeError("node died between its claim and the run's update")

        monkeypatch.setattr(dying, "_write", die)
        with pytest.raises(RuntimeError, match="node died"):
            await dying.claim_runs("dead-node", T0, 1)
        stuck = await live.get_run(run.id)
        assert stuck is not None and stuck.status is RunStatus.PENDING

        assert await live.claim_runs("live-node", T0, 1) == []  # fresh fence: in flight
        await asyncio.sleep(0.4)
        assert await live.claim_runs("live-node", T0, 1) == []  # completes the claim
        taken = await live.get_run(run.id)
        assert taken is not None
        assert (taken.status, taken.node_id, taken.heartbeat_at) == (
            RunStatus.RUNNING,
            "dead-node",
            T0,
        )
        (stale,) = await live.stale_runs(T0 + SEC, 10)
        verdict = lost(stale, stale_before=T0 + SEC, now=T0 + 2 * SEC, retry_at=T0)
        assert await live.lose_runs([verdict]) == [True]
        (retried,) = await live.claim_runs("live-node", T0 + 3 * SEC, 1)
        assert (retried.attempt, retried.node_id) == (2, "live-node")


@external
async def test_a_finish_abandoned_halfway_is_completed_by_the_reaper(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run()
    async with (
        MongoStore(mongo_url, recover_after=0.3) as dying,
        MongoStore(mongo_url, recover_after=0.3) as live,
    ):
        await live.insert_runs([run])
        await dying.claim_runs("n1", T0, 1)

        async def die(*args: Any, **kwargs: Any) -> int:
            raise RuntimeError("died after deciding the outcome")

        monkeypatch.setattr(dying, "_write", die)
        done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0 + SEC, duration=1.0)
        with pytest.raises(RuntimeError):
            await dying.finish_run(fin(run.id, 1, "n1", done))
        await asyncio.sleep(0.4)
        # The reaper finds the run stale, loses to the finish's fence and completes it:
        # the outcome that was decided wins, the run is not marked lost.
        (stale,) = await live.stale_runs(T0 + 10 * SEC, 10)
        verdict = lost(stale, stale_before=T0 + 10 * SEC, now=T0 + 20 * SEC)
        assert await live.lose_runs([verdict]) == [False]
        got = await live.get_run(run.id)
        assert got is not None and (got.status, got.finished_at) == (RunStatus.SUCCESS, T0 + SEC)


@external
async def test_a_run_whose_node_died_after_its_finish_fence_is_not_left_running(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #16 (FerretDB, leader SIGKILLed every ~12 s): a node killed right after
    inserting the fence of its run's finish, before writing the run, left the run
    ``running``: the reaper lost to that fence and waited ``recover_after`` (30 s) while
    ``lost_after`` was 3 s. The reaper now completes the dead node's decided outcome as
    soon as the run is stale. The dead writer is simulated by failing its run write;
    ``recover_after`` keeps its default: nothing here waits for it."""
    run = make_run(max_attempts=3)
    async with MongoStore(mongo_url) as dying, MongoStore(mongo_url) as reaper:
        await reaper.insert_runs([run])
        await dying.claim_runs("n1", T0, 1)

        async def die(*args: Any, **kwargs: Any) -> int:
            raise RuntimeError("SIGKILL between the finish fence and the run write")

        monkeypatch.setattr(dying, "_write", die)
        done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0 + SEC, duration=1.0)
        with pytest.raises(RuntimeError):
            await dying.finish_run(fin(run.id, 1, "n1", done))
        (stale,) = await reaper.stale_runs(T0 + 3 * SEC, 10)
        verdict = lost(stale, stale_before=T0 + 3 * SEC, now=T0 + 4 * SEC, retry_at=T0 + 9 * SEC)
        assert await reaper.lose_runs([verdict]) == [False]  # the decided finish wins
        got = await reaper.get_run(run.id)
        assert got is not None and (got.status, got.finished_at) == (RunStatus.SUCCESS, T0 + SEC)
        assert await reaper.stale_runs(T0 + 3 * SEC, 10) == []


@external
async def test_a_reaper_dying_halfway_leaves_its_verdict_to_the_next_one(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leader killed between the fence of its verdict and the run write: the next
    reaper applies that verdict (a retry) at once, and the run is retried."""
    run = make_run(max_attempts=3)
    async with MongoStore(mongo_url) as dying, MongoStore(mongo_url) as reaper:
        await reaper.insert_runs([run])
        (claimed,) = await reaper.claim_runs("n1", T0, 1)
        verdict = lost(claimed, stale_before=T0 + 3 * SEC, now=T0 + 4 * SEC, retry_at=T0 + 5 * SEC)

        async def die(*args: Any, **kwargs: Any) -> int:
            raise RuntimeError("leader SIGKILLed")

        monkeypatch.setattr(dying, "_write", die)
        with pytest.raises(RuntimeError):
            await dying.lose_runs([verdict])
        assert await reaper.lose_runs([verdict]) == [False]
        got = await reaper.get_run(run.id)
        assert got is not None and (got.status, got.attempt) == (RunStatus.PENDING, 2)
        (again,) = await reaper.claim_runs("n2", T0 + 5 * SEC, 1)
        assert again.attempt == 2


@external
async def test_a_release_racing_a_cancel_never_brings_the_blocked_run_back(
    mongo_url: str,
) -> None:
    """The release of blocked runs was a plain update: on FerretDB it wrote back a copy
    read before a concurrent cancel of the blocked run, which became pending again."""
    async with MongoStore(mongo_url) as a, MongoStore(mongo_url) as b:
        for i in range(15):
            blocker = make_run(schedule_id=f"q{i}")
            await a.insert_runs([blocker])
            (running,) = await a.claim_runs("n1", T0, 1)
            queued = make_run(schedule_id=f"q{i}", scheduled_for=T0 + SEC, blocked_by=blocker.id)
            await a.insert_runs([queued])
            done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0 + SEC, duration=1.0)
            await asyncio.gather(
                a.finish_run(fin(running.id, 1, "n1", done)),
                b.request_cancel(queued.id, T0 + SEC, "stop"),
            )
            got = await a.get_run(queued.id)
            assert got is not None and got.status is RunStatus.CANCELLED, i


@external
@pytest.mark.parametrize("beat_between", [False, True])
async def test_a_finish_retried_after_its_write_failed_applies(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch, beat_between: bool
) -> None:
    """The fence of a finish is in, its run write failed (a connection drop): the same
    finish sent again is this finish, not a rival's, and applies at once. Also after
    the run's heartbeat went on meanwhile (an integration audit: in a real outage one
    almost always lands between, and the finish sent again was then refused as another
    change: "its outcome success is dropped", the run left running for a minute until
    the fence was recovered)."""
    run = make_run(schedule_id=f"retried-{beat_between}")
    async with MongoStore(mongo_url) as s:
        await s.insert_runs([run])
        await s.claim_runs("n1", T0, 1)
        write = s._write

        async def drop(*args: Any, **kwargs: Any) -> int:
            raise RuntimeError("connection dropped")

        monkeypatch.setattr(s, "_write", drop)
        done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0 + SEC, duration=1.0)
        with pytest.raises(RuntimeError):
            await s.finish_run(fin(run.id, 1, "n1", done))
        monkeypatch.setattr(s, "_write", write)
        if beat_between:
            assert await s.heartbeat_runs("n1", [run.id], T0 + 2 * SEC)
        other = RunOutcome(status=RunStatus.FAILED, finished_at=T0 + SEC, duration=1.0)
        assert not await s.finish_run(fin(run.id, 1, "n1", other))  # not the same finish
        assert await s.finish_run(fin(run.id, 1, "n1", done))
        got = await s.get_run(run.id)
        assert got is not None and got.status is RunStatus.SUCCESS


@external
async def test_a_tick_write_stopped_before_its_advance_still_ends_after_max_runs(
    mongo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen under load in CI: a schedule ending after 2 runs started 3. A tick's write
    stored its run, then failed before its advance (the connection dropped; this store
    writes a tick in steps). The fire, planned again from the store, found its run
    stored and counted nothing, so one fire more ran. Fault injected: no server can be
    made to drop a connection between two given commands."""

    @task("quick_end", category="t")
    async def quick_end() -> None:
        return None

    store = MongoStore(mongo_url)
    advance = store._advance_locked
    counting_writes: list[int] = []

    async def drop_the_second(advances: Sequence[ScheduleAdvance], counts: list[int]) -> int:
        if any(a.counted for a in advances):
            counting_writes.append(len(advances))
            if len(counting_writes) == 2:
                raise AutoReconnect("connection dropped between the insert and the advance")
        return await advance(advances, counts)

    monkeypatch.setattr(store, "_advance_locked", drop_the_second)
    registry = TaskRegistry()
    registry.register_task(quick_end)
    scheduler = Scheduler(fast_config(mongo_url), registry=registry, store=store)
    await scheduler.start()
    try:
        # The run the failed write stored is active (claimed for this node, started once
        # the store answers again): the fire planned again is skipped.
        await scheduler.add_task(
            "quick_end",
            {
                "trigger": "interval",
                "seconds": 0.2,
                "max_runs": 2,
                "max_instances": 1,
                "overlap": "skip",
            },
        )

        async def ended() -> bool:
            schedule = await scheduler.get_schedule("quick_end")
            return schedule is not None and schedule.next_fire_time is None

        await until(ended, timeout=15)
        assert len(counting_writes) >= 2  # the fault was injected
        runs = await scheduler.list_runs("quick_end", limit=100)
        started = [r for r in runs if r.status not in (RunStatus.SKIPPED, RunStatus.MISSED)]
        assert len(started) == 2, runs
        schedule = await scheduler.get_schedule("quick_end")
        assert schedule is not None and schedule.run_count == 2

        # The run the failed write stored claimed for this node runs at its first
        # attempt: it was not left for the reaper to find lost (lost_after) and retry.
        async def both_done() -> list[Run] | None:
            runs = await scheduler.list_runs("quick_end", limit=100)
            done = [r for r in runs if r.status is RunStatus.SUCCESS]
            return done if len(done) == 2 else None

        done = await until(both_done, timeout=10)
        assert [r.attempt for r in done] == [1, 1], done
    finally:
        await stop_or_fail(scheduler, grace=1.0)


@external
async def test_locks_block_advance_and_are_broken_when_abandoned(mongo_url: str, raw: Raw) -> None:
    async with MongoStore(mongo_url, recover_after=0.3) as s:
        await seed(s, make_schedule(version=1))
        lock = {
            "_id": "lock:schedule:s",
            "kind": "lock",
            "owner": "gone",
            "at": to_us(datetime.now(UTC)),
        }
        await raw["schedkit_claims"].insert_one(lock)
        # The leader does not wait for a user's write: it leaves the schedule for later.
        assert await s.advance_schedules([adv("s", 1, T0 + SEC, T0)]) == 0
        # A user's write waits, and breaks the lock of a writer that never came back.
        await seed(s, make_schedule(version=2, pause_note="after the lock"))
        got = await s.get_schedule("s")
        assert got is not None and (got.version, got.pause_note) == (2, "after the lock")
        assert await raw["schedkit_claims"].count_documents({"kind": "lock"}) == 0


@external
async def test_a_tick_lock_of_an_earlier_lease_term_is_broken_at_once(
    mongo_url: str, raw: Raw
) -> None:
    """A leader killed mid-tick left its schedules locked, and the next leader could not
    fire them for ``recover_after`` (30 s): failovers of 38 s under chaos. A lock taken
    by a tick of an earlier lease term is broken by the next term's tick at once; a
    user's lock is not."""
    async with MongoStore(mongo_url) as s:  # recover_after: the default 30 s
        await seed(s, make_schedule(version=1))
        await seed(s, make_schedule(id="u", version=1))
        now = datetime.now(UTC)
        assert await s.acquire_lease("scheduler", "dead", 10, now) is not None
        at = to_us(now)
        await raw["schedkit_claims"].insert_many(
            [
                {"_id": "lock:schedule:s", "kind": "lock", "owner": "t", "at": at, "term": 1},
                {"_id": "lock:schedule:u", "kind": "lock", "owner": "user", "at": at},
            ]
        )
        assert await s.release_lease("scheduler", "dead")
        lease = await s.acquire_lease("scheduler", "n2", 10, datetime.now(UTC))
        assert lease is not None and lease.term == 2
        fence = LeaseFence(name="scheduler", holder="n2", term=2)
        advances = [adv("s", 1, T0 + SEC, T0), adv("u", 1, T0 + SEC, T0)]
        first = await s.record_fires([], advances, fence=fence, now=datetime.now(UTC))
        assert first.advanced == 0  # both left out; the dead tick's lock is broken
        second = await s.record_fires([], advances, fence=fence, now=datetime.now(UTC))
        assert second.advanced == 1  # the user's lock still holds "u"
        got = await s.get_schedule("s")
        assert got is not None and got.next_fire_time == T0 + SEC


# -- races FerretDB's read-then-write updates would lose ----------------------------------------


@external
async def test_finish_and_lose_runs_racing_apply_exactly_once(mongo_url: str) -> None:
    async with MongoStore(mongo_url) as a, MongoStore(mongo_url) as b:
        runs = [make_run(schedule_id=f"s{i}") for i in range(20)]
        await a.insert_runs(runs)
        assert len(await a.claim_runs("n1", T0, 20)) == 20
        done = RunOutcome(status=RunStatus.SUCCESS, finished_at=T0 + SEC, duration=1.0)
        stale = await b.stale_runs(T0 + SEC, 100)
        verdicts = [lost(r, stale_before=T0 + SEC, now=T0 + 2 * SEC) for r in stale]
        finished, marked = await asyncio.gather(
            asyncio.gather(*(a.finish_run(fin(r.id, 1, "n1", done)) for r in runs)),
            b.lose_runs(verdicts),
        )
        lost_ids = {v.run_id for v, ok in zip(verdicts, marked, strict=True) if ok}
        for run, was_finished in zip(runs, finished, strict=True):
            assert was_finished != (run.id in lost_ids)
            got = await a.get_run(run.id)
            assert got is not None
            assert got.status is (RunStatus.SUCCESS if was_finished else RunStatus.LOST)


@external
async def test_cancel_racing_claims_never_loses_either(mongo_url: str) -> None:
    async with MongoStore(mongo_url) as a, MongoStore(mongo_url) as b:
        runs = [make_run(schedule_id=f"s{i}") for i in range(12)]
        await a.insert_runs(runs)
        claimed, cancelled = await asyncio.gather(
            a.claim_runs("n1", T0, 12),
            asyncio.gather(*(b.request_cancel(r.id, T0, "stop") for r in runs)),
        )
        claimed_ids = {r.id for r in claimed}
        for run, after in zip(runs, cancelled, strict=True):
            assert after is not None
            got = await a.get_run(run.id)
            assert got is not None
            if run.id in claimed_ids:  # claimed first: it runs, and is asked to stop
                assert got.status is RunStatus.RUNNING and got.cancel_requested
            else:
                assert got.status is RunStatus.CANCELLED and got.node_id is None


@external
async def test_user_schedule_changes_survive_a_racing_advance(mongo_url: str) -> None:
    async with MongoStore(mongo_url) as user, MongoStore(mongo_url) as leader:
        for version in range(1, 31):
            await seed(user, make_schedule(version=version))
            changed = make_schedule(version=version + 1, trigger={"trigger": "cron", "hour": 3})
            await asyncio.gather(
                leader.advance_schedules([adv("s", version, T0 + version * SEC, T0)]),
                user.put_schedule(changed, expected_version=version),
            )
            got = await user.get_schedule("s")
            assert got is not None
            assert (got.version, got.trigger) == (version + 1, changed.trigger)


@external
async def test_touch_racing_revoke_never_unrevokes(mongo_url: str) -> None:
    async with MongoStore(mongo_url) as api, MongoStore(mongo_url) as admin:
        for i in range(5):
            token = ApiToken(
                id=f"t{i}", name="ci", role="viewer", token_hash=f"{i:064}", created_at=T0
            )
            await admin.put_token(token)
            await asyncio.gather(
                *(api.touch_token(token.id, T0 + n * SEC) for n in range(4)),
                admin.revoke_token(token.id),
            )
            got = await api.get_token_by_hash(token.token_hash)
            assert got is not None and got.revoked


@external
async def test_renewal_racing_a_takeover_never_leaves_two_holders(mongo_url: str) -> None:
    async with MongoStore(mongo_url) as a, MongoStore(mongo_url) as b:
        for i in range(15):
            name = f"leader-{i}"
            assert await a.acquire_lease(name, "a", 10, T0)
            # By a's clock the lease is still valid, by b's it has just expired.
            renewed, taken = await asyncio.gather(
                a.renew_lease(name, "a", 1, 10, T0 + 9 * SEC),
                b.acquire_lease(name, "b", 10, T0 + 10 * SEC),
            )
            assert renewed is None or taken is None
            current = await a.get_lease(name)
            assert current is not None
            holder = renewed or taken
            if holder is not None:
                assert current == holder


@external
async def test_requeue_racing_itself_applies_once(mongo_url: str) -> None:
    async with MongoStore(mongo_url) as a, MongoStore(mongo_url) as b:
        run = make_run(max_attempts=3)
        await a.insert_runs([run])
        await a.claim_runs("n1", T0, 1)
        failed = RunOutcome(status=RunStatus.FAILED, finished_at=T0, duration=1.0)
        assert await a.finish_run(fin(run.id, 1, "n1", failed))
        results = await asyncio.gather(
            *(
                s.requeue_run(rq(run.id, 1, [RunStatus.FAILED], T0, {"n": i}))
                for i, s in enumerate([a, b] * 4)
            )
        )
        assert sorted(results, key=str) == [None] * 7 + [RunStatus.PENDING]
        got = await a.get_run(run.id)
        assert got is not None and got.attempt == 2 and len(got.attempt_errors) == 1


# -- bulk schedule inserts: compensation instead of a transaction -----------------------------


@external
async def test_a_bulk_insert_failing_midway_deletes_what_it_inserted(
    store: MongoStore, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates an id of the batch after the check, before its batch is
    written: the batches already written are deleted again (at whatever version each was
    inserted: a schedule created again continues a deleted one's), the other writer's
    schedule (and a schedule a user changed meanwhile, one version up) stays."""
    from schedkit.errors import ScheduleConflictError
    from schedkit.store.mongo.schedules import INSERT_BATCH

    batch = [
        make_schedule(id=f"s{i:05d}", next_fire_time=T0 + i * SEC, version=1 + i % 3)
        for i in range(2500)
    ]
    late = batch[2 * INSERT_BATCH + 5].id
    collection = store._c.schedules
    real_insert = collection.insert_many
    calls: list[int] = []

    async def insert_many(docs: Any, **kwargs: Any) -> Any:
        calls.append(len(docs))
        if len(calls) == 2:  # a user changes a schedule of the first batch meanwhile
            await raw["scheduler_jobs"].update_one({"_id": "s00004"}, {"$set": {"version": 3}})
        if len(calls) == 3:  # another writer creates an id of the third batch
            await store.put_schedule(make_schedule(id=late, version=5), expected_version=0)
        return await real_insert(docs, **kwargs)

    monkeypatch.setattr(collection, "insert_many", insert_many)
    with pytest.raises(ScheduleConflictError) as caught:
        await store.insert_schedules(batch)
    assert (caught.value.schedule_id, caught.value.actual) == (late, 5)
    assert calls == [INSERT_BATCH, INSERT_BATCH, 500]
    left = sorted(s.id for s in await store.list_schedules())
    assert left == ["s00004", late]


@external
async def test_a_replacement_failing_midway_sets_back_what_it_wrote(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server is lost after the first write batch of a replacement: the schedules it
    wrote are set back to their stored documents before the error is raised."""
    from schedkit.store.mongo.base import WRITE_BATCH

    await store.insert_schedules([make_schedule(id=f"s{i:05d}") for i in range(250)])
    before = await store.list_schedules()
    collection = store._c.schedules
    real_bulk_write = collection.bulk_write
    calls: list[int] = []

    async def bulk_write(ops: Any, **kwargs: Any) -> Any:
        calls.append(len(ops))
        if len(calls) == 2:
            raise AutoReconnect("connection lost")
        return await real_bulk_write(ops, **kwargs)

    monkeypatch.setattr(collection, "bulk_write", bulk_write)
    with pytest.raises(StoreUnavailableError):
        await store.replace_schedules(
            [replace(s, paused=True, version=s.version + 1) for s in before]
        )
    assert calls[:2] == [WRITE_BATCH, WRITE_BATCH]
    assert await store.list_schedules() == before


async def test_documents_stored_before_runs_had_an_executor_are_local(
    store: MongoStore, raw: Raw
) -> None:
    """The MongoDB side of the SQL step that added ``executor``: a run document without
    the field reads as ``local`` and local claims take it; a schedule without it follows
    its task."""
    run = make_run(schedule_id="old")
    await store.insert_runs([run])
    await store.put_schedule(make_schedule(id="old", executor="celery"), expected_version=0)
    await raw["task_execution_logs"].update_one({"_id": run.id}, {"$unset": {"executor": ""}})
    await raw["scheduler_jobs"].update_one({"_id": "old"}, {"$unset": {"executor": ""}})
    got = await store.get_run(run.id)
    assert got is not None and got.executor == "local"
    assert [r.id for r in await store.list_runs(RunFilter(executor="local"))] == [run.id]
    [claimed] = await store.claim_runs("n1", T0, 5, executor="local")
    assert claimed.id == run.id and claimed.executor == "local"
    schedule = await store.get_schedule("old")
    assert schedule is not None and schedule.executor is None


async def test_a_call_on_a_silently_cut_connection_fails_in_time(mongo_url: str) -> None:
    """A chaos audit: with FerretDB's packets dropped (no refusal) the first failed call
    came after about 30 s, and a call on an established connection hung until TCP gave
    up: pymongo has no socket timeout unless one is set."""
    parts = urlsplit(mongo_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = Proxy((parts.hostname, parts.port))
    await proxy.start()
    try:
        via_proxy = parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        async with MongoStore(via_proxy, socket_timeout=1.0, server_selection_timeout=1.0) as s:
            run = make_run()
            await s.insert_runs([run])
            proxy.held = True
            began = asyncio.get_running_loop().time()
            with pytest.raises(StoreUnavailableError):
                await s.get_run(run.id)
            assert asyncio.get_running_loop().time() - began < 1.0 + 3.0
            proxy.held = False
    finally:
        await proxy.cut()


def test_every_store_call_translates_driver_errors() -> None:
    """The same audit: ``get_run`` (and ``run_counts_per_hour``) let pymongo's
    NetworkTimeout out where the contract promises StoreUnavailableError, so callers
    that back off and retry store errors crashed instead."""
    from schedkit.store import Store

    bare = [
        name
        for name in sorted(Store.__abstractmethods__)
        if name not in ("open", "close")  # they translate what they raise themselves
        and inspect.iscoroutinefunction(getattr(MongoStore, name))
        and not hasattr(getattr(MongoStore, name), "__wrapped__")
    ]
    assert bare == []
