"""What a run keeps of a result value JSON has no type for (docs/tasks.md, "Values JSON
cannot carry"): a lossless form where one is known, else the run fails with
ResultNotStorable naming the type and a conversion, not retried.

An audit: such values were stored as their text and the run was a success — a numpy array
as its abbreviated printout, ``np.int64(1200)`` as the string ``'1200'``, ``np.bool_`` as
``'True'``, an object as ``'<object object at 0x...>'``."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pydantic
import pytest
from bson import ObjectId

from schedkit import RunStatus, TaskContext, task
from schedkit.errors import ResultNotStorable
from schedkit.models import result_json

from .conftest import MakeScheduler

SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

BODIES: list[str] = []


@task("numpy_result", category="t", retry={"max_retries": 2, "retry_delay": 0})
def numpy_result() -> dict[str, Any]:
    return {
        "success": True,
        "data": {"prices": np.arange(5000.0), "grid": np.array([[1, 2], [3, 4]], np.int32)},
        "statistics": {"rows": np.int64(1200), "complete": np.bool_(True)},
    }


@task("object_result", category="t", retry={"max_retries": 2, "retry_delay": 0})
def object_result() -> dict[str, Any]:
    BODIES.append("object_result")
    return {"success": True, "data": {"handle": object()}}


@SQLITE
async def test_numpy_values_are_kept_exactly(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(numpy_result)
    run = await s.run_now("numpy_result", wait=True, timeout=10)
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.result is not None
    assert run.result["data"]["prices"] == [float(i) for i in range(5000)]
    assert run.result["data"]["grid"] == [[1, 2], [3, 4]]
    assert run.result["statistics"] == {"rows": 1200, "complete": True}


@SQLITE
async def test_a_value_with_no_json_form_fails_the_run_once(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(object_result)
    BODIES.clear()
    run = await s.run_now("object_result", wait=True, timeout=10)
    assert (run.status, run.attempt) == (RunStatus.FAILED, 1), run
    assert run.error is not None and run.error["type"] == "ResultNotStorable"
    assert run.error["message"].startswith("not storable as JSON: a value of type object; ")
    assert BODIES == ["object_result"]


@task("numpy_progress", category="t", retry={"max_retries": 0})
def numpy_progress(ctx: TaskContext) -> None:
    ctx.progress(np.int64(5), np.float32(10), "rows")


@task("object_progress", category="t", retry={"max_retries": 0})
def object_progress(ctx: TaskContext) -> None:
    ctx.progress(1, 2)
    ctx.progress(object(), 2)


@SQLITE
async def test_progress_reports_are_numbers_or_left_out(make_scheduler: MakeScheduler) -> None:
    """Before: a progress report holding numpy's int64 failed the write of the run's end,
    and the run stayed ``running`` (reported later, it stopped the node's writes of every
    run's progress and log lines until their end)."""
    s = await make_scheduler(numpy_progress, object_progress)
    run = await s.run_now("numpy_progress", wait=True, timeout=5)
    assert run.status is RunStatus.SUCCESS, run
    assert run.progress is not None
    assert (run.progress["done"], run.progress["total"]) == (5, 10.0)
    run = await s.run_now("object_progress", wait=True, timeout=5)
    assert run.status is RunStatus.SUCCESS, run
    assert run.progress is not None and run.progress["done"] == 1
    said = [line.message for line in await s.get_logs(run.id)]
    assert any(
        f"a progress report of run {run.id} was not stored: not storable as JSON" in m for m in said
    ), said


class Colour(enum.Enum):
    RED = "red"


class Point(pydantic.BaseModel):
    x: int


@dataclasses.dataclass
class Row:
    day: date


ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        # What docs/tasks.md promises, as before.
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "2026-12-07T09:00:00Z"),
        (Decimal("1.10"), "1.10"),
        (ID, str(ID)),
        (Colour.RED, "red"),
        (Point(x=1), {"x": 1}),
        (Row(day=date(2026, 12, 7)), {"day": "2026-12-07"}),
        ((1, 2), [1, 2]),
        (ObjectId("6b1762477c33048b6c65e82e"), "6b1762477c33048b6c65e82e"),
        # numpy's numbers, exactly: float32 widens to the same value as a float.
        (np.float32(1.1), float(np.float32(1.1))),
        (np.uint64(2**64 - 1), 2**64 - 1),
        (np.array(["a", "b"]), ["a", "b"]),
        ([np.float16(0.5), np.bool_(False)], [0.5, False]),
    ],
    # Not repr: an object's holds its address, and pytest-xdist's workers must agree on ids.
    ids=lambda v: type(v).__name__,
)
def test_known_values_have_a_lossless_form(value: Any, kept: Any) -> None:
    assert result_json(value) == kept


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (object(), "a value of type object; "),
        (np.complex64(1j), "a numpy complex64 has no JSON form that keeps it exactly"),
        (np.longdouble(1) / 3, "a numpy longdouble"),
        (np.array(["2026-12-07"], "datetime64[ns]"), "a numpy ndarray of datetime64[ns] has"),
        (np.ma.array([1, 2], mask=[0, 1]), "numpy.ma.MaskedArray; "),
        (range(3), "a value of type range; "),
    ],
    ids=lambda v: type(v).__name__,
)
def test_other_values_are_refused_with_a_conversion(value: Any, said: str) -> None:
    with pytest.raises(ResultNotStorable, match="not storable as JSON") as raised:
        result_json({"data": [value]})
    assert said in str(raised.value)
    assert any(hint in str(raised.value) for hint in ("tolist()", "str(value)"))
