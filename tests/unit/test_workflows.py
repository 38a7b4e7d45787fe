"""Workflow definitions (validation, cycle rejection, layers) and the pure plan: DAG
ordering, conditions and failure policies, decided from step runs alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, get_args

import pytest

from schedkit.errors import DuplicateTaskError, TaskDefinitionError, ValidationError
from schedkit.models import Run, RunStatus, TriggerSource, WorkflowStatus
from schedkit.registry import TaskRegistry
from schedkit.task import task
from schedkit.workflows import FailurePolicy, Step, StepCondition, Workflow, WorkflowDefinitionError
from schedkit.workflows.definition import StepConditionName
from schedkit.workflows.launcher import WorkflowLauncher
from schedkit.workflows.params import check_params
from schedkit.workflows.plan import (
    WORKFLOW_KEY,
    parse_step_key,
    plan,
    step_key,
    step_kwargs,
    step_run_id,
)

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def diamond(policy: FailurePolicy = FailurePolicy.STOP) -> Workflow:
    #   a → b → d,  a → c → d,  e independent,  b fails → handler,  cleanup always after d
    return Workflow(
        "diamond",
        [
            Step(name="a", task="t"),
            Step(name="b", task="t", after=("a",)),
            Step(name="c", task="t", after=("a",)),
            Step(name="d", task="t", after=("b", "c")),
            Step(name="e", task="t"),
            Step(name="handler", task="t", after=("b",), on="failure"),
            Step(name="cleanup", task="t", after=("d",), on="always"),
        ],
        failure_policy=policy,
    )


def run(step: str, status: RunStatus, result: dict | None = None) -> Run:
    return Run(
        id=step_run_id("w1", step),
        task_name="t",
        schedule_id=step_key("w1", step),
        trigger_source=TriggerSource.WORKFLOW,
        scheduled_for=T0,
        status=status,
        result=result,
    )


def states(wf: Workflow, runs: dict[str, Run]) -> dict[str, str]:
    return {name: v.state for name, v in plan(wf, runs).steps.items()}


# -- definitions ------------------------------------------------------------------------


def test_a_cycle_is_rejected_when_defined_and_named() -> None:
    with pytest.raises(WorkflowDefinitionError, match="cycle: c → b → a → c"):
        Workflow(
            "loop",
            [
                Step(name="a", task="t", after=("b",)),
                Step(name="b", task="t", after=("c",)),
                Step(name="c", task="t", after=("a",)),
            ],
        )
    with pytest.raises(WorkflowDefinitionError, match="after itself"):
        Workflow("self", [Step(name="a", task="t", after=("a",))])


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "no steps"),
        ([Step(name="a", task="t"), Step(name="a", task="u")], "defined twice"),
        ([Step(name="a", task="t", after=("x",))], "not a step"),
        ([Step(name="bad name", task="t")], "step name"),
        ([Step(name="a", task="")], "needs a task"),
        ([Step(name="a", task="t", on="failure")], "comes after no step"),
        ([Step(name="a", task="t", kwargs={"x": float("nan")})], "not storable"),
    ],
)
def test_malformed_definitions_are_refused(steps: list[Step], message: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        Workflow("w", steps)


def test_bad_policy_or_condition_names_the_field() -> None:
    with pytest.raises(WorkflowDefinitionError) as info:
        Workflow("w", [Step(name="a", task="t")], failure_policy="sometimes")
    assert info.value.field == "failure_policy"
    with pytest.raises(WorkflowDefinitionError) as info:
        Workflow("w", [Step(name="a", task="t"), Step(name="b", task="t", after="a", on="maybe")])
    assert info.value.field == "steps.b.on"
    with pytest.raises(WorkflowDefinitionError, match="workflow name"):
        Workflow("", [Step(name="a", task="t")])


def test_layers_chain_and_json_round_trip() -> None:
    wf = diamond()
    assert wf.layers() == [["a", "e"], ["b", "c"], ["d", "handler"], ["cleanup"]]
    assert Workflow.from_json(wf.to_json()) == wf
    chain = Workflow.chain("line", ["x", "y", "z"])
    assert [s.after for s in chain.steps] == [(), ("x",), ("y",)]
    assert wf.downstream("b") == ["d", "handler"]
    with pytest.raises(WorkflowDefinitionError, match="no step"):
        wf.step("zz")
    with pytest.raises(WorkflowDefinitionError, match="malformed"):
        Workflow.from_json({"name": "x"})


# -- plan: ordering ----------------------------------------------------------------------


def test_roots_start_first_and_a_step_waits_for_every_upstream() -> None:
    wf = diamond()
    first = plan(wf, {})
    assert first.ready == ["a", "e"]
    assert first.status is WorkflowStatus.RUNNING
    runs = {"a": run("a", RunStatus.SUCCESS), "e": run("e", RunStatus.RUNNING)}
    assert plan(wf, runs).ready == ["b", "c"]
    runs |= {"b": run("b", RunStatus.SUCCESS), "c": run("c", RunStatus.RUNNING)}
    p = plan(wf, runs)
    assert p.ready == []  # d waits for c; handler is skipped (b did not fail)
    assert p.steps["d"].state == "waiting"
    assert p.steps["handler"].state == "skipped"
    assert p.steps["handler"].reason == "no upstream step failed"
    runs |= {"c": run("c", RunStatus.SUCCESS)}
    assert plan(wf, runs).ready == ["d"]
    runs |= {"d": run("d", RunStatus.SUCCESS), "e": run("e", RunStatus.SUCCESS)}
    assert plan(wf, runs).ready == ["cleanup"]
    runs |= {"cleanup": run("cleanup", RunStatus.SUCCESS)}
    done = plan(wf, runs)
    assert done.ready == [] and done.status is WorkflowStatus.SUCCESS


# -- plan: conditions and failure policies -----------------------------------------------


def test_stop_policy_skips_every_success_step_but_runs_failure_and_always_steps() -> None:
    wf = diamond(FailurePolicy.STOP)
    runs = {
        "a": run("a", RunStatus.SUCCESS),
        "b": run("b", RunStatus.FAILED),
        "c": run("c", RunStatus.SUCCESS),
    }
    p = plan(wf, runs)
    # e (independent) is stopped too; the failure handler runs; d is skipped, and
    # cleanup, which always runs, runs once d is known not to.
    assert p.ready == ["handler", "cleanup"]
    assert p.steps["e"].reason == "the workflow stopped: step b failed"
    assert p.steps["d"].state == "skipped"
    assert p.status is WorkflowStatus.RUNNING
    runs |= {
        "handler": run("handler", RunStatus.SUCCESS),
        "cleanup": run("cleanup", RunStatus.SUCCESS),
    }
    assert plan(wf, runs).status is WorkflowStatus.FAILED


def test_a_step_stopped_by_a_cancelled_one_says_cancelled() -> None:
    """An audit: a cancelled step made the others skip with "step s failed"."""
    wf = diamond(FailurePolicy.STOP)
    runs = {"a": run("a", RunStatus.SUCCESS), "b": run("b", RunStatus.CANCELLED)}
    assert plan(wf, runs).steps["e"].reason == "the workflow stopped: step b was cancelled"


def test_continue_policy_runs_independent_branches_and_skips_only_downstream() -> None:
    wf = diamond(FailurePolicy.CONTINUE)
    runs = {
        "a": run("a", RunStatus.SUCCESS),
        "b": run("b", RunStatus.TIMEOUT),
        "c": run("c", RunStatus.SUCCESS),
    }
    p = plan(wf, runs)
    assert p.ready == ["e", "handler", "cleanup"]
    assert p.steps["d"].reason == "upstream step b timed out"


def test_failure_steps_react_to_every_failure_status_and_skipped_upstreams_cascade() -> None:
    wf = Workflow(
        "w",
        [
            Step(name="a", task="t"),
            Step(name="b", task="t", after=("a",)),
            Step(name="c", task="t", after=("b",)),
            Step(name="on_a", task="t", after=("a",), on="failure"),
        ],
        failure_policy="continue",
    )
    ended = {
        RunStatus.FAILED: "failed",
        RunStatus.LOST: "was lost",
        RunStatus.CANCELLED: "was cancelled",
        RunStatus.TIMEOUT: "timed out",
    }
    for status, words in ended.items():
        p = plan(wf, {"a": run("a", status)})
        assert p.ready == ["on_a"]
        assert p.steps["b"].reason == f"upstream step a {words}"
        assert p.steps["c"].reason == "upstream step b was skipped"


def test_a_retried_step_reopens_the_steps_it_had_skipped() -> None:
    wf = diamond(FailurePolicy.STOP)
    failed = {"a": run("a", RunStatus.FAILED)}
    assert plan(wf, failed).steps["e"].state == "skipped"
    retried = {"a": replace(failed["a"], status=RunStatus.PENDING, attempt=2)}
    p = plan(wf, retried)
    assert p.ready == ["e"]
    assert p.steps["b"].state == "waiting"
    assert p.status is WorkflowStatus.RUNNING


# -- parameters passed down, keys ---------------------------------------------------------


def test_step_kwargs_carry_the_upstream_results_and_the_workflow_context() -> None:
    wf = Workflow(
        "w",
        [Step(name="a", task="t"), Step(name="b", task="t", after=("a",), kwargs={"n": 1})],
    )
    runs = {"a": run("a", RunStatus.SUCCESS, {"success": True, "data": [1, 2]})}
    kwargs = step_kwargs(wf, "b", runs, {"run_id": "w1", "workflow": "w", "params": {"day": 1}})
    assert kwargs["n"] == 1
    ctx = kwargs[WORKFLOW_KEY]
    assert ctx["step"] == "b" and ctx["params"] == {"day": 1}
    assert ctx["upstream"] == {
        "a": {"status": "success", "result": {"success": True, "data": [1, 2]}}
    }


def test_step_keys_parse_back_and_ids_are_stable() -> None:
    assert parse_step_key(step_key("abc", "s.1")) == ("abc", "s.1")
    assert parse_step_key("daily_report") is None
    assert parse_step_key(None) is None
    assert parse_step_key("workflow:abc") is None
    assert step_run_id("abc", "s") == step_run_id("abc", "s") != step_run_id("abc", "t")
    assert len(step_run_id("abc", "s")) == 32


# -- registry ------------------------------------------------------------------------------


def test_registry_registers_a_launcher_and_checks_step_tasks() -> None:
    reg = TaskRegistry()
    wf = Workflow.chain("line", ["x", "y"])
    reg.register_workflow(wf)
    reg.register_workflow(wf)  # the same again: harmless
    assert reg.get_workflow("line") == wf
    assert "workflow.line" in reg
    with pytest.raises(TaskDefinitionError, match="step 'x'"):
        reg.check_workflows()

    @task(name="x")
    def x() -> None: ...

    @task(name="y")
    def y() -> None: ...

    reg.register_task(x)
    reg.register_task(y)
    reg.check_workflows()
    with pytest.raises(DuplicateTaskError, match="defined twice"):
        reg.register_workflow(Workflow.chain("line", ["y", "x"]))


async def test_the_launcher_task_describes_and_starts_nothing_itself() -> None:
    registry = TaskRegistry()
    launcher = WorkflowLauncher(
        Workflow.chain("line", ["x"], schedule="0 6 * * *"), registry.get_task
    )
    assert launcher.task_name == "workflow.line"
    assert launcher.task_description == "starts workflow line"
    assert launcher.task_category == "workflow"
    assert launcher.default_schedule == "0 6 * * *"
    assert launcher.source == "workflow line"
    assert (await launcher.execute())["success"] is True


def test_a_step_s_kwargs_that_do_not_fit_its_task_name_the_workflow_and_step() -> None:
    @task("counts")
    def counts(n: int) -> None: ...

    reg = TaskRegistry()
    reg.register_task(counts)
    reg.register_workflow(Workflow("w4", [Step(name="a", task="counts", kwargs={"n": "x"})]))
    with pytest.raises(TaskDefinitionError) as info:
        reg.check_workflows()
    assert str(info.value).startswith(
        "workflow 'w4', step 'a': kwargs.n: Input should be a valid integer"
    )


def test_a_workflow_s_declared_params_are_its_launcher_s_form() -> None:
    """An audit: the console's Run now form of ``workflow.daily_contract_close`` said it
    declared no parameters, then refused every name but ``as_of``."""
    import pydantic

    class Params(pydantic.BaseModel):
        as_of: str | None = None

    registry = TaskRegistry()
    registry.register_workflow(Workflow("typed", [Step(name="a", task="t")], params=Params))
    registry.register_workflow(Workflow("open", [Step(name="a", task="t")]))
    typed = registry.get_task("workflow.typed")
    assert typed is not None
    schema = typed.parameters_schema()
    assert schema is not None and set(schema["properties"]) == {"as_of"}
    untyped = registry.get_task("workflow.open")
    assert untyped is not None and untyped.parameters_schema() is None


@task("keeps")
def keeps(keep_last: int = 7, day: date | None = None) -> None: ...


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"keep_last": True}, "params.keep_last", "not a boolean"),
        ({"day": 0}, "params.day", "not a number"),
        ({"day": "abc"}, "params.day", "valid date"),
    ],
)
def test_a_param_a_step_s_task_takes_is_refused_as_its_kwargs_would_be(
    params: dict[str, Any], field: str, message: str
) -> None:
    """Review: params were checked against a step's parameter outside ``validated``, so
    ``{"keep_last": true}`` was stored and reached the task as 1 ("keep 1 backup"), where
    ``schedkit run keeps -p`` with the same value is refused."""
    wf = Workflow("keeping", [Step(name="a", task="keeps")])
    with pytest.raises(ValidationError, match=message) as caught:
        check_params(wf, {"keeps": keeps}.get, params)
    assert caught.value.field == field
    assert "step a (task keeps)" in caught.value.message


def test_a_declared_param_s_error_names_params_not_kwargs() -> None:
    import pydantic

    class Params(pydantic.BaseModel):
        keep_last: int = 7

    wf = Workflow("declared", [Step(name="a", task="t")], params=Params)
    with pytest.raises(ValidationError, match="not a boolean") as caught:
        check_params(wf, {}.get, {"keep_last": True})
    assert caught.value.field == "params.keep_last"
    assert check_params(wf, {}.get, {"keep_last": "3"}) == {"keep_last": 3}


def test_params_are_stored_as_their_declaration_reads_them() -> None:
    """An audit: ``as_of="2026-06-30T00:00:00"`` was accepted for a date and stored as
    typed; every step reading it from its context then failed (``date.fromisoformat``)."""
    wf = Workflow("keeping", [Step(name="a", task="keeps")])
    given = {"day": "2026-06-30T00:00:00", "keep_last": "3", "free": "x"}
    assert check_params(wf, {"keeps": keeps}.get, given) == {
        "day": "2026-06-30",
        "keep_last": 3,
        "free": "x",
    }


def test_a_failure_step_runs_when_a_failure_kept_its_upstream_step_from_running() -> None:
    """An audit: under "stop", collect failed, settle was skipped, and alert_ops (on
    failure, after settle) was skipped too, "no upstream step failed": nobody was told."""
    wf = Workflow(
        "nightly_close",
        [
            Step(name="collect", task="t"),
            Step(name="settle", task="t", after=("collect",)),
            Step(name="alert_ops", task="t", after=("settle",), on="failure"),
        ],
        failure_policy="stop",
    )
    p = plan(wf, {"collect": run("collect", RunStatus.FAILED)})
    assert p.steps["settle"].reason == "the workflow stopped: step collect failed"
    assert p.ready == ["alert_ops"]
    # alert_ops sees why settle did not run.
    kwargs = step_kwargs(wf, "alert_ops", {}, {"run_id": "w1"}, p.steps)
    assert kwargs[WORKFLOW_KEY]["upstream"] == {
        "settle": {
            "status": "skipped",
            "result": None,
            "reason": "the workflow stopped: step collect failed",
        }
    }
    # Under "continue" the same: settle was skipped because collect failed.
    p = plan(
        replace(wf, failure_policy=FailurePolicy.CONTINUE),
        {"collect": run("collect", RunStatus.FAILED)},
    )
    assert p.steps["settle"].reason == "upstream step collect failed"
    assert p.ready == ["alert_ops"]
    # Down a longer chain too; a skip that no failure caused does not count.
    longer = Workflow(
        "w",
        [
            Step(name="a", task="t"),
            Step(name="b", task="t", after=("a",)),
            Step(name="c", task="t", after=("b",)),
            Step(name="on_c", task="t", after=("c",), on="failure"),
            Step(name="on_a", task="t", after=("a",), on="failure"),
            Step(name="after_on_a", task="t", after=("on_a",)),
            Step(name="on_after", task="t", after=("after_on_a",), on="failure"),
        ],
    )
    p = plan(longer, {"a": run("a", RunStatus.TIMEOUT)})
    assert p.ready == ["on_c", "on_a"]
    p = plan(longer, {n: run(n, RunStatus.SUCCESS) for n in ("a", "b", "c")})
    assert p.steps["on_c"].reason == "no upstream step failed"
    assert p.steps["after_on_a"].reason == "upstream step on_a was skipped"
    assert p.steps["on_after"].reason == "no upstream step failed"
    assert p.status is WorkflowStatus.SUCCESS


def test_a_step_takes_its_condition_written_out_as_a_workflow_its_policy() -> None:
    assert set(get_args(StepConditionName)) == {c.value for c in StepCondition}
    step = Step(name="alert", task="alert", after=("a",), on="failure")
    assert step.on is StepCondition.FAILURE
    assert step == Step(name="alert", task="alert", after=("a",), on=StepCondition.FAILURE)
    with pytest.raises(WorkflowDefinitionError, match="'never' is not one of") as err:
        Step(name="alert", task="alert", on="never")  # type: ignore[arg-type]
    assert err.value.field == "steps.alert.on"
