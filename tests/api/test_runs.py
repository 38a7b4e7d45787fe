"""Runs, schedules preview, stats, nodes, health and the error shapes, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from schedkit.engine.executor import SEQ_PER_ATTEMPT
from schedkit.models import LogLine, Run, RunStatus, Schedule, TriggerSource
from schedkit.store import create_store
from tests.api.conftest import PREFIX, Api, open_api
from tests.api.helpers import problem, wait_run
from tests.store._contract import make_run, make_schedule


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The module's tests create 22 runs as one caller: within the default burst of
    20 only while earlier tests were slow enough for the rate to refill (they became
    faster, and the last ones got 429). Throttling is tested in tests/security/test_limits.py."""
    path = tmp_path_factory.mktemp("runs") / "schedkit.db"
    yield from open_api(f"sqlite:///{path}", api={"run_rate": 1e6, "run_burst": 1_000_000})


def _run(api: Api, task: str, kwargs: dict[str, object] | None = None) -> str:
    response = api.operator.post(f"/tasks/{task}/execute", json={"kwargs": kwargs or {}})
    assert response.status_code == 202, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def test_health_and_readiness_are_open(api: Api) -> None:
    assert api.anon.get("/health").json() == {"status": "ok", "failing": []}
    assert api.anon.get("/ready").json() == {"status": "ready", "store": "ok"}
    ready = api.viewer.get("/ready").json()
    assert ready["status"] == "ready" and ready["store"] == "ok"
    assert ready["scheduler"] == "leader"  # the only node holds the lease


def test_get_run_and_its_logs(api: Api) -> None:
    run = wait_run(api.viewer, _run(api, "echo", {"count": 1, "label": "log"}))
    assert run["status"] == "success" and run["kwargs"] == {"count": 1, "label": "log"}
    assert datetime.fromisoformat(run["scheduled_for_local"]).utcoffset() == timedelta(hours=8)
    logs = api.viewer.get(f"/runs/{run['id']}/logs").json()
    messages = [(line["level"], line["message"]) for line in logs["items"]]
    assert messages == [("INFO", "echo log x1"), ("WARNING", "second line")]
    after = api.viewer.get(f"/runs/{run['id']}/logs?after_seq={logs['items'][0]['seq']}").json()
    assert [line["message"] for line in after["items"]] == ["second line"]
    assert after["next_after_seq"] == logs["next_after_seq"]
    problem(api.viewer.get("/runs/0123/logs"), 404)
    body = problem(api.viewer.get("/runs/does-not-exist"), 404)
    assert body["run_id"] == "does-not-exist"


def test_a_log_is_read_on_past_a_fourth_attempts_lines(api: Api) -> None:
    """Attempt n's lines are numbered from (n - 1) * 10**9: ``after_seq`` was capped at
    2**31 - 1, so the console following a run's log got 422 once it read a line of a
    fourth attempt."""
    run = wait_run(api.viewer, _run(api, "echo", {"count": 1}))
    first = 3 * SEQ_PER_ATTEMPT
    lines = [
        LogLine(
            run_id=run["id"],
            seq=first + n,
            attempt=4,
            ts=datetime.now(UTC),
            level="INFO",
            logger="t",
            message=f"attempt 4 line {n}",
        )
        for n in range(2)
    ]

    async def append() -> None:
        async with create_store(api.store_url) as store:
            await store.append_logs(lines)

    asyncio.run(append())
    logs = api.viewer.get(f"/runs/{run['id']}/logs").json()
    assert logs["next_after_seq"] == first + 1
    page = api.viewer.get(f"/runs/{run['id']}/logs?after_seq={first}")
    assert page.status_code == 200, page.text
    assert [line["message"] for line in page.json()["items"]] == ["attempt 4 line 1"]
    end = api.viewer.get(f"/runs/{run['id']}/logs?after_seq={logs['next_after_seq']}").json()
    assert (end["items"], end["next_after_seq"]) == ([], first + 1)


def test_list_runs_filters_and_counts(api: Api) -> None:
    ok = wait_run(api.viewer, _run(api, "echo", {"count": 7}))
    failed = wait_run(api.viewer, _run(api, "boom"))
    page = api.viewer.get("/runs", params={"task": "echo", "status": "success"}).json()
    assert page["total"] >= 1 and all(
        r["task_name"] == "echo" and r["status"] == "success" for r in page["items"]
    )
    both = api.viewer.get("/runs", params=[("status", "success"), ("status", "failed")]).json()
    assert {ok["id"], failed["id"]} <= {r["id"] for r in both["items"]}
    since = (datetime.fromisoformat(ok["scheduled_for"]) - timedelta(microseconds=1)).isoformat()
    window = api.viewer.get("/runs", params={"since": since, "task": "echo"}).json()
    assert ok["id"] in {r["id"] for r in window["items"]}
    until = api.viewer.get("/runs", params={"until": since, "task": "echo"}).json()
    assert ok["id"] not in {r["id"] for r in until["items"]}
    manual = api.viewer.get("/runs?trigger_source=manual&limit=1").json()
    assert len(manual["items"]) == 1 and manual["total"] >= 2
    assert api.viewer.get("/runs?trigger_source=schedule").json()["total"] == 0


