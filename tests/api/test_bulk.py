"""``POST /schedules``: many schedules in one request, all or nothing, over real HTTP;
and the pages the console reads when a task has many schedules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, open_api
from tests.api.helpers import problem


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server of its own: these tests count every schedule in the store."""
    path: Path = tmp_path_factory.mktemp("bulk") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", api={"max_body_size": 200_000})


def items(n: int, prefix: str = "m", **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{i:04d}",
            "task": "echo",
            "schedule": {"trigger": "cron", "minute": i % 60, "kwargs": {"count": i % 10}},
            **extra,
        }
        for i in range(n)
    ]


def total(api: Api, task: str | None = None) -> int:
    params = {"task": task, "limit": 1} if task else {"limit": 1}
    count: int = api.viewer.get("/schedules", params=params).json()["total"]
    return count


def test_a_batch_creates_every_schedule(api: Api) -> None:
    before = total(api)
    answer = api.admin.post("/schedules", json=items(300))
    assert answer.status_code == 201, answer.text
    assert answer.json()["created"] == 300
    assert answer.json()["ids"][:2] == ["m-0000", "m-0001"]
    assert total(api) == before + 300
    one = api.viewer.get("/schedules/m-0007").json()
    assert one["task_name"] == "echo" and one["kwargs"] == {"count": 7}
    assert one["origin"] == "runtime" and one["next_fire_time"] is not None
    event = api.admin.get("/audit", params={"action": "schedule.import"}).json()["items"][0]
    assert event["detail"] == "300 schedule(s)"
    # Every id a batch created (an audit: the event named none).
    assert event["after"] == {"count": 300, "ids": answer.json()["ids"]}


def test_a_batch_keeps_labels_max_runs_and_executor(api: Api) -> None:
    """They were dropped: the schedules ran on any node, for ever, where the task said."""
    spec = {"trigger": "cron", "minute": 5, "kwargs": {"count": 1}, "labels": ["gpu"]}
    spec |= {"max_runs": 3, "executor": "local"}
    answer = api.admin.post("/schedules", json=[{"id": "kept", "task": "echo", "schedule": spec}])
    assert answer.status_code == 201, answer.text
    one = api.viewer.get("/schedules/kept").json()
    assert (one["labels"], one["max_runs"], one["executor"]) == (["gpu"], 3, "local")
    # Only a file's lines may carry a pause or an origin (schedkit schedule export's).
    paused = {"id": "p", "task": "echo", "schedule": spec, "paused": True}
    assert api.admin.post("/schedules", json=[paused]).status_code == 422


def test_bad_items_are_each_named_and_nothing_is_stored(api: Api) -> None:
    before = total(api)
    batch = items(50, prefix="bad")
    batch[3]["task"] = "no_such_task"
    batch[10]["schedule"] = {"trigger": "cron", "hour": 25}
    batch[20]["schedule"]["kwargs"] = {"count": "many"}
    batch[30]["id"] = "bad-0000"  # given twice
    body = problem(api.admin.post("/schedules", json=batch), 422)
    fields = [e["field"] for e in body["errors"]]
    assert fields[0] == "3.task"
    assert fields[1].startswith("10.schedule") and "hour" in fields[1]
    assert fields[2] == "20.schedule.kwargs.count"
    assert fields[3] == "30.id"
    assert len(fields) == 4
    assert "4 bad items, nothing was stored" in body["detail"]
    assert body["errors"][3]["message"] == "schedule id 'bad-0000' is already given on item 0"
    assert total(api) == before


def test_an_existing_id_refuses_the_whole_batch(api: Api) -> None:
    assert api.admin.post("/schedules", json=items(2, prefix="dup")).status_code == 201
    before = total(api)
    body = problem(api.admin.post("/schedules", json=items(5, prefix="dup")), 422)
    assert [e["field"] for e in body["errors"]] == ["0.id", "1.id"]
    assert "exists already" in body["errors"][0]["message"]
    assert total(api) == before


def test_every_bad_item_is_named_in_one_answer(api: Api) -> None:
    """Hole: an item the request schema refused (an id with a space, an unknown key, a
    missing task) was all the 422 named, the other bad items only came once those were
    fixed, and stored ids only once every other item was right. One answer names them
    all."""
    assert api.admin.post("/schedules", json=items(1, prefix="kept")).status_code == 201
    before = total(api)
    batch: list[Any] = items(9, prefix="one")
    batch[1]["id"] = "has space"
    batch[2]["when"] = "daily"
    del batch[3]["task"]
    batch[4] = "0 2 * * *"
    batch[5]["task"] = "no_such_task"
    batch[6]["schedule"] = {"trigger": "cron", "hour": 25}
    batch[7]["schedule"]["kwargs"] = {"count": "many"}
    batch[8]["id"] = "kept-0000"
    body = problem(api.admin.post("/schedules", json=batch), 422)
    assert "8 bad items, nothing was stored: item 1: id:" in body["detail"]
    fields = [e["field"] for e in body["errors"]]
    assert fields[:6] == ["1.id", "2", "3.task", "4", "5.task", "6.schedule.trigger.hour"]
    assert fields[6:] == ["7.schedule.kwargs.count", "8.id"]
    messages = [e["message"] for e in body["errors"]]
    assert messages[1] == "unknown key(s) when; known: id, task, schedule"
    assert messages[3] == 'must be an object {"task": ..., "schedule": ...}'
    assert "exists already" in messages[7]
    assert total(api) == before


