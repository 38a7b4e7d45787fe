"""Declared date-time parameters without an offset are wall times in the scheduler's zone
(schedkit.parameters): stored with the offset of that zone on that date, DST included,
so that the task receives an aware datetime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ConfigDict, NaiveDatetime

from schedkit import ValidationError, task

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@task("when_task")
def when_task(when: datetime) -> None: ...


def test_a_naive_date_time_is_a_wall_time_in_the_zone_given() -> None:
    stored = when_task.validate_kwargs({"when": "2026-12-06T10:00"}, tz=SHANGHAI)
    assert stored == {"when": "2026-12-06T10:00:00+08:00"}
    when = when_task.prepare_kwargs(stored)["when"]
    assert when.utcoffset() == timedelta(hours=8)
    assert when == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    # An offset given is kept as given (its instant is what the caller meant).
    for given in ("2026-12-06T10:00:00Z", "2026-12-06T10:00:00-05:00"):
        assert when_task.validate_kwargs({"when": given}, tz=SHANGHAI) == {"when": given}
    # A Python datetime, as run_now(kwargs=...) may pass one.
    assert when_task.validate_kwargs({"when": datetime(2026, 12, 6, 10)}, tz=SHANGHAI) == stored


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        # Winter and summer: the offset of the date, not of today.
        ("2026-01-15T10:00", "2026-01-15T10:00:00+01:00"),
        ("2026-07-15T10:00", "2026-07-15T10:00:00+02:00"),
        # Spring gap (02:00→03:00 on 29 March): 02:30 never shows on the clock; read with
        # the offset before the gap (fold=0) it is 01:30 UTC, shown as 03:30.
        ("2026-03-29T02:30", "2026-03-29T03:30:00+02:00"),
        ("2026-03-29T03:00", "2026-03-29T03:00:00+02:00"),
        # Autumn fold (03:00→02:00 on 25 October): the first occurrence, summer time.
        ("2026-10-25T02:30", "2026-10-25T02:30:00+02:00"),
        ("2026-10-25T03:00", "2026-10-25T03:00:00+01:00"),
        # The second occurrence is reached by giving its offset.
        ("2026-10-25T02:30:00+01:00", "2026-10-25T02:30:00+01:00"),
    ],
)
def test_dst_gaps_and_folds_follow_fold_0(given: str, stored: str) -> None:
    assert when_task.validate_kwargs({"when": given}, tz=BERLIN) == {"when": stored}


def test_a_python_datetime_with_fold_1_keeps_its_second_occurrence() -> None:
    second = datetime(2026, 10, 25, 2, 30, fold=1)
    stored = when_task.validate_kwargs({"when": second}, tz=BERLIN)
    assert stored == {"when": "2026-10-25T02:30:00+01:00"}


def test_without_a_zone_the_value_is_only_checked() -> None:
    # What `schedkit check` and workflow definitions do: nothing is stored from it.
    assert when_task.validate_kwargs({"when": "2026-12-06T10:00"}) == {
        "when": "2026-12-06T10:00:00"
    }


class Window(BaseModel):
    start: datetime
    label: str = "w"


@dataclass(frozen=True)
class Slot:
    at: datetime
    size: int = 1


class Pair(NamedTuple):
    at: datetime
    seats: int


@task("nested")
def nested(
    times: list[datetime],
    window: Window | None = None,
    by_name: dict[str, datetime] | None = None,
    pair: Pair | None = None,
    couple: tuple[datetime, int] | None = None,
    slot: Slot | None = None,
    default_kept: datetime = datetime(2026, 1, 1),
) -> None: ...


def test_date_times_inside_lists_models_and_mappings() -> None:
    naive = "2026-12-06T10:00"
    local = "2026-12-06T10:00:00+08:00"
    stored = nested.validate_kwargs(
        {
            "times": [naive, "2026-12-06T02:00:00Z"],
            "window": {"start": naive},
            "by_name": {"a": naive},
            "pair": [naive, 2],
            "couple": [naive, 3],
            "slot": {"at": naive},
        },
        tz=SHANGHAI,
    )
    assert stored == {
        "times": [local, "2026-12-06T02:00:00Z"],
        "window": {"start": local},  # its unset label stays unset
        "by_name": {"a": local},
        "pair": [local, 2],
        "couple": [local, 3],
        "slot": {"at": local, "size": 1},
    }
    values = nested.prepare_kwargs(stored)
    assert values["window"].start.utcoffset() == timedelta(hours=8)
    assert all(t.tzinfo is not None for t in values["times"])
    # A default the task declares is its own: not stored, passed as written.
    assert values["default_kept"] == datetime(2026, 1, 1)


@task("open_ended")
def open_ended(when: datetime, **rest: Any) -> None: ...


@task("undeclared")
def undeclared(**kwargs: Any) -> None: ...


def test_undeclared_values_stay_as_given() -> None:
    naive = "2026-12-06T10:00"
    assert undeclared.validate_kwargs({"when": naive}, tz=SHANGHAI) == {"when": naive}
    stored = open_ended.validate_kwargs({"when": naive, "other": naive}, tz=SHANGHAI)
    assert stored == {"when": "2026-12-06T10:00:00+08:00", "other": naive}


@task("naive_on_purpose")
def naive_on_purpose(when: NaiveDatetime) -> None: ...


def test_a_declaration_refusing_offsets_keeps_the_wall_time() -> None:
    stored = naive_on_purpose.validate_kwargs({"when": "2026-12-06T10:00"}, tz=SHANGHAI)
    assert stored == {"when": "2026-12-06T10:00:00"}
    assert naive_on_purpose.prepare_kwargs(stored)["when"].tzinfo is None


def test_a_wall_time_outside_the_datetime_range_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as err:
        when_task.validate_kwargs({"when": "0001-01-01T00:00"}, tz=SHANGHAI)
    assert err.value.field == "kwargs.when"


@task("typed_task")
def typed_task(
    day: date | None = None, keep_last: int = 7, ratio: float = 1.0, dry_run: bool = False
) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        # A JSON true read as 1 would keep one backup instead of failing the request.
        ({"keep_last": True}, "kwargs.keep_last", "not a boolean"),
        ({"ratio": False}, "kwargs.ratio", "not a boolean"),
        # A number read as seconds since 1970 is no date anyone means.
        ({"day": 0}, "kwargs.day", "not a number"),
        ({"day": 20261201}, "kwargs.day", "not a number"),
        # Its text too: `-p day=0` arrives as "0" and was stored as 1970-01-01.
        ({"day": "0"}, "kwargs.day", "not a number"),
        ({"day": " 1764547200 "}, "kwargs.day", "not a number"),
        ({"day": "1.5e9"}, "kwargs.day", "not a number"),
    ],
)
def test_values_of_another_json_type_are_refused_not_converted(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        typed_task.validate_kwargs(kwargs)
    assert caught.value.field == field


def test_the_conversions_operators_rely_on_are_kept() -> None:
    given = {"day": "2026-12-01", "keep_last": 3, "ratio": 2, "dry_run": True}
    assert typed_task.validate_kwargs(given) == given
    assert typed_task.validate_kwargs({"day": date(2026, 12, 1)}) == {"day": "2026-12-01"}
    assert typed_task.validate_kwargs({"day": None}) == {"day": None}


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    zone: str = "UTC"


@task("regional")
def regional(region: str, backfill: bool = False, area: Region | None = None) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"regin": "eu"}, "kwargs.regin", "unknown key 'regin' (did you mean 'region'?)"),
        (
            {"region": "eu", "colour": "red"},
            "kwargs.colour",
            "unknown key 'colour' (accepted: region, backfill, area)",
        ),
        (
            {"region": "eu", "area": {"code": "e", "zoen": "CET"}},
            "kwargs.area.zoen",
            "unknown key 'zoen' (did you mean 'zone'?)",
        ),
    ],
)
def test_an_unknown_kwarg_names_the_parameter_meant(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    """An audit: a kwarg ``regin`` (meant ``region``) was refused as ``kwargs.regin:
    Extra inputs are not permitted``, where a mistyped task name gets "did you mean"."""
    with pytest.raises(ValidationError) as err:
        regional.validate_kwargs(kwargs)
    assert (err.value.field, err.value.message) == (field, message)
    assert str(err.value) == f"{field}: {message}"
