"""An embedded app given no configuration reads the one the CLI reads in its folder
(``$SCHEDKIT_CONFIG``, else ``./schedkit.toml``), and logs which file it read."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from fastapi import FastAPI

from schedkit import Scheduler, TaskRegistry
from schedkit.integrations.fastapi import scheduler_lifespan

CONFIG = """\
timezone = "Europe/Berlin"
store_url = "sqlite:///{db}"
task_packages = ["tests.api.tasks"]
entry_points = false

[scheduler]
enabled = false
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SCHEDKIT_") and not name.startswith("SCHEDKIT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schedkit.toml").write_text(CONFIG.format(db=tmp_path / "app.db"))
    return tmp_path


async def test_the_lifespan_without_a_config_reads_the_clis_file(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit: ``uvicorn main:app`` with ``scheduler_lifespan(...)`` and no config ran
    with no task on the default store while ``schedkit tasks`` in the same folder listed
    the tasks of ./schedkit.toml."""
    app = FastAPI(lifespan=scheduler_lifespan(registry=TaskRegistry(), include_router=False))
    with caplog.at_level(logging.INFO, logger="schedkit.service"):
        async with app.router.lifespan_context(app):
            scheduler: Scheduler = app.state.scheduler
            assert scheduler.config.store_url == f"sqlite:///{folder / 'app.db'}"
            assert scheduler.config.timezone == "Europe/Berlin"
            assert "echo" in {t.task_name for t in scheduler.registry}
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("configuration")]
    assert said == [f"configuration: config file {folder / 'schedkit.toml'}"]


def test_schedkit_config_names_the_file_and_an_explicit_config_reads_none(
    folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    other = folder / "elsewhere.toml"
    other.write_text('timezone = "UTC"\n')
    monkeypatch.setenv("SCHEDKIT_CONFIG", str(other))
    with caplog.at_level(logging.INFO, logger="schedkit.service"):
        assert Scheduler(registry=TaskRegistry()).config.timezone == "UTC"
    assert f"configuration: config file {other}" in caplog.messages
    monkeypatch.delenv("SCHEDKIT_CONFIG")
    # Given a configuration, the folder's file is not read (as before).
    given = Scheduler({"store_url": f"sqlite:///{folder / 'x.db'}"}, registry=TaskRegistry())
    assert given.config.timezone == "Asia/Shanghai"
    (folder / "schedkit.toml").unlink()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="schedkit.service"):
        assert Scheduler(registry=TaskRegistry()).config.timezone == "Asia/Shanghai"
    assert caplog.messages == [
        "configuration: no config file (SCHEDKIT_CONFIG is not set, no schedkit.toml in "
        f"{folder}): defaults and SCHEDKIT_* variables"
    ]
