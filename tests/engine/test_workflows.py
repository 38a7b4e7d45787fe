"""Workflows on a running node, on every store: DAG ordering, conditions, failure
policies, retry-and-continue, parameters passed down, the launcher (schedule) path, and
exactly-once advancement (concurrent advancers, a node dying between two steps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from schedkit import RunStatus, Step, TaskContext, TaskRegistry, Workflow, task
from schedkit.clock import SystemClock
from schedkit.engine import runs as run_builder
from schedkit.engine.flows import Flows
from schedkit.errors import (
    ConflictError,
    TaskDefinitionError,
    ValidationError,
    WorkflowNotFoundError,
)
from schedkit.models import Run, RunOutcome, TriggerSource, WorkflowRun, WorkflowStatus, utcnow
from schedkit.store import Store, create_store
from schedkit.store.values import RunFinish
from schedkit.workflows.plan import step_run_id

from .conftest import MakeScheduler

NO_RETRY = {"max_retries": 0}


def make_tasks(log: list[tuple[str, str]], fail: set[str]) -> list[Any]:
    """Tasks a, b, c, d, e, handler, cleanup: each logs its start and end, fails while
    its name is in ``fail``, and returns its name and what its upstream steps returned."""
    made = []
    for name in ("a", "b", "c", "d", "e", "handler", "cleanup"):

        def body(ctx: TaskContext, _name: str = name) -> dict[str, Any]:
            log.append(("start", _name))
            time.sleep(0.05)
            log.append(("end", _name))
            if _name in fail:
                raise RuntimeError(f"{_name} failed")
            ups = {k: ctx.upstream_data(k) for k in sorted(ctx.upstream)}
            return {"data": {"name": _name, "upstream": ups, "params": ctx.workflow["params"]}}

        made.append(task(name=name, retry=NO_RETRY, schedule=None)(body))
    return made


def diamond(policy: str = "stop") -> Workflow:
    return Workflow(
        "diamond",
        [
            Step(name="a", task="a"),
            Step(name="b", task="b", after=("a",)),
            Step(name="c", task="c", after=("a",)),
            Step(name="d", task="d", after=("b", "c")),
            Step(name="e", task="e", after=("a",)),
            Step(name="handler", task="handler", after=("b",), on="failure"),
            Step(name="cleanup", task="cleanup", after=("d",), on="always"),
        ],
        failure_policy=policy,
    )


async def start_node(
    make_scheduler: MakeScheduler, wf: Workflow, fail: set[str]
) -> tuple[Any, list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    reg = TaskRegistry()
    for t in make_tasks(log, fail):
        reg.register_task(t)
    reg.register_workflow(wf)
    s = await make_scheduler(registry=reg)
    return s, log


def _flows(
    store: Store,
    registry: TaskRegistry | None = None,
    created: Callable[[Sequence[Run]], None] = lambda runs: None,
) -> Flows:
    """A node's workflow engine alone, over ``store``, without an executor."""
    return Flows(
        store=store,
        registry=registry or TaskRegistry(),
        clock=SystemClock(),
        wake=lambda: None,
        created=created,
    )


def steps(state: Any) -> dict[str, str]:
    return {name: v.state for name, v in state.plan.steps.items()}


async def test_a_dag_runs_in_order_and_passes_results_down(make_scheduler: MakeScheduler) -> None:
    s, log = await start_node(make_scheduler, diamond(), fail=set())
    started = await s.workflows.start("diamond", {"day": "2026-12-01"}, actor="alice")
    assert started.record.status is WorkflowStatus.RUNNING
    state = await s.workflows.wait(started.record.id, timeout=30)
    assert state.record.status is WorkflowStatus.SUCCESS
    assert state.record.finished_at is not None
    assert steps(state) == {
        "a": "success",
        "b": "success",
        "c": "success",
        "d": "success",
        "e": "success",
        "handler": "skipped",
        "cleanup": "success",
    }
    position = {event: i for i, event in enumerate(log)}
    for up, down in [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "cleanup")]:
        assert position[("end", up)] < position[("start", down)], (up, down, log)
    d = state.plan.steps["d"].run
    assert d is not None and d.trigger_source is TriggerSource.WORKFLOW
    assert d.result is not None
    assert d.result["data"]["upstream"] == {
        "b": {
            "name": "b",
            "upstream": {"a": {"name": "a", "upstream": {}, "params": {"day": "2026-12-01"}}},
            "params": {"day": "2026-12-01"},
        },
        "c": {
            "name": "c",
            "upstream": {"a": {"name": "a", "upstream": {}, "params": {"day": "2026-12-01"}}},
            "params": {"day": "2026-12-01"},
        },
    }
    assert d.started_at is not None and d.duration is not None
    listed = await s.workflows.history("diamond")
    assert [w.id for w in listed] == [started.record.id]
    assert await s.workflows.count(status=WorkflowStatus.SUCCESS) == 1
    # History purges take the workflow runs with their step runs.
    await asyncio.sleep(0.01)
    assert await s.purge(timedelta(0)) == 6  # the six steps that ran
    assert await s.workflows.count() == 0


