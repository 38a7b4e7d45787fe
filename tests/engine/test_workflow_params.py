"""A workflow run's params are checked before anything is stored: against the workflow's
own declaration, against the parameters of the same name its steps' tasks declare, and
against the kwargs size limit; the same for a launcher run's kwargs (its params)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pydantic
import pytest

from schedkit import Step, TaskRegistry, Workflow, current_context, task
from schedkit.errors import ValidationError

from .conftest import MakeScheduler


class CloseParams(pydantic.BaseModel):
    as_of: date | None = None


@task("close_books", retry={"max_retries": 0})
def close_books(as_of: date | None = None) -> dict[str, Any]:
    ctx = current_context()
    given = as_of or ((ctx.workflow or {}).get("params", {}).get("as_of") if ctx else None)
    return {"data": {"as_of": str(given)}}


@task("free_step", retry={"max_retries": 0})
def free_step() -> None:
    return None


DECLARED = Workflow("declared", [Step(name="close", task="close_books")], params=CloseParams)
UNDECLARED = Workflow(
    "undeclared",
    [Step(name="close", task="close_books"), Step(name="free", task="free_step")],
)


async def _node(make_scheduler: MakeScheduler, **overrides: Any) -> Any:
    registry = TaskRegistry()
    for t in (close_books, free_step):
        registry.register_task(t)
    registry.register_workflow(DECLARED)
    registry.register_workflow(UNDECLARED)
    return await make_scheduler(registry=registry, **overrides)


async def test_params_are_checked_before_anything_is_stored(make_scheduler: MakeScheduler) -> None:
    s = await _node(make_scheduler, limits={"max_kwargs_bytes": 1000})
    refused = [
        ("declared", {"as_of": "xx"}, "params.as_of", "valid date"),
        ("declared", {"bogus": 1}, "params.bogus", "takes no param 'bogus' (its params: as_of)"),
        # Not declared by the workflow: a step's task declares as_of, and checks it.
        ("undeclared", {"as_of": "xx"}, "params.as_of", "step close (task close_books)"),
        ("undeclared", {"blob": "x" * 2000}, "params", "over the 1,000-byte limit"),
        ("undeclared", [1, 2], "params", "must be an object"),
    ]
    for name, params, field, message in refused:
        with pytest.raises(ValidationError, match=re.escape(message)) as err:
            await s.workflows.start(name, params, actor="t")
        assert err.value.field == field
    assert await s.workflows.count() == 0
    assert await s.count_runs() == 0

    # A param no step declares stays free on a workflow without a declaration.
    started = await s.workflows.start("undeclared", {"as_of": "2026-06-30", "day": 1}, actor="t")
    done = await s.workflows.wait(started.record.id, 30)
    assert done.record.params == {"as_of": "2026-06-30", "day": 1}
    ok = await s.workflows.start("declared", {"as_of": "2026-06-30"}, actor="t")
    assert (await s.workflows.wait(ok.record.id, 30)).record.status.value == "success"


async def test_a_launcher_schedule_checks_its_kwargs_as_params(
    make_scheduler: MakeScheduler,
) -> None:
    s = await _node(make_scheduler)
    with pytest.raises(ValidationError, match="takes no param 'bogus'") as err:
        await s.add_task(
            "workflow.declared", {"trigger": "cron", "hour": 1, "kwargs": {"bogus": 1}}
        )
    assert err.value.field == "kwargs.bogus"
    with pytest.raises(ValidationError) as err:
        await s.run_now("workflow.declared", {"as_of": "xx"})
    assert err.value.field == "kwargs.as_of"
    assert await s.count_runs() == 0
