"""A backfill bound's text is read by one grammar, whichever entry point took it: the API
body, the CLI option (which calls the same parser) and the Python façade's window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError as PydanticError

from schedkit.api.schemas import BackfillRequest
from schedkit.engine import backfill
from schedkit.errors import ValidationError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
EAST8 = timezone(timedelta(hours=8))

ACCEPTED = [
    ("2026-11-01", date(2026, 11, 1)),
    ("2026-11-01T09:00+08:00", datetime(2026, 11, 1, 9, tzinfo=EAST8)),
    ("2026-11-01T09:00:30Z", datetime(2026, 11, 1, 9, 0, 30, tzinfo=UTC)),
    ("2026-11-01T09:00:30.25-05:00", datetime(2026, 11, 1, 14, 0, 30, 250000, tzinfo=UTC)),
]
#: What ``datetime.fromisoformat`` (the CLI's reader) or pydantic (the API's) took, or
#: what neither took but got a misleading answer for (an audit).
REFUSED = [
    "20240310T000000+0800",  # ISO basic format: the CLI took it
    "2024-W10-1",  # an ISO week date: the CLI took it, the API said "needs its offset"
    "2024-070",  # an ordinal date
    "2024-03-10T00:00:00+0800",  # offset without colon: the API took it
    "2024-03-10 00:00+08:00",  # a space for T: both took it
    "2024-03-10t00:00z",  # lower case: the API took it
    "2024-03-10T00:00:00.1234567+08:00",  # seven fraction digits, cut by the API
    "2024-03-10T00:00:00,5+08:00",  # comma fraction: the API took it
    "2024-03-10T00+08:00",  # no minutes
    "2024-03-10T00:00+08:60",  # fromisoformat reads it as +09:00
    "2024-03-10T00:00",  # naive: refused as before
    "2024-02-30",
    "1 Nov",
]


@pytest.mark.parametrize(("text", "value"), ACCEPTED)
def test_every_entry_point_reads_a_bound_alike(text: str, value: date | datetime) -> None:
    body = BackfillRequest.model_validate({"from": text, "to": text})
    assert body.start == value and type(body.start) is type(value)
    lo, _ = backfill.window(text, "2026-11-30", SHANGHAI, NOW)
    expected = value if isinstance(value, datetime) else datetime(2026, 11, 1, tzinfo=SHANGHAI)
    assert lo == expected


@pytest.mark.parametrize("text", REFUSED)
@pytest.mark.parametrize("field", ["from", "to"])
def test_every_entry_point_refuses_a_bound_alike_naming_the_field(text: str, field: str) -> None:
    bounds = {"from": "2024-03-01", "to": "2024-03-20", field: text}
    with pytest.raises(PydanticError) as api:
        BackfillRequest.model_validate(bounds)
    errors = api.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    with pytest.raises(ValidationError) as python:
        backfill.window(bounds["from"], bounds["to"], SHANGHAI, NOW)
    assert python.value.field == field
    # One message, whichever way the bound came.
    assert errors[0]["msg"] == python.value.message
    assert text in python.value.message


def test_a_naive_date_time_is_told_apart_from_a_malformed_one() -> None:
    with pytest.raises(ValidationError, match="has no offset") as naive:
        backfill.window("2026-11-01T09:00", "2026-11-02", SHANGHAI, NOW)
    assert "2026-11-01T09:00+08:00" in naive.value.message
    with pytest.raises(ValidationError, match=r"YYYY-MM-DDTHH:MM\[:SS") as malformed:
        backfill.window("2024-W10-1", "2026-11-02", SHANGHAI, NOW)
    assert "offset" in malformed.value.message
