"""Findings 1 and 2: bodies are bounded and read only after authentication, and a change
must be a JSON request (or carry X-Requested-With), so a cross-site form or text/plain
request cannot make one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.api.conftest import PREFIX, Api
from tests.api.helpers import problem

LIMIT = 1024 * 1024
JSON = {"content-type": "application/json"}


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON body streamed without Content-Length (chunked)."""
    yield b'{"kwargs": {"pad": "'
    sent = 0
    while sent < total:
        yield b"p" * size
        sent += size
    yield b'"}}'


def test_a_body_over_the_limit_is_a_413_before_anything_reads_it(api: Api) -> None:
    url = api.url + PREFIX + "/tasks/anything/execute"
    declared = httpx.post(url, content=b"x" * (LIMIT + 1), headers=JSON)
    declared_body = problem(declared, 413)
    assert declared_body["detail"].startswith("the request body is over")
    # Without Content-Length the bytes are counted as they stream: an authenticated
    # caller's chunked body is cut at the limit, answered as the same problem.
    streamed = api.operator.post(
        "/tasks/anything/execute", content=_chunks(4 * LIMIT), headers=JSON
    )
    assert "content-length" not in streamed.request.headers
    assert problem(streamed, 413) == declared_body
    assert declared_body["type"] == "urn:schedkit:problem:content-too-large"
    assert api.viewer.get("/runs", params={"task": "anything"}).json()["total"] == 0


def test_the_caller_is_authenticated_before_the_body_is_read(api: Api) -> None:
    url = api.url + PREFIX + "/tasks/anything/execute"
    # Malformed JSON from an unauthenticated caller: 401, not a parse error (422).
    problem(httpx.post(url, content=b"{not json", headers=JSON), 401)
    problem(httpx.post(url, content=_chunks(LIMIT // 2), headers=JSON), 401)
    viewer = {**JSON, "Authorization": f"Bearer {api.secrets['viewer']}"}
    problem(httpx.post(url, content=b"{not json", headers=viewer), 403)


def test_changes_need_a_json_content_type(api: Api) -> None:
    raw = httpx.Client(
        base_url=api.url + PREFIX,
        headers={"Authorization": f"Bearer {api.secrets['admin']}"},
    )
    with raw:
        # A crontab string as text/plain, a form, a bodyless POST: what a cross-site
        # page can send without a CORS preflight.
        text = raw.post(
            "/tasks/anything/schedule",
            content=b"* * * * *",
            headers={"content-type": "text/plain;charset=UTF-8"},
        )
        assert "Content-Type" in problem(text, 415)["detail"]
        problem(raw.post("/tasks/anything/execute", data={"kwargs": "{}"}), 415)
        problem(raw.post("/tasks/anything/execute"), 415)
        problem(raw.post("/tasks/anything/execute", content=b"{}"), 415)
        problem(raw.delete("/tasks/anything/schedule"), 415)
        assert raw.get("/schedules").json()["total"] == 0
        assert raw.get("/runs").json()["total"] == 0
        # JSON, or no body with X-Requested-With, go through.
        assert raw.post("/tasks/anything/execute", json={}).status_code == 202
        bodyless = raw.post("/tasks/anything/execute", headers={"X-Requested-With": "cli"})
        assert bodyless.status_code == 202
        schedule = raw.post(
            "/tasks/anything/schedule",
            content=b'"0 3 * * *"',
            headers={"content-type": "application/merge-patch+json"},
        )
        assert schedule.status_code == 200, schedule.text
        raw.delete("/tasks/anything/schedule", headers={"X-Requested-With": "cli"})


def test_nul_characters_are_refused_before_reaching_a_store(api: Api) -> None:
    """An attack: PostgreSQL stores no text with a NUL. One in a path or a query was
    answered 503 "store error" naming the store (and logged as an ERROR); one in a
    cancel reason left the run running for good. Every backend answers 422 now."""
    for path, params in [
        ("/runs/a%00b", None),
        ("/runs", {"task": "a\x00b"}),
        ("/audit", {"actor": "a\x00b"}),
    ]:
        body = problem(api.viewer.get(path, params=params), 422)
        assert "NUL character" in body["detail"], body
    body = problem(api.operator.post("/runs/nope/cancel", json={"reason": "x\x00y"}), 422)
    assert "NUL character" in body["detail"], body
    # An escaped backslash before u0000 is text, not a NUL: it passes (to the 404).
    text = api.operator.post(
        "/runs/nope/cancel", content=b'{"reason": "C:\\\\u0000 is a path"}', headers=JSON
    )
    assert problem(text, 404)["type"] == "urn:schedkit:problem:run-not-found"