def test_run_filters_reject_bad_values(api: Api) -> None:
    for query, field in [
        ("since=2025-01-01T00:00:00", "since"),  # no offset: ambiguous
        ("until=0.5", "until"),  # numbers are not date-times here
        ("status=done", "status.0"),
        ("trigger_source=cron", "trigger_source"),
        ("limit=100000", "limit"),
        ("statuss=success", "statuss"),  # unknown parameters are not ignored
        ("task=a&task=b", "task"),  # nor are repeats of single-valued ones
    ]:
        assert problem(api.viewer.get(f"/runs?{query}"), 422)["field"] == field, query


def test_a_task_filter_naming_no_task_is_refused(api: Api) -> None:
    """Hole (an audit): ``/runs?task=report_dialy`` answered an empty 200, as if the task
    had never run (and the event stream stayed silent), while ``/tasks/nope/history``
    answered 404."""
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}
    for path in ("/runs", "/schedules", "/events"):
        url = api.url + PREFIX + path
        response = httpx.get(url, params={"task": "echoo"}, headers=headers, timeout=10)
        body = problem(response, 422)
        assert body["field"] == "task", path
        assert body["errors"][0]["field"] == "task", path
        assert "unknown task 'echoo'; did you mean 'echo'?" in body["detail"], path
    # Task names are told to callers with a role only.
    problem(api.anon.get("/runs", params={"task": "echoo"}), 401)


async def _store_history(url: str, run: Run, schedule: Schedule) -> None:
    async with create_store(url) as store:
        await store.insert_runs([run])
        await store.put_schedule(schedule, expected_version=0)


def test_a_task_no_longer_registered_stays_listable(api: Api) -> None:
    """Its runs and schedules stay in the store after it left the code: a filter naming
    it lists them (one store read tells such a name from a typo)."""
    finished = datetime.now(UTC) - timedelta(days=3)
    run = make_run(
        task_name="retired_report",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=finished,
        not_before=finished,
        created_at=finished,
        status=RunStatus.SUCCESS,
        finished_at=finished,
        duration=1.0,
    )
    # Paused: the leader fires no skipped run of it, so only its schedule is stored.
    schedule = make_schedule(id="retired-nightly", task_name="retired_schedule", paused=True)
    asyncio.run(_store_history(api.store_url, run, schedule))
    runs = api.viewer.get("/runs", params={"task": "retired_report"}).json()
    assert [r["id"] for r in runs["items"]] == [run.id] and runs["total"] == 1
    failed = api.viewer.get("/runs", params={"task": "retired_report", "status": "failed"})
    assert failed.json()["total"] == 0
    assert api.viewer.get("/schedules", params={"task": "retired_report"}).json()["total"] == 0
    stored = api.viewer.get("/schedules", params={"task": "retired_schedule"}).json()
    assert [s["id"] for s in stored["items"]] == ["retired-nightly"]
    headers = {"Authorization": f"Bearer {api.secrets['viewer']}"}
    stream = httpx.get(
        api.url + PREFIX + "/events",
        params={"task": "retired_report", "duration": 0.2},
        headers=headers,
        timeout=5,
    )
    assert stream.status_code == 200 and "event: ready" in stream.text


def test_cancel_a_running_run_then_conflict(api: Api) -> None:
    run_id = _run(api, "slow")
    wait_run(api.viewer, run_id, until={"running"})
    cancelled = api.operator.post(f"/runs/{run_id}/cancel", json={"reason": "test stop"})
    assert cancelled.status_code == 200, cancelled.text
    run = wait_run(api.viewer, run_id)
    assert run["status"] == "cancelled"
    body = problem(api.operator.post(f"/runs/{run_id}/cancel"), 409)
    assert "already cancelled" in body["detail"]
    problem(api.operator.post("/runs/nope/cancel"), 404)


def test_retry_a_finished_run(api: Api) -> None:
    first = wait_run(api.viewer, _run(api, "echo", {"count": 3}))
    response = api.operator.post(f"/runs/{first['id']}/retry")
    assert response.status_code == 202, response.text
    retried = wait_run(api.viewer, response.json()["run_id"])
    assert retried["trigger_source"] == "retry" and retried["kwargs"] == {"count": 3}
    running = _run(api, "slow")
    wait_run(api.viewer, running, until={"running"})
    assert "still running" in problem(api.operator.post(f"/runs/{running}/retry"), 409)["detail"]
    api.operator.post(f"/runs/{running}/cancel")
    problem(api.operator.post("/runs/nope/retry"), 404)


