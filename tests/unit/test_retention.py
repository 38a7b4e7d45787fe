"""The words a purge says its ages in (``schedkit purge``, the ``runs.purge`` audit
detail): an SRE audit read "older than 90 days, 0:00:00" (a timedelta) in the audit log,
and "6m" turned out to mean six minutes only once history was gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schedkit.errors import ValidationError
from schedkit.service.retention import cutoff, duration_words, utc_stamp


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(days=90), "90 days"),
        (timedelta(minutes=6), "6 minutes"),
        (timedelta(0), "0 seconds"),
        (timedelta(days=1, hours=12), "1 day, 12 hours"),
        (timedelta(weeks=2), "14 days"),  # days are the largest unit: months vary
        (timedelta(seconds=1), "1 second"),
        (timedelta(hours=1, seconds=1.5), "1 hour, 1.5 seconds"),
        (timedelta(days=3650), "3650 days"),  # no separator: the console reads it back
    ],
)
def test_duration_words(age: timedelta, words: str) -> None:
    assert duration_words(age) == words


def test_a_cut_off_is_said_in_utc_and_a_bad_age_names_its_field() -> None:
    at = datetime(2026, 12, 7, 8, 27, 10, tzinfo=UTC)
    assert utc_stamp(cutoff(at, timedelta(minutes=6), "older_than")) == "2026-12-07 08:21:10 UTC"
    with pytest.raises(ValidationError) as negative:
        cutoff(at, timedelta(seconds=-1), "audit_older_than")
    assert negative.value.field == "audit_older_than"
    with pytest.raises(ValidationError, match="before the year 1"):
        cutoff(at, timedelta(days=999_999), "older_than")
