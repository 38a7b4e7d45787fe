"""One error shape for every 4xx/5xx: RFC 9457 problem details.

``{"type", "title", "status", "detail"}`` plus, for invalid input, ``field`` (the dotted
path of the first field at fault) and ``errors`` (every field at fault). schedkit's
exceptions map to statuses here and nowhere else.

The router's routes answer their own errors through these (see
:class:`schedkit.api.routing.ProblemRoute`), so a host application embedding the router
keeps its own error handlers; :func:`install_problem_handlers` does the same app-wide for
the standalone app.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from schedkit.errors import (
    BackfillNotFoundError,
    CalendarNotFoundError,
    ConflictError,
    NodeBusyError,
    NodeNotFoundError,
    NoticeDropsDaysError,
    NoticeMissesFestivalsError,
    NotRunningError,
    OverrideNotFoundError,
    ResultFileNotFoundError,
    RunNotFoundError,
    SchedkitError,
    ScheduleNotFoundError,
    StoreError,
    StoreUnavailableError,
    StoreUnwritableError,
    TaskNotFoundError,
    TooManyRequestsError,
    ValidationError,
    WorkflowNotFoundError,
    WorkflowRunNotFoundError,
)
from schedkit.tokens import TokenNotFoundError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_SCHEMA",
    "ApiProblem",
    "FieldPlaces",
    "PassingProblem",
    "install_problem_handlers",
    "internal_error",
    "problem_for",
    "problem_response",
    "problem_responses",
    "schedkit_error_handler",
    "too_many",
]

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:schedkit:problem:"

#: JSON Schema of a problem, inlined in the OpenAPI document for every error status.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "field": {
            "type": ["string", "null"],
            "description": "Dotted path of the (first) input field at fault.",
        },
        "errors": {
            "type": "array",
            "description": "Every input field at fault.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string", "description": "body, query, path or header"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    401: "Missing or invalid credentials.",
    403: "The caller's role does not allow this.",
    404: "What the path names does not exist (a task, run, schedule, workflow, workflow run, "
    "calendar, override, token, node, backfill or result file); the problem names it.",
    409: "The action conflicts with the current state.",
    413: "The request body is over `api.max_body_size`.",
    415: "Send `Content-Type: application/json` (a request without a body may send "
    "`X-Requested-With` instead).",
    422: "Invalid input; `field` names the field at fault.",
    429: "Too many requests of this kind (runs created, preview search time, test "
    "alerts); `Retry-After` says when to try again.",
    503: "The store cannot be reached, the scheduler is not running, or the node was too "
    "busy to work the answer out within its budget; `Retry-After` says when to try again.",
}


def problem_responses(statuses: Sequence[int]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem answers for ``statuses``."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


class ApiProblem(Exception):
    """Raised by API code to answer with a problem (401, 403, 503 ...)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def too_many(what: str, wait: float) -> ApiProblem:
    """The 429 saying ``what`` and when to come back (``wait`` seconds, rounded up)."""
    seconds = math.ceil(wait)
    return ApiProblem(
        429,
        f"{what}; retry in {seconds} s",
        slug="too-many-requests",
        title="Too many requests",
        headers={"Retry-After": str(seconds)},
    )


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if field is not None or errors:
        body["field"] = field
        body["errors"] = errors or []
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


#: A union member's tag in an error's location, as pydantic writes it.
_UNION_MEMBER = re.compile(r"^(?:[a-z][a-z0-9_-]*\[.*\]|str|int|float|bool|bytes|list|dict)$")


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    undecodable = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if undecodable is not None:
        # FastAPI reports the character position as the field ("8"), which reads as the
        # index of a batch item: a body that is not JSON is the documented 400.
        loc = undecodable.get("loc", ())
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        reason = (undecodable.get("ctx") or {}).get("error") or undecodable.get("msg")
        return problem_response(400, f"the body is not valid JSON{at}: {reason}", field="body")
    errors: list[dict[str, Any]] = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else None
        # pydantic names the member of a union it tried ("dict[str,any]"): no field.
        path = [p for p in (loc[1:] if where else loc) if not _UNION_MEMBER.match(p)]
        item = {"field": ".".join(path) or (where or ""), "message": str(error.get("msg", ""))}
        if where:
            item["in"] = where
        if error.get("type"):
            item["type"] = str(error["type"])
        errors.append(item)
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return problem_response(
        422,
        detail,
        slug="validation-error",
        title="Invalid input",
        field=first["field"] or None,
        errors=errors,
    )