async def test_stop_policy_runs_the_handlers_only(make_scheduler: MakeScheduler) -> None:
    s, log = await start_node(make_scheduler, diamond("stop"), fail={"b"})
    # (Which independent steps "stop" skips depends on what had started when b failed;
    # tests/unit/test_workflows.py pins that decision. Here: what a real node does.)
    state = await s.workflows.wait((await s.workflows.start("diamond", actor="t")).record.id, 30)
    assert state.record.status is WorkflowStatus.FAILED
    got = steps(state)
    assert got["b"] == "failed"
    assert got["handler"] == "success"
    assert got["d"] == "skipped"
    assert got["cleanup"] == "success"  # always runs once d is known not to
    assert state.plan.steps["d"].reason in {
        "the workflow stopped: step b failed",
        "upstream step b failed",
    }
    assert ("start", "d") not in log


async def test_continue_policy_runs_independent_branches(make_scheduler: MakeScheduler) -> None:
    wf = Workflow(
        "branches",
        [
            Step(name="a", task="a"),
            Step(name="b", task="b", after=("a",)),
            Step(name="d", task="d", after=("b",)),
            Step(name="c", task="c", after=("a",)),
            Step(name="e", task="e", after=("c",)),
        ],
        failure_policy="continue",
    )
    s, _ = await start_node(make_scheduler, wf, fail={"b"})
    state = await s.workflows.wait((await s.workflows.start("branches", actor="t")).record.id, 30)
    assert state.record.status is WorkflowStatus.FAILED
    assert steps(state) == {
        "a": "success",
        "b": "failed",
        "d": "skipped",
        "c": "success",
        "e": "success",
    }
    assert state.plan.steps["d"].reason == "upstream step b failed"


async def test_retry_a_failed_step_and_continue_from_there(make_scheduler: MakeScheduler) -> None:
    fail = {"c"}
    wf = Workflow.chain("line", ["a", "c", "d"])
    log: list[tuple[str, str]] = []
    reg = TaskRegistry()
    for t in make_tasks(log, fail):
        reg.register_task(t)
    reg.register_workflow(wf)
    s = await make_scheduler(registry=reg)
    run_id = (await s.workflows.start("line", actor="t")).record.id
    state = await s.workflows.wait(run_id, 30)
    assert state.record.status is WorkflowStatus.FAILED
    assert steps(state) == {"a": "success", "c": "failed", "d": "skipped"}
    with pytest.raises(ConflictError, match="only a failed step"):
        await s.workflows.retry_step(run_id, "a", actor="t")
    with pytest.raises(ConflictError, match="has not run") as not_run:
        await s.workflows.retry_step(run_id, "d", actor="t")
    assert str(not_run.value).endswith(
        "(the workflow stopped: step c failed): retry the failed step 'c'; the steps it kept "
        "from running follow"
    )
    with pytest.raises(ValidationError, match="no step"):
        await s.workflows.retry_step(run_id, "zz", actor="t")

    fail.clear()  # the cause is fixed; the operator retries the step
    requeued = await s.workflows.retry_step(run_id, "c", actor="ops")
    # An attempt beyond the task's own (no retries: 1): "attempt 2 of 2", not "2 of 1".
    assert (requeued.attempt, requeued.max_attempts) == (2, 2)
    state = await s.workflows.wait(run_id, 30)
    assert state.record.status is WorkflowStatus.SUCCESS, steps(state)
    assert steps(state) == {"a": "success", "c": "success", "d": "success"}
    assert log.count(("start", "a")) == 1  # a is not run again
    c = state.plan.steps["c"].run
    assert c is not None and c.attempt_errors[0]["status"] == "failed"
    assert [e.action for e in await s.list_audit(action="workflow.retry_step")] == [
        "workflow.retry_step"
    ]


