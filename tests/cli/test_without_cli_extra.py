"""``pip install schedkit`` without the cli extra installs the ``schedkit`` script all the
same (a wheel's scripts cannot depend on an extra): it names the extra to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.without_packages import run_without


@pytest.mark.parametrize(
    ("absent", "missing"), [(("typer", "rich", "click"), "typer"), (("rich",), "rich")]
)
@pytest.mark.parametrize(
    "args",
    [
        # What the installed script runs, and python -m schedkit.
        ["-c", "from schedkit.cli import main; main()", "--help"],
        ["-m", "schedkit", "tasks"],
    ],
)
def test_the_command_without_the_cli_extra_names_it(
    tmp_path: Path, absent: tuple[str, ...], missing: str, args: list[str]
) -> None:
    """An audit: ``schedkit`` died on a traceback, ``ModuleNotFoundError: No module named
    'typer'``."""
    done = run_without(absent, tmp_path, args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == (
        f"error: the schedkit command needs the cli extra ({missing} is not installed): "
        "pip install 'schedkit[cli]'\n"
    )
    assert done.stdout == ""
