"""The values of a run's secret parameters (schedkit.redaction): which are searched for
in the run's text, how kwargs are shown, and how kwargs sent back as shown are read."""

from __future__ import annotations

from schedkit.redaction import (
    MIN_PARAMETER_SECRET_LENGTH,
    mask_values,
    redact_kwargs,
    secret_values,
    unmask,
)


def test_the_values_searched_for_are_those_of_secret_parameters_long_enough() -> None:
    kwargs = {
        "user": "bob-the-builder",
        "broker_password": "Hunter2xyz",
        "broker_pw": "realpass",  # declared secret by its type
        "db": {"host": "db.internal", "password": "NestedPw9"},
        "credentials": {"key": "key-1234", "ids": [123456789]},
        "pin": "1234",  # too short to search for: "1234" is in many texts
        "token": "${API_TOKEN}",  # names where a secret is, is none
        "sign": True,
    }
    assert MIN_PARAMETER_SECRET_LENGTH == 6
    assert secret_values(kwargs, {"broker_pw", "pin"}) == {
        "Hunter2xyz",
        "realpass",
        "NestedPw9",
        "key-1234",
        "123456789",
    }
    assert secret_values({"user": "bob-the-builder"}) == frozenset()


def test_values_are_masked_longest_first() -> None:
    said = "login refused for bob:Hunter2xyz (Hunter2)"
    assert mask_values(said, {"Hunter2", "Hunter2xyz"}) == "login refused for bob:*** (***)"


def test_kwargs_show_declared_secrets_whole_and_their_values_elsewhere_masked() -> None:
    kwargs = {"user": "bob", "broker_pw": "pw", "dsn": "postgres://u@h/realpass9", "n": None}
    shown = redact_kwargs(kwargs, {"broker_pw", "n"})
    # A short declared secret is masked whole all the same; null says nothing.
    assert shown == {**kwargs, "broker_pw": "***"}
    long = {**kwargs, "broker_pw": "realpass9"}
    assert redact_kwargs(long, {"broker_pw"})["dsn"] == "postgres://u@h/***"


def test_kwargs_sent_back_as_shown_keep_their_stored_values() -> None:
    stored = {"user": "bob", "broker_pw": "realpass9", "dsn": "postgres://u@h/realpass9"}
    shown = redact_kwargs(stored, {"broker_pw"})
    assert unmask(shown, stored, {"broker_pw"}) == stored
    changed = {**shown, "broker_pw": "newpass99", "user": "ann"}
    assert unmask(changed, stored, {"broker_pw"}) == {**stored, **changed, "dsn": stored["dsn"]}
    # Without the declaration, "***" is a value like any other (the name is no secret's).
    assert unmask(shown, stored)["broker_pw"] == "***"