async def test_retrying_a_step_no_failure_skipped_says_none_failed(
    make_scheduler: MakeScheduler,
) -> None:
    """An audit: retrying a ``failure`` step skipped in a run where nothing failed said
    "retry the failed step before it", and there was none."""
    s, _ = await start_node(make_scheduler, diamond("stop"), fail=set())
    state = await s.workflows.wait((await s.workflows.start("diamond", actor="t")).record.id, 30)
    assert state.record.status is WorkflowStatus.SUCCESS
    with pytest.raises(ConflictError) as refused:
        await s.workflows.retry_step(state.record.id, "handler", actor="t")
    assert str(refused.value).endswith(
        "(no upstream step failed): only a failed step is retried, and none has failed"
    )


async def test_the_launcher_task_starts_the_workflow_once(make_scheduler: MakeScheduler) -> None:
    wf = Workflow.chain("line", ["a", "d"], schedule={"trigger": "cron", "hour": 3})
    s, _ = await start_node(make_scheduler, wf, fail=set())
    schedule = await s.get_schedule("workflow.line")
    assert schedule is not None and schedule.trigger["hour"] == 3
    launcher = await s.run_now("workflow.line", {"region": "华东"}, wait=True, timeout=30)
    assert launcher.status is RunStatus.SUCCESS
    assert launcher.result is not None
    run_id = launcher.result["data"]["workflow_run_id"]
    assert run_id == launcher.id
    state = await s.workflows.wait(run_id, 30)
    assert state.record.status is WorkflowStatus.SUCCESS
    assert state.record.params == {"region": "华东"}
    assert state.record.trigger_source is TriggerSource.MANUAL
    with pytest.raises(WorkflowNotFoundError):
        await s.workflows.start("nope", actor="t")
    with pytest.raises(ValidationError, match="params"):
        await s.workflows.start("line", {"x": float("inf")}, actor="t")


async def test_a_node_dying_between_two_steps_is_completed_by_the_leader(
    make_scheduler: MakeScheduler, store_url: str
) -> None:
    """Step a finished and its node died before creating step d: the workflow run is
    left running with nothing active. The leader's sweep starts d."""
    wf = Workflow.chain("line", ["a", "d"])
    seed = create_store(store_url)
    await seed.open()
    try:
        record = WorkflowRun(
            id="w-orphan",
            workflow="line",
            definition=wf.to_json(),
            trigger_source=TriggerSource.SCHEDULE,
            scheduled_for=utcnow(),
        )
        assert await seed.insert_workflow_run(record)
        a = run_builder.step(None, "a", record, "a", {}, record.created_at)
        done = replace(
            a, status=RunStatus.SUCCESS, finished_at=record.created_at, result={"data": 1}
        )
        assert await seed.insert_runs([done])
    finally:
        await seed.close()
    s, log = await start_node(make_scheduler, wf, fail=set())
    state = await s.workflows.wait("w-orphan", timeout=30)
    assert state.record.status is WorkflowStatus.SUCCESS
    assert log == [("start", "d"), ("end", "d")]


async def test_concurrent_advancers_create_each_step_once(store: Store, store_url: str) -> None:
    wf = Workflow(
        "fan",
        [Step(name=f"s{i}", task="a") for i in range(5)]
        + [Step(name="join", task="a", after=tuple(f"s{i}" for i in range(5)))],
    )
    others = [create_store(store_url) for _ in range(3)]
    for o in others:
        await o.open()
    try:
        announced: list[str] = []
        flows = [
            _flows(st, created=lambda runs: announced.extend(r.id for r in runs))
            for st in [store, *others]
        ]
        record, _ = await flows[0].start(wf, {}, run_id="w-race")
        await asyncio.gather(*(f.advance(record.id) for f in flows for _ in range(3)))
        runs = await store.list_runs()
        assert sorted(r.id for r in runs) == sorted(
            step_run_id("w-race", f"s{i}") for i in range(5)
        )
        # Each step run announced once, by the advancer that stored it.
        assert sorted(announced) == sorted(r.id for r in runs)
        # Every root ends together: each advancer sees the join ready; one run is made.
        for r in runs:
            claimed = await store.claim_runs("n", r.not_before, 10)
            for c in claimed:
                await store.finish_run(
                    RunFinish(
                        run_id=c.id,
                        attempt=c.attempt,
                        node_id="n",
                        outcome=RunOutcome(status=RunStatus.SUCCESS, finished_at=c.not_before),
                    )
                )
        results = await asyncio.gather(*(f.advance(record.id) for f in flows for _ in range(3)))
        assert all(r is not None for r in results)
        joins = [r for r in await store.list_runs() if r.id == step_run_id("w-race", "join")]
        assert len(joins) == 1
        assert len(await store.list_runs()) == 6
        assert sorted(announced) == sorted(r.id for r in await store.list_runs())
    finally:
        for o in others:
            await o.close()