def test_batch_size_body_size_and_role_limits_hold(api: Api) -> None:
    before = total(api)
    too_many = items(1001, prefix="x")
    # The item limit, checked on a body under the byte limit (short items).
    short = [{"task": "echo", "schedule": "* * * * *"} for _ in range(1001)]
    assert len(short) == len(too_many)
    body = problem(api.admin.post("/schedules", json=short), 422)
    assert "1000" in body["detail"]
    big = items(10, prefix="big", schedule={"trigger": "cron", "kwargs": {"label": "x" * 30_000}})
    problem(api.admin.post("/schedules", json=big), 413)
    problem(api.admin.post("/schedules", json=[]), 422)
    problem(api.operator.post("/schedules", json=items(1, prefix="op")), 403)
    problem(api.anon.post("/schedules", json=items(1, prefix="anon")), 401)
    assert total(api) == before


def test_task_pages_and_stats_stay_small_with_many_schedules(api: Api) -> None:
    api.admin.post("/schedules", json=items(600, prefix="page")).raise_for_status()
    count = total(api, "echo")
    assert count >= 600
    echo = next(t for t in api.viewer.get("/tasks").json() if t["name"] == "echo")
    assert echo["schedule_count"] == count
    assert [s["id"] for s in echo["schedules"]] == [s["id"] for s in echo["schedules"]][:10]
    assert len(echo["schedules"]) == 10
    assert echo["next_fire_time"] is not None and echo["paused"] is False
    detail = api.viewer.get(
        "/tasks/echo", params={"schedules_limit": 20, "schedules_offset": 10}
    ).json()
    assert detail["schedule_count"] == count
    listed = api.viewer.get("/schedules", params={"task": "echo", "limit": 20, "offset": 10})
    assert [s["id"] for s in detail["schedules"]] == [s["id"] for s in listed.json()["items"]]
    problem(api.viewer.get("/tasks/echo", params={"schedules_limit": 501}), 422)
    stats = api.viewer.get("/stats", params={"upcoming": 5}).json()
    assert len(stats["upcoming"]) == 5
    fires = [f["fire_time"] for f in stats["upcoming"]]
    assert fires == sorted(fires)
    by_task = {t["task_name"]: t["fires"] for t in stats["upcoming_by_task"]}
    assert 1 <= len(by_task["echo"]) <= 10
    assert by_task["echo"][0]["fire_time"] == echo["next_fire_time"].replace("+00:00", "Z") or (
        by_task["echo"][0]["fire_time"][:19] == echo["next_fire_time"][:19]
    )


def test_a_body_that_is_not_json_is_the_documented_400_naming_the_body(api: Api) -> None:
    """Hole (an audit): a body with a stray comma answered 422 with ``field: "8"`` (the
    character position), which on this route reads as "batch item 8 is bad"."""
    headers = {"Content-Type": "application/json"}
    for body in ('[{"a":1,}]', "{bad"):
        answer = problem(api.admin.post("/schedules", content=body, headers=headers), 400)
        assert answer["field"] == "body"
        assert answer["detail"].startswith("the body is not valid JSON at character ")
    # Nested deeper than the parser reads (a recursion error inside it): the same 400.
    malformed = problem(api.admin.post("/schedules", content="{bad", headers=headers), 400)
    deep = "[" * 3000 + "]" * 3000
    answer = problem(api.admin.post("/schedules", content=deep, headers=headers), 400)
    assert answer.keys() == malformed.keys() and answer["type"] == malformed["type"]
    assert answer["field"] == "body"
    assert answer["detail"].startswith("the body is not valid JSON at character 2999: ")
    assert "nested 3,000 levels deep" in answer["detail"]
    deep_string = '{"x": "' + "[" * 5000 + '", "kwargs": ' + "{}" + "}"
    answer = problem(
        api.admin.post("/tasks/echo/execute", content=deep_string, headers=headers), 422
    )
    assert answer["field"] != "body"  # brackets in a string are text


def test_a_batch_answers_what_its_schedules_will_not_run(api: Api) -> None:
    past = {"trigger": "date", "run_date": "2020-01-01T10:00:00+08:00", "kwargs": {"count": 1}}
    batch = [{"id": "w-past", "task": "echo", "schedule": past}, *items(2, prefix="w")]
    body = api.admin.post("/schedules", json=batch).json()
    assert body["created"] == 3
    [warning] = body["warnings"]  # only the one-off already past its grace
    assert (warning["kind"], warning["schedule_id"]) == ("past_run_date", "w-past")
    assert "2020-01-01 10:00:00 (Asia/Shanghai)" in warning["message"]


def test_a_body_with_a_number_too_long_to_convert_is_the_documented_400(api: Api) -> None:
    """A number of 5,000 digits in a batch answered FastAPI's bare 400 ("There was an
    error parsing the body"), without the ``field`` the documented 400 names."""
    headers = {"Content-Type": "application/json"}
    kwargs = '{"count": ' + "1" * 5000 + "}"
    body = '[{"task": "echo", "schedule": {"trigger": "cron", "kwargs": ' + kwargs + "}}]"
    answer = problem(api.admin.post("/schedules", content=body, headers=headers), 400)
    assert answer["field"] == "body"
    assert answer["detail"] == (
        "the body is not valid JSON: a number of more than 4,300 digits "
        "(the most an integer may have)"
    )
