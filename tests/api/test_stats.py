"""GET /stats on a store holding only the runs a test put there (no task schedules)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedkit import TaskRegistry
from schedkit.models import Run, RunStatus, utcnow
from schedkit.store import create_store
from tests.api.conftest import Api, open_api
from tests.store._contract import make_run

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("stats") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", registry=TaskRegistry())


async def _insert(url: str, runs: list[Run]) -> None:
    async with create_store(url) as store:
        assert await store.insert_runs(runs) == [r.id for r in runs]


def _history(now: datetime) -> list[Run]:
    """Finished runs of two tasks over the last 30 hours, and pending ones never due."""
    rng = random.Random(5)
    statuses = [RunStatus.SUCCESS] * 4 + [RunStatus.FAILED, RunStatus.MISSED, RunStatus.PENDING]
    runs = []
    for i in range(400):
        at = now - rng.uniform(0, 30) * HOUR
        status = rng.choice(statuses)
        runs.append(
            make_run(
                task_name=rng.choice(["a", "b"]),
                schedule_id=f"s{i}",
                scheduled_for=at,
                not_before=now + 1000 * HOUR if status is RunStatus.PENDING else at,
                created_at=at,
                status=status,
                duration=1.0 if status.finished else None,
                finished_at=at + HOUR if status.finished else None,
            )
        )
    return runs


def test_stats_per_hour_counts_every_run_of_each_hour(api: Api) -> None:
    now = utcnow()
    runs = _history(now)
    asyncio.run(_insert(api.store_url, runs))

    stats = api.viewer.get("/stats", params={"hours": 24, "upcoming": 0}).json()
    per_hour = stats["per_hour"]
    # One entry per hour of the window, the hour the request came in last.
    starts = [datetime.fromisoformat(h["start"]) for h in per_hour]
    current = datetime.fromisoformat(stats["until"]).replace(minute=0, second=0, microsecond=0)
    assert starts == [current - (23 - i) * HOUR for i in range(24)]
    for h, start in zip(per_hour, starts, strict=True):
        assert datetime.fromisoformat(h["start_local"]) == start
        assert datetime.fromisoformat(h["start_local"]).utcoffset() == timedelta(hours=8)
        assert start.tzinfo is not None and start.utcoffset() == timedelta(0)

    hour_of = {start: i for i, start in enumerate(starts)}
    want: list[Counter[str]] = [Counter() for _ in starts]
    for r in runs:
        i = hour_of.get(r.scheduled_for.replace(minute=0, second=0, microsecond=0))
        if i is not None:
            want[i][r.status.value] += 1
    assert [h["counts"] for h in per_hour] == [dict(c) for c in want]
    assert sum(sum(h["counts"].values()) for h in per_hour) > 250
    assert {s for h in per_hour for s in h["counts"]} == {"success", "failed", "missed", "pending"}

    one = api.viewer.get("/stats", params={"hours": 1, "upcoming": 0}).json()["per_hour"]
    assert [h["start"] for h in one] == [per_hour[-1]["start"]]
    assert one[0]["counts"] == per_hour[-1]["counts"]


def test_stats_per_hour_covers_a_week_at_most(api: Api) -> None:
    per_hour = api.viewer.get("/stats", params={"hours": 24 * 30}).json()["per_hour"]
    assert len(per_hour) == 7 * 24
    assert datetime.fromisoformat(per_hour[-1]["start"]) <= datetime.now(UTC)
