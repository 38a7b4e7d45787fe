"""``POST /schedules/preview?schedule_id=``: previewing an edit of a saved schedule whose
trigger is unchanged lists the fires its stored series will have (saving keeps that
series), not a new series from now (an audit: the console's edit dialog listed :12/:32/:52
for an "every 20 seconds" schedule that fired at :18/:38/:58)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, open_api

EVERY_20S: dict[str, Any] = {"trigger": "interval", "seconds": 20, "kwargs": {"count": 1}}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("preview_series") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}")


def _fires(answer: Any) -> list[datetime]:
    assert answer.status_code == 200, answer.text
    return [datetime.fromisoformat(f) for f in answer.json()["fire_times"]]


def test_an_unchanged_trigger_previews_the_stored_series(api: Api) -> None:
    saved = api.admin.post(
        "/tasks/echo/schedule", params={"schedule_id": "echo-20s"}, json=EVERY_20S
    )
    assert saved.status_code == 200, saved.text
    stored = datetime.fromisoformat(saved.json()["schedule"]["next_fire_time"])
    time.sleep(1.5)  # a series started now would be 1.5 s later

    edit = api.viewer.post("/schedules/preview", params={"schedule_id": "echo-20s"}, json=EVERY_20S)
    assert _fires(edit) == [stored + timedelta(seconds=20 * i) for i in range(5)]

    # Without the id (a new schedule), or with another trigger, a new series from now.
    new = _fires(api.viewer.post("/schedules/preview", json=EVERY_20S))
    assert new[0] - stored >= timedelta(seconds=1)
    changed = {**EVERY_20S, "seconds": 30}
    other = _fires(
        api.viewer.post("/schedules/preview", params={"schedule_id": "echo-20s"}, json=changed)
    )
    assert other[1] - other[0] == timedelta(seconds=30)
    assert (other[0] - stored) % timedelta(seconds=20) != timedelta(0)

    # Saving the same trigger keeps the series the preview showed.
    again = api.admin.post(
        "/tasks/echo/schedule", params={"schedule_id": "echo-20s"}, json=EVERY_20S
    )
    assert datetime.fromisoformat(again.json()["schedule"]["next_fire_time"]) in set(_fires(edit))


def test_an_unknown_schedule_id_previews_a_new_series(api: Api) -> None:
    answer = api.viewer.post("/schedules/preview", params={"schedule_id": "nope"}, json=EVERY_20S)
    assert len(_fires(answer)) == 5