async def test_advancing_what_is_not_there_changes_nothing(store: Store, store_url: str) -> None:
    flows = _flows(store)
    assert await flows.advance("nope") is None
    assert await flows.state("nope") is None
    with pytest.raises(ValidationError, match="no workflow run"):
        await flows.retry_step("nope", "a")
    plain = run_builder.manual(
        task(name="x")(lambda: None), {}, utcnow(), actor="t"
    )  # not a workflow step
    await flows.step_ended(plain)
    # A store that fails leaves the advancement to the sweep (logged, not raised).
    closed = create_store(store_url)
    broken = _flows(closed)
    step = replace(plain, schedule_id="workflow:w1:a")
    await broken.step_ended(step)


async def test_a_step_cancelled_while_it_ran_can_be_retried(make_scheduler: MakeScheduler) -> None:
    """An audit: retrying a step cancelled while it ran was accepted, and the new attempt
    was cancelled again at its first heartbeat (the old request stayed on the run)."""
    started, release = asyncio.Event(), asyncio.Event()

    @task("held", retry=NO_RETRY, schedule=None)
    async def held() -> str:
        started.set()
        await release.wait()
        await asyncio.sleep(1.0)  # several heartbeats: a stale cancel request would act
        return "done"

    reg = TaskRegistry()
    reg.register_task(held)
    for t in make_tasks([], set()):
        reg.register_task(t)
    reg.register_workflow(Workflow.chain("held_line", ["held", "d"]))
    s = await make_scheduler(registry=reg)
    run_id = (await s.workflows.start("held_line", actor="t")).record.id
    await asyncio.wait_for(started.wait(), 10)
    state = await s.workflows.get(run_id)
    step = state.plan.steps["held"].run
    assert step is not None
    await s.cancel_run(step.id, actor="ops")
    state = await s.workflows.wait(run_id, 30)
    assert steps(state) == {"held": "cancelled", "d": "skipped"}
    assert state.plan.steps["d"].reason == "the workflow stopped: step held was cancelled"

    release.set()
    await s.workflows.retry_step(run_id, "held", actor="ops")
    state = await s.workflows.wait(run_id, 30)
    assert steps(state) == {"held": "success", "d": "success"}, state.plan.steps


async def test_cancelling_a_pending_step_moves_the_workflow_on_at_once(
    make_scheduler: MakeScheduler,
) -> None:
    wf = Workflow(
        "line",
        [
            Step(name="a", task="a"),
            Step(name="d", task="d", after=("a",)),
            Step(name="cleanup", task="cleanup", after=("a",), on="failure"),
        ],
    )
    reg = TaskRegistry()
    for t in make_tasks([], set()):
        reg.register_task(t)
    reg.register_workflow(wf)
    # No executor here: the first step stays pending. The leader's sweep runs at start,
    # then only after lost_after: what follows below is the cancel's own doing.
    s = await make_scheduler(
        registry=reg, executor={"enabled": False}, scheduler={"lost_after": 60.0}
    )
    started = await s.workflows.start("line", actor="t")
    a = started.plan.steps["a"].run
    assert a is not None and a.status is RunStatus.PENDING
    await s.cancel_run(a.id, actor="ops")
    state = await s.workflows.get(started.record.id)
    assert state.plan.steps["d"].state == "skipped"
    assert state.plan.steps["cleanup"].state == "pending"  # created: it runs on failure


async def test_a_launcher_attempt_repeated_after_a_crash_starts_one_workflow_run(
    store: Store,
) -> None:
    """The launcher node died after starting the workflow run but before recording its
    own end: the reaper's retry launches again, with the same launcher run."""
    wf = Workflow.chain("line", ["a", "d"])
    reg = TaskRegistry()
    reg.register_workflow(wf)
    launcher = run_builder.manual(
        reg.require("workflow.line"), {"day": 1}, utcnow(), actor="scheduler"
    )
    flows = _flows(store, reg)
    first = await flows.launch(wf, launcher)
    retried = replace(launcher, attempt=2, trigger_source=TriggerSource.RETRY)
    again = await flows.launch(wf, retried)
    assert first.id == again.id == launcher.id
    assert await store.count_workflow_runs() == 1
    assert [r.id for r in await store.list_runs()] == [step_run_id(launcher.id, "a")]


