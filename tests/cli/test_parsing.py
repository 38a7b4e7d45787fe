"""Command-line values: durations and ``--param`` pairs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schedkit.cli.errors import EXIT_FAILURE, EXIT_USAGE, UsageProblem, exit_code_for, one_line
from schedkit.cli.parsing import parse_duration, parse_params
from schedkit.errors import (
    ConflictError,
    StoreUnavailableError,
    TaskNotFoundError,
    ValidationError,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
        ("0s", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "9x", "1h 30", "-5d", "1d-2h", "1,5h"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(UsageProblem, match="--older-than"):
        parse_duration(text, "--older-than")


@pytest.mark.parametrize("text", ["6M", "1M", "1d6M"])
def test_a_capital_m_is_no_unit(text: str) -> None:
    """A re-audit: ``purge --older-than 6M`` (meant: six months) was read as 6 minutes."""
    with pytest.raises(UsageProblem, match=r"M is not a unit.*180d is about six months"):
        parse_duration(text, "--older-than")


def test_params_are_json_when_they_parse() -> None:
    kwargs = parse_params(["n=10", "flag=true", "ids=[1, 2]", "day=2025-06-30", "x=null"])
    assert kwargs == {"n": 10, "flag": True, "ids": [1, 2], "day": "2025-06-30", "x": None}


def test_params_declared_as_strings_stay_text() -> None:
    schema = {
        "properties": {
            "code": {"type": "string"},
            "label": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "n": {"type": "integer"},
        }
    }
    kwargs = parse_params(["code=007", "label=123", "n=5"], None, schema)
    assert kwargs == {"code": "007", "label": "123", "n": 5}


def test_params_json_object_then_pairs() -> None:
    assert parse_params(["b=2"], '{"a": 1, "b": 1}') == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("pairs", "params_json", "message"),
    [
        (["novalue"], None, "KEY=VALUE"),
        (["=1"], None, "KEY=VALUE"),
        ([], "[1]", "JSON object"),
        ([], "{bad", "not valid JSON"),
    ],
)
def test_bad_params(pairs: list[str], params_json: str | None, message: str) -> None:
    with pytest.raises(UsageProblem, match=message):
        parse_params(pairs, params_json)


def test_exit_codes_by_error_kind() -> None:
    assert exit_code_for(UsageProblem("x")) == EXIT_USAGE
    assert exit_code_for(ValidationError("bad", field="trigger.hour")) == EXIT_USAGE
    assert exit_code_for(TaskNotFoundError("nope")) == EXIT_USAGE
    assert exit_code_for(ConflictError("not paused")) == EXIT_FAILURE
    assert exit_code_for(StoreUnavailableError("down")) == EXIT_FAILURE
    assert exit_code_for(RuntimeError("bug")) == EXIT_FAILURE


def test_one_line() -> None:
    assert one_line("a\n  b\n\nc  ") == "a | b | c"