#: The 404s: error type, problem slug, title, and the members naming what was not
#: found (problem key -> the error's attribute holding it). The keys say what kind of thing
#: each value is, since a client may read the problem apart from its URL: ``run_id`` is
#: always a task run, a workflow run is ``workflow_run_id``.
_NOT_FOUND: tuple[
    tuple[type[Exception], str, str, Mapping[str, str]],
    ...,
] = (
    (TaskNotFoundError, "task-not-found", "Task not found", {"task_name": "name"}),
    (RunNotFoundError, "run-not-found", "Run not found", {"run_id": "run_id"}),
    (
        ScheduleNotFoundError,
        "schedule-not-found",
        "Schedule not found",
        {"schedule_id": "schedule_id"},
    ),
    (NodeNotFoundError, "node-not-found", "Node not found", {"node_id": "node_id"}),
    (BackfillNotFoundError, "backfill-not-found", "No backfill", {"schedule_id": "schedule_id"}),
    (
        ResultFileNotFoundError,
        "result-file-not-found",
        "Result file not found",
        {"run_id": "run_id", "file": "name"},
    ),
    (WorkflowNotFoundError, "workflow-not-found", "Workflow not found", {"workflow": "name"}),
    (
        WorkflowRunNotFoundError,
        "workflow-run-not-found",
        "Workflow run not found",
        {"workflow_run_id": "run_id"},
    ),
    # ``token``: the id or the name, as the caller gave it (revoking takes either).
    (TokenNotFoundError, "token-not-found", "Token not found", {"token": "ref"}),
    (CalendarNotFoundError, "calendar-not-found", "Calendar not found", {"calendar": "name"}),
    # ``day``, as the path parameter and its 422 call it.
    (
        OverrideNotFoundError,
        "override-not-found",
        "Override not found",
        {"calendar": "calendar", "day": "day"},
    ),
)


@dataclass(frozen=True, slots=True)
class FieldPlaces:
    """Where a route takes its inputs from: a schedkit ValidationError names a field
    (``task``, ``timeout``, ``kwargs.day``) but not whether the caller sent it in the path,
    the query or the body; the route knows. A field whose first segment is one of the
    route's path, query or header parameters came from there, any other from the body
    (None for a route without one)."""

    params: Mapping[str, str]
    body: bool

    @classmethod
    def of_route(cls, route: APIRoute) -> FieldPlaces:
        params: dict[str, str] = {}
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            for place, fields in (
                ("header", dependant.header_params),
                ("query", dependant.query_params),
                ("path", dependant.path_params),
            ):
                for param in fields:
                    # The Python name as well: a service error says "idempotency_key"
                    # for the header "Idempotency-Key".
                    params[param.alias] = params[param.name] = place
            pending.extend(dependant.dependencies)
        return cls(params=params, body=route.body_field is not None)

    def of(self, field: str) -> str | None:
        first = field.split(".", 1)[0]
        return self.params.get(first) or ("body" if self.body else None)


