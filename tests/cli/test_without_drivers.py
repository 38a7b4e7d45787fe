"""A store URL whose database driver is not installed (``pip install schedkit[cli]``
then a PostgreSQL or MongoDB URL): one error naming the extra to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.without_packages import run_without


@pytest.mark.parametrize(
    ("url", "driver", "extra"),
    [
        ("postgresql://ops:s3cret@127.0.0.1:1/schedkit", "asyncpg", "postgres"),
        ("mongodb://ops:s3cret@127.0.0.1:1/schedkit", "pymongo", "mongo"),
    ],
)
def test_a_missing_driver_names_the_extra_to_install(
    tmp_path: Path, url: str, driver: str, extra: str
) -> None:
    """It was ``error: unexpected ModuleNotFoundError: No module named 'asyncpg'``."""
    done = run_without((driver,), tmp_path, ["-m", "schedkit", "--store", url, "history"])
    assert done.returncode == 1, done.stdout + done.stderr
    masked = url.replace("s3cret", "***")
    assert done.stderr.strip() == (
        f"error: store URL '{masked}' needs the {driver} driver, which is not installed: "
        f"pip install 'schedkit[{extra}]'"
    )