def test_retry_with_an_idempotency_key_creates_one_run(api: Api) -> None:
    first = wait_run(api.viewer, _run(api, "echo", {"count": 7}))
    before = api.viewer.get("/runs?task=echo").json()["total"]
    key = {"Idempotency-Key": f"retry-{first['id']}"}
    answers = [api.operator.post(f"/runs/{first['id']}/retry", headers=key) for _ in range(3)]
    assert {a.status_code for a in answers} <= {200, 202}
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert wait_run(api.viewer, answers[0].json()["run_id"])["trigger_source"] == "retry"
    assert api.viewer.get("/runs?task=echo").json()["total"] == before + 1
    problem(api.operator.post(f"/runs/{first['id']}/retry", headers={"Idempotency-Key": ""}), 422)


def test_preview_validates_without_saving(api: Api) -> None:
    before = api.viewer.get("/schedules").json()
    response = api.viewer.post(
        "/schedules/preview?count=3&lang=zh",
        json={
            "trigger": {"trigger": "cron", "expression": "0 9 * * 1-5", "calendar": "cn_workdays"}
        },
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["complete"] is True and preview["timezone"] == "Asia/Shanghai"
    assert "工作日" in preview["description"]
    fires = [datetime.fromisoformat(f) for f in preview["fire_times_local"]]
    assert len(fires) == 3 and all((f.hour, f.minute) == (9, 0) for f in fires)
    assert [datetime.fromisoformat(f) for f in preview["fire_times"]] == fires
    assert preview["spec"]["max_instances"] == 3  # job_defaults fill what the spec leaves out
    assert api.viewer.get("/schedules").json() == before
    body = problem(
        api.viewer.post("/schedules/preview", json={"trigger": "cron", "minute": 61}), 422
    )
    assert body["field"] == "trigger.minute"
    body = problem(
        api.viewer.post(
            "/schedules/preview", json={"trigger": "date", "run_date": "9999-12-31T23:59:59-12:00"}
        ),
        422,
    )
    assert body["field"] == "trigger.run_date"
    # Its fires would be in year 10000 in Shanghai: it never fires, said as for a cron.
    late = {"trigger": "interval", "hours": 1, "start_date": "9999-12-31T23:30:00"}
    body = problem(api.viewer.post("/schedules/preview", json=late), 422)
    assert body["field"] == "trigger.start_date" and "never fires" in body["detail"]


def test_preview_of_a_schedule_that_never_fires_is_bounded(api: Api) -> None:
    # Saturdays that are Chinese working days: almost never. The search stops at its
    # budget instead of holding the server for the core preview's full scan.
    started = time.monotonic()
    response = api.viewer.post(
        "/schedules/preview",
        json={
            "trigger": "cron",
            "day_of_week": "sat",
            "hour": 1,
            "year": "2200-9999",
            "calendar": "cn_workdays",
        },
    )
    assert response.status_code == 200 and time.monotonic() - started < 5
    assert api.anon.get("/health").status_code == 200


def test_stats_counts_percentiles_running_and_upcoming(api: Api) -> None:
    wait_run(api.viewer, _run(api, "echo", {"count": 1}))
    wait_run(api.viewer, _run(api, "boom"))
    running = _run(api, "slow")
    wait_run(api.viewer, running, until={"running"})
    try:
        stats = api.viewer.get("/stats?hours=1&upcoming=3").json()
        assert stats["counts"]["success"] >= 1 and stats["counts"]["failed"] >= 1
        judged = sum(
            n for s, n in stats["counts"].items() if s not in ("pending", "running", "skipped")
        )
        assert stats["success_rate"] == stats["counts"]["success"] / judged
        echo = next(t for t in stats["tasks"] if t["task_name"] == "echo")
        assert echo["p50_duration"] <= echo["p95_duration"] <= echo["p99_duration"]
        # The percentiles come from the rollups' histogram, and say so; on request the
        # exact ones, within that error of them.
        assert echo["percentiles_approximate"] is True and echo["relative_error"] == 0.05
        exact = api.viewer.get("/stats?hours=1&upcoming=0&exact=true").json()
        echo_exact = next(t for t in exact["tasks"] if t["task_name"] == "echo")
        assert echo_exact["percentiles_approximate"] is False
        assert echo_exact["relative_error"] is None
        assert (
            abs(echo["p50_duration"] - echo_exact["p50_duration"])
            <= 0.0501 * echo_exact["p50_duration"]
        )
        assert running in {r["id"] for r in stats["running"]}
        assert stats["running_count"] >= 1
        upcoming = [datetime.fromisoformat(u["fire_time"]) for u in stats["upcoming"]]
        assert len(upcoming) == 3 and upcoming == sorted(upcoming)
        assert datetime.fromisoformat(stats["until"]) - datetime.fromisoformat(
            stats["since"]
        ) == timedelta(hours=1)
    finally:
        api.operator.post(f"/runs/{running}/cancel")


def test_task_summary_reports_last_run_and_success_rate(api: Api) -> None:
    wait_run(api.viewer, _run(api, "boom"))
    boom = api.viewer.get("/tasks/boom").json()
    assert boom["last_run"]["status"] == "failed"
    assert boom["stats_24h"]["success_rate"] == 0.0
    assert boom["stats_7d"]["counts"]["failed"] >= 1


def test_nodes(api: Api) -> None:
    [node] = api.viewer.get("/nodes").json()
    assert node["leader"] is True and set(node["roles"]) == {"scheduler", "executor"}


def test_tokens_are_shown_once_and_revocable(api: Api) -> None:
    created = api.admin.post("/tokens", json={"name": "ci-bot", "role": "operator"})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    listed = {t["name"]: t for t in api.admin.get("/tokens").json()}
    assert listed["ci-bot"]["role"] == "operator" and "secret" not in listed["ci-bot"]
    assert "token_hash" not in listed["ci-bot"]
    with httpx.Client(
        base_url=api.url + PREFIX, headers={"Authorization": f"Bearer {secret}"}
    ) as ci:
        assert ci.get("/tasks").status_code == 200
        assert api.admin.delete(f"/tokens/{created.json()['token']['id']}").status_code == 204
        problem(ci.get("/tasks"), 401)
    problem(api.admin.post("/tokens", json={"name": "admin-bot", "role": "viewer"}), 409)
    assert (
        problem(api.admin.post("/tokens", json={"name": "x", "role": "root"}), 422)["field"]
        == "role"
    )
    assert "ci-bot" not in {t["name"] for t in api.admin.get("/tokens").json()}
    revoked = api.admin.get("/tokens?include_revoked=true").json()
    assert any(t["name"] == "ci-bot" and t["revoked"] for t in revoked)


def test_problem_shape_for_framework_errors(api: Api) -> None:
    unknown = problem(httpx.get(api.url + "/nope"), 404)
    assert unknown["type"] == "about:blank"
    wrong = httpx.put(api.url + PREFIX + "/schedules/preview")
    problem(wrong, 405)
    assert wrong.headers["allow"] == "POST"
    assert problem(api.viewer.get("/schedules/preview"), 405)
    body = problem(
        api.operator.post(
            "/tasks/echo/execute",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,  # docs/api.md: a body that is not valid JSON
    )
    assert body["field"] == "body"
    body = problem(
        api.operator.post(
            "/tasks/echo/execute",
            content=b'{"kwargs": {"count": 1, "label": "\\ud800"}}',
            headers={"content-type": "application/json"},
        ),
        422,
    )
    assert body["field"] == "kwargs.label"


def test_offset_pages_shift_and_a_fixed_until_keeps_them(api: Api) -> None:
    """docs/api.md, "Runs": a run created between two pages repeats a row on the next
    page; the same ``until`` on the later pages (just after the first page's newest
    row) keeps the view."""
    # A task no other test of the module runs: the view holds these runs only.
    for _ in range(3):
        _run(api, "nightly_report")
    page = {"task": "nightly_report", "limit": 2}
    first = api.viewer.get("/runs", params=page).json()
    newest = datetime.fromisoformat(first["items"][0]["scheduled_for"])
    until = (newest + timedelta(microseconds=1)).isoformat()
    newcomer = _run(api, "nightly_report")
    shifted = api.viewer.get("/runs", params={**page, "offset": 2}).json()
    assert shifted["items"][0]["id"] == first["items"][-1]["id"]  # page 1's last row again
    second = api.viewer.get("/runs", params={**page, "offset": 2, "until": until}).json()
    ids = [r["id"] for r in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3 and newcomer not in ids
    assert second["total"] == first["total"] == 3


def test_openapi_document_and_docs(api: Api) -> None:
    document = httpx.get(api.url + "/openapi.json").json()
    paths = document["paths"]
    assert f"{PREFIX}/tasks/{{task_name}}/history" in paths
    responses = paths[f"{PREFIX}/tasks/{{task_name}}"]["get"]["responses"]
    assert "application/problem+json" in responses["404"]["content"]
    assert document["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    docs = httpx.get(api.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert datetime.now(UTC)  # keep the UTC import honest for readers of this file