def _places_of(request: Request) -> FieldPlaces | None:
    """The places of the route serving ``request`` (a host app's own route too)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return None
    places = getattr(route, "field_places", None)
    return places if isinstance(places, FieldPlaces) else FieldPlaces.of_route(route)


def _invalid_item(
    field: str, message: str, kind: Any, places: FieldPlaces | None
) -> dict[str, Any]:
    item: dict[str, Any] = {"field": field, "message": message}
    where = places.of(field) if places is not None and field else None
    if where is not None:
        item["in"] = where
    # pydantic's type when the error came from a model, else that of a failed check.
    item["type"] = str(kind or "value_error")
    return item


def _schedkit_problem(exc: SchedkitError, places: FieldPlaces | None) -> JSONResponse:
    if isinstance(exc, ValidationError):
        errors = [
            _invalid_item(
                ".".join(str(p) for p in e.get("loc", ())) or (exc.field or ""),
                str(e.get("msg", "")),
                e.get("type"),
                places,
            )
            for e in exc.errors
            if isinstance(e, Mapping)
        ] or [_invalid_item(exc.field or "", exc.message, None, places)]
        return problem_response(
            422,
            str(exc),
            slug="validation-error",
            title="Invalid input",
            field=exc.field,
            errors=errors,
        )
    for kind, slug, title, names in _NOT_FOUND:
        if isinstance(exc, kind):
            extra = {key: getattr(exc, attribute) for key, attribute in names.items()}
            return problem_response(404, str(exc), slug=slug, title=title, extra=extra)
    if isinstance(exc, NoticeDropsDaysError):
        # The days, so that a client can list them and ask before sending replace: true.
        return problem_response(
            409,
            str(exc),
            slug="notice-drops-days",
            title="The notice leaves out days the stored one sets",
            extra={"year": exc.year, "days": exc.days},
        )
    if isinstance(exc, NoticeMissesFestivalsError):
        # The festivals, so that a client can list them and ask before sending partial.
        return problem_response(
            409,
            str(exc),
            slug="notice-misses-festivals",
            title="The notice leaves statutory holidays open",
            extra={"year": exc.year, "festivals": exc.festivals, "source": exc.source},
        )
    if isinstance(exc, ConflictError):
        return problem_response(409, str(exc), slug="conflict", title="Conflict")
    if isinstance(exc, StoreError):
        return _store_problem(exc)
    if isinstance(exc, NotRunningError):
        return problem_response(
            503,
            str(exc),
            slug="not-running",
            title="Scheduler not running",
            headers={"Retry-After": str(exc.retry_after or 5)},
        )
    if isinstance(exc, NodeBusyError):
        return problem_response(
            503, str(exc), slug="busy", title="Node busy", headers={"Retry-After": "1"}
        )
    logger.error("unmapped schedkit error answered with 500: %r", exc)
    return problem_response(500, str(exc), slug="internal-error", title="Internal error")


def _store_problem(exc: StoreError) -> JSONResponse:
    """A 503 that names no store: the cause (the store's host, database and user, even
    with the password masked) is for the node's log, not for every token holder; the
    reference joins the two."""
    reference = secrets.token_hex(4)
    unwritable = isinstance(exc, StoreUnwritableError)
    unreachable = isinstance(exc, StoreUnavailableError) and not unwritable
    logger.log(
        logging.WARNING if unreachable else logging.ERROR,
        "store error answered with 503 (ref %s): %s",
        reference,
        exc,
    )
    if unwritable:
        what, slug, title = "refuses writes", "store-unwritable", "Store refuses writes"
    elif unreachable:
        what, slug, title = "cannot be reached", "store-unavailable", "Store unavailable"
    else:
        what, slug, title = "failed", "store-error", "Store error"
    return problem_response(
        503,
        f"The store {what}; the node's log has the cause (ref {reference}).",
        slug=slug,
        title=title,
        headers={"Retry-After": "5"},
        extra={"ref": reference},
    )


class PassingProblem(HTTPException):
    """An :class:`ApiProblem` raised where only an HTTPException passes: while FastAPI
    reads a body (from ``receive``), it re-raises those and answers anything else as a
    bare 400."""

    def __init__(self, problem: ApiProblem) -> None:
        super().__init__(problem.status, problem.detail, headers=problem.headers or None)
        self.problem = problem


def problem_for(exc: Exception, places: FieldPlaces | None = None) -> JSONResponse | None:
    """The problem answer for ``exc``, or None for an exception that is a bug.
    ``places``: the route's, to say where each field of a 422 came from."""
    if isinstance(exc, PassingProblem):
        exc = exc.problem
    if isinstance(exc, TooManyRequestsError):
        exc = too_many(str(exc), exc.retry_after)
    if isinstance(exc, ApiProblem):
        return problem_response(
            exc.status,
            exc.detail,
            slug=exc.slug,
            title=exc.title,
            headers=exc.headers,
            extra=exc.extra,
        )
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc)
    if isinstance(exc, SchedkitError):
        return _schedkit_problem(exc, places)
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, detail, headers=exc.headers)
    return None


def internal_error(exc: Exception) -> JSONResponse:
    logger.error("unhandled error in the schedkit API", exc_info=exc)
    return problem_response(
        500, "internal error; see the server log", slug="internal-error", title="Internal error"
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of ``app`` serves at the request's path (Starlette's own
    405 names only the first matching route's methods)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed


async def schedkit_error_handler(request: Request, exc: Exception) -> Response:
    """For a host app whose own routes call the scheduler: registered with
    ``app.add_exception_handler(SchedkitError, schedkit_error_handler)``, schedkit's
    errors there are answered as the embedded routes answer them (invalid parameters
    422, unknown task 404, conflict 409, too soon 429, scheduler not running 503) instead
    of 500; the host's other errors keep its own handlers."""
    return problem_for(exc, _places_of(request)) or internal_error(exc)


def install_problem_handlers(app: FastAPI) -> None:
    """App-wide problem answers (unknown paths, wrong methods, uncaught errors)."""

    async def on_error(request: Request, exc: Exception) -> Response:
        response = problem_for(exc, _places_of(request))
        if response is None:
            return internal_error(exc)
        if response.status_code == 405:
            response.headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return response

    app.add_exception_handler(StarletteHTTPException, on_error)
    app.add_exception_handler(RequestValidationError, on_error)
    app.add_exception_handler(SchedkitError, on_error)
    # Raised by router-level dependencies too (/metrics' guard): without its own handler
    # it would reach the catch-all below, which Starlette answers and then re-raises.
    app.add_exception_handler(ApiProblem, on_error)
    app.add_exception_handler(Exception, on_error)