async def test_the_sweep_reaches_every_unfinished_workflow_run(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schedkit.engine.flows.SWEEP_BATCH", 2)
    wf = Workflow.chain("line", ["a"])
    now = utcnow()
    for i in range(5):
        record = WorkflowRun(
            id=f"w{i}",
            workflow="line",
            definition=wf.to_json(),
            trigger_source=TriggerSource.SCHEDULE,
            scheduled_for=now,
        )
        assert await store.insert_workflow_run(record)
    flows = _flows(store)
    assert await flows.sweep() == 5
    assert {r.id for r in await store.list_runs()} == {step_run_id(f"w{i}", "a") for i in range(5)}


async def test_the_leader_completes_advancements_a_node_did_not_make(
    make_scheduler: MakeScheduler,
) -> None:
    """Two nodes: a worker that executes steps but "dies" after recording each step's end
    (it never advances the workflow), and a leader that executes nothing. The leader's
    sweep creates each next step and writes the end of the workflow."""
    wf = Workflow.chain("line", ["a", "c", "d"])
    log: list[tuple[str, str]] = []

    def registry() -> TaskRegistry:
        reg = TaskRegistry()
        for t in make_tasks(log, set()):
            reg.register_task(t)
        reg.register_workflow(wf)
        return reg

    worker = await make_scheduler(registry=registry(), scheduler={"enabled": False})

    async def dies_before_advancing(run: Any) -> None:
        return None

    worker._executor.flows.step_ended = dies_before_advancing  # type: ignore[method-assign]
    leader = await make_scheduler(
        registry=registry(), executor={"enabled": False}, scheduler={"lost_after": 1.0}
    )
    started = await leader.workflows.start("line", actor="t")
    state = await leader.workflows.wait(started.record.id, timeout=60)
    assert state.record.status is WorkflowStatus.SUCCESS
    assert [e for e in log if e[0] == "start"] == [("start", "a"), ("start", "c"), ("start", "d")]
    nodes = {v.run.node_id for v in state.plan.steps.values() if v.run is not None}
    assert nodes == {worker.node_id}


async def test_a_start_repeated_with_its_key_starts_one_workflow_run(
    make_scheduler: MakeScheduler,
) -> None:
    """A client's retry, a double submit, the same start on two nodes at once: one run
    of the workflow, each step once; the same key with other params is refused."""
    s, log = await start_node(make_scheduler, diamond(), fail=set())
    other = await make_scheduler(registry=s.registry)
    params = {"day": "2026-12-05"}
    starts = await asyncio.gather(
        *(
            node.workflows.start("diamond", params, actor="t", idempotency_key="day-2026-12-05")
            for node in (s, other, s, other)
        )
    )
    assert len({state.record.id for state in starts}) == 1
    done = await s.workflows.wait(starts[0].record.id, 30)
    assert done.record.status is WorkflowStatus.SUCCESS
    assert sorted(name for kind, name in log if kind == "start") == [
        "a",
        "b",
        "c",
        "cleanup",
        "d",
        "e",
    ]
    again = await s.workflows.start("diamond", params, actor="t", idempotency_key="day-2026-12-05")
    assert (again.record.id, again.record.status) == (done.record.id, WorkflowStatus.SUCCESS)
    assert len(await s.workflows.history("diamond")) == 1
    assert len(await s.list_audit(action="workflow.start")) == 1
    with pytest.raises(ConflictError, match="other params"):
        await s.workflows.start(
            "diamond", {"day": "x"}, actor="t", idempotency_key="day-2026-12-05"
        )
    with pytest.raises(ValidationError):
        await s.workflows.start("diamond", params, actor="t", idempotency_key="")


async def test_start_refuses_a_depends_on_naming_no_task(make_scheduler: MakeScheduler) -> None:
    @task("down_typo", depends_on=["upp"])
    async def down_typo() -> None: ...

    @task("up")
    async def up() -> None: ...

    with pytest.raises(TaskDefinitionError, match=r"task 'down_typo': depends_on: .*'up'\?"):
        await make_scheduler(up, down_typo)
