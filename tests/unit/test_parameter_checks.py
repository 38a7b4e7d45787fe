"""How declared parameters are checked and stored (schedkit.parameters): the two refused
lax conversions at any depth, every error listed at once, secrets stored with their
real values, kwargs that no longer fit the task refused at the run's start."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from schedkit import ValidationError, task
from schedkit.errors import StaleKwargsError
from schedkit.parameters import secret_fields


class Inner(BaseModel):
    n: int = 0
    day: date | None = None

    @model_validator(mode="after")
    def _uses_a_method(self) -> Inner:
        # Left out of the check: it would be given the check's stand-in, not an Inner.
        assert self.total() >= 0
        return self

    def total(self) -> int:
        return self.n


@dataclasses.dataclass
class Slot:
    at: datetime
    seats: int = 1


@task("nested_checks")
def nested_checks(
    inner: Inner | None = None,
    items: list[Inner] | None = None,
    slot: Slot | None = None,
    by_day: dict[str, date] | None = None,
    either: int | bool = 0,
) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        # An audit: refused at the top only, nested fields took true as 1, 0 as 1970-01-01.
        ({"inner": {"n": True}}, "kwargs.inner.n", "not a boolean"),
        ({"inner": {"day": 0}}, "kwargs.inner.day", "not a number"),
        ({"items": [{"n": 1}, {"n": False}]}, "kwargs.items.1.n", "not a boolean"),
        ({"slot": {"at": "1764547200"}}, "kwargs.slot.at", "not a number"),
        ({"slot": {"at": "2026-01-01T00:00", "seats": True}}, "kwargs.slot.seats", "not a boolean"),
        ({"by_day": {"a": 20261201}}, "kwargs.by_day.a", "not a number"),
    ],
)
def test_nested_values_are_refused_as_top_level_ones_are(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        nested_checks.validate_kwargs(kwargs)
    assert caught.value.field == field


def test_the_conversions_operators_rely_on_are_kept_nested() -> None:
    given = {
        "inner": {"n": "3", "day": "2026-12-01"},
        "items": [{"n": 2.0}],
        "slot": {"at": "2026-12-01T10:00"},
        "either": True,  # a member takes it as it is
    }
    assert nested_checks.validate_kwargs(given) == {
        "inner": {"n": 3, "day": "2026-12-01"},
        "items": [{"n": 2}],
        "slot": {"at": "2026-12-01T10:00:00", "seats": 1},
        "either": True,
    }
    # Instances a Python caller gives pass as they are.
    assert nested_checks.validate_kwargs({"inner": Inner(n=4)}) == {"inner": {"n": 4}}


class Prices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    limit: int = 10


@task("fetch_prices_checks", parameters=Prices)
def fetch_prices_checks(day: date, limit: int = 10) -> None: ...


def test_every_error_is_listed_together() -> None:
    """An audit: a boolean for a number was refused before the rest was validated, so
    ``{"day": "2026-02-30", "limt": 3, "limit": true}`` named only ``kwargs.limit``."""
    with pytest.raises(ValidationError) as caught:
        fetch_prices_checks.validate_kwargs({"day": "2026-02-30", "limt": 3, "limit": True})
    listed = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors}
    assert set(listed) == {"kwargs.day", "kwargs.limt", "kwargs.limit"}
    assert "not a boolean" in listed["kwargs.limit"]
    # The first named is still the unknown key, with the parameter meant.
    assert str(caught.value) == "kwargs.limt: unknown key 'limt' (did you mean 'limit'?)"


class Account(BaseModel):
    user: str
    pin: SecretStr


class LoginParams(BaseModel):
    account: Account
    api_pass: SecretStr
    label: str = "x"


@task("login_params", parameters=LoginParams)
def login_params(account: Account, api_pass: SecretStr, label: str = "x") -> None: ...


@task("login_signature")
def login_signature(user: str, broker_pw: SecretStr, backup: list[SecretStr] | None = None) -> None:
    """A SecretStr parameter, whatever its name."""


def test_secrets_are_stored_with_their_real_values() -> None:
    """An audit: pydantic's JSON form writes a SecretStr as ``"**********"``, which was
    stored and given to the task: the real value was lost and the run succeeded."""
    stored = login_signature.validate_kwargs(
        {"user": "bob", "broker_pw": "realpass", "backup": ["second1"]}
    )
    assert stored == {"user": "bob", "broker_pw": "realpass", "backup": ["second1"]}
    values = login_signature.prepare_kwargs(stored)
    assert values["broker_pw"].get_secret_value() == "realpass"
    assert values["backup"][0].get_secret_value() == "second1"

    given = {"account": {"user": "bob", "pin": "4242"}, "api_pass": "p4ss"}
    assert login_params.validate_kwargs(given) == given
    prepared = login_params.prepare_kwargs(given)
    assert prepared["account"].pin.get_secret_value() == "4242"
    assert prepared["api_pass"].get_secret_value() == "p4ss"


def test_the_parameters_holding_secrets_are_known_whatever_their_names() -> None:
    assert login_signature.parameters is not None and login_params.parameters is not None
    assert secret_fields(login_signature.parameters) == {"broker_pw", "backup"}
    assert secret_fields(login_params.parameters) == {"account", "api_pass"}
    assert nested_checks.parameters is not None
    assert secret_fields(nested_checks.parameters) == frozenset()


def test_kwargs_that_no_longer_fit_are_a_stale_kwargs_error_naming_the_key() -> None:
    with pytest.raises(StaleKwargsError) as caught:
        fetch_prices_checks.prepare_kwargs({"day": "2026-12-01", "limt": 3})
    error = caught.value
    assert error.field == "kwargs.limt"
    assert str(error).startswith("kwargs.limt: unknown key 'limt' (did you mean 'limit'?); ")
    assert "errors.pydantic.dev" not in str(error)
    # As it crosses from an isolated attempt's child process.
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
