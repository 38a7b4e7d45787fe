"""What a request must pass before anything reads its body: its size and its content type.

* **Size.** A body over ``api.max_body_size`` (default 1 MiB) is a 413: at once when its
  ``Content-Length`` says so, else as soon as the bytes received pass the limit (chunked
  uploads are counted while they stream). Nothing is buffered beyond the limit.
* **Content type (CSRF).** A browser sends a cross-site request without asking the
  server first (no CORS preflight) only with a "simple" content type (``text/plain``,
  form encodings) and no custom header. Every mutating request must therefore carry
  ``Content-Type: application/json``, or, without a body, the header
  ``X-Requested-With``; anything else is a 415. A page on another origin cannot make a
  signed-in user's browser send either without the API's consent (it sends no CORS
  headers), so ambient credentials such as a host app's session cookie cannot be used
  from there.
* **NUL characters.** PostgreSQL stores no text with a NUL character: a ``%00`` in the
  path or query, or a ``\\u0000`` anywhere in a JSON body, is a 422 before anything is
  read or written (it reached the store as a 503 "store error", and a cancel reason
  with one left its run ``running`` for good, its end refused at every retry).
"""

from __future__ import annotations

import email.message
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from schedkit.api.problems import ApiProblem, PassingProblem
from schedkit.models import holds_nul_escape

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "MUTATING_METHODS",
    "BodyTooLarge",
    "check_content_type",
    "check_declared_size",
    "check_no_nul",
    "limited_receive",
    "max_body_size",
]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The header a bodyless mutating request may send instead of a JSON content type.
CSRF_HEADER = "x-requested-with"


class BodyTooLarge(PassingProblem):
    """Raised from ``receive`` once a body passes the limit: the same problem as a
    declared size over it (FastAPI lets it through the body parsing)."""

    def __init__(self, limit: int) -> None:
        super().__init__(_too_large(limit))


def _nul(where: str) -> ApiProblem:
    return ApiProblem(
        422,
        f"the request's {where} holds a NUL character, which no store accepts in text",
        slug="validation-error",
        title="Invalid input",
        # Checked before anything parses the request: the place, not the field, is known.
        extra={
            "field": where,
            "errors": [
                {
                    "field": where,
                    "in": where,
                    "message": "holds a NUL character",
                    "type": "value_error",
                }
            ],
        },
    )


class NulInBody(PassingProblem):
    """Raised from ``receive`` once a JSON body is seen to hold a NUL character."""

    def __init__(self) -> None:
        super().__init__(_nul("body"))


def check_no_nul(scope: Scope) -> None:
    """422 when the request's path or query string holds a NUL character."""
    if "\0" in scope.get("path", ""):  # decoded: a %00 is a NUL here
        raise _nul("path")
    if b"%00" in scope.get("query_string", b""):
        raise _nul("query")


def max_body_size(scope: Scope) -> int:
    """``api.max_body_size`` of the app's scheduler (the default before it starts)."""
    app: Any = scope.get("app")
    scheduler = getattr(getattr(app, "state", None), "scheduler", None)
    config = getattr(scheduler, "config", None)
    return config.api.max_body_size if config is not None else DEFAULT_MAX_BODY_SIZE


def _too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413,
        f"the request body is over the {limit:,}-byte limit (api.max_body_size)",
        slug="content-too-large",
        title="Content too large",
    )


def check_declared_size(headers: Headers, limit: int) -> None:
    """413 when ``Content-Length`` announces more than ``limit`` bytes."""
    declared = headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise ApiProblem(400, "Content-Length is not a number", title="Bad request") from None
    if size > limit:
        raise _too_large(limit)


def limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once more than ``limit`` body bytes
    have come in (before they are handed on), and :class:`NulInBody` at the end of a
    body holding a NUL character (kept whole to see it: ``limit`` bounds it)."""
    body = bytearray()

    async def receive_limited() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            body.extend(message.get("body", b""))
            if len(body) > limit:
                raise BodyTooLarge(limit)
            ended = not message.get("more_body", False)
            # The bytes test first: most bodies need no decoding.
            if ended and b"\\u0000" in body and holds_nul_escape(body.decode("utf-8", "replace")):
                raise NulInBody()
        return message

    return receive_limited


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def check_content_type(headers: Headers) -> None:
    """415 unless a mutating request is JSON, or bodyless with ``X-Requested-With``."""
    content_type = headers.get("content-type")
    if content_type is not None and _is_json(content_type):
        return
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if content_type is None and not has_body and CSRF_HEADER in headers:
        return
    sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    raise ApiProblem(
        415,
        f"send 'Content-Type: application/json' (got {sent}); a request without a body "
        "may send the header 'X-Requested-With' instead",
        slug="unsupported-media-type",
        title="Unsupported media type",
    )
