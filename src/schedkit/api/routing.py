"""The route class of the API: strict about its input, and every error a problem.

:class:`ProblemRoute` answers the errors of its handler (schedkit errors, validation
errors, the auth guards' problems, bugs) as RFC 9457 problems inside the route, so that a
host application embedding the router keeps its own error handlers. It also rejects, as
a 422 naming the field, input FastAPI would otherwise let through: query parameters the
route does not declare (``?categroy=report`` must not list every task), repeats of a
single-valued parameter, and JSON text no store can hold (lone UTF-16 surrogates).

A mutating request is checked in this order, each step before the next one costs
anything: its declared size (413) and content type (415, see :mod:`schedkit.api.guards`),
then who calls (401/403: the route's role guard runs before FastAPI reads the body), then
the body itself, read with the size limit enforced while it streams.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import solve_dependencies
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute

from schedkit.api.guards import (
    MUTATING_METHODS,
    check_content_type,
    check_declared_size,
    check_no_nul,
    limited_receive,
    max_body_size,
)
from schedkit.api.problems import ApiProblem, FieldPlaces, internal_error, problem_for

__all__ = ["ProblemRoute"]


class ProblemRoute(APIRoute):
    """An APIRoute that answers every error of its handler with a problem, and rejects
    query parameters it does not declare (or repeats of a single-valued one) instead of
    silently ignoring them: ``?categroy=report`` is a 422, not every task."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.query_names: dict[str, bool] = {}  # name -> may repeat
        pending = [self.dependant]
        while pending:
            dependant = pending.pop()
            for param in dependant.query_params:
                repeatable = _is_sequence(param.field_info.annotation)
                self.query_names[param.alias] = (
                    self.query_names.get(param.alias, False) or repeatable
                )
            pending.extend(dependant.dependencies)
        #: Where each input comes from, for the ``in`` of a schedkit ValidationError's 422.
        self.field_places = FieldPlaces.of_route(self)
        # FastAPI puts the route-level dependencies (the role guard) first. Routes with a
        # body run it themselves before the body is read (see _authenticate_first).
        self.body_guard: Dependant | None = (
            self.dependant.dependencies[0]
            if self.dependencies and self.body_field is not None
            else None
        )

    def _admit(self, request: Request) -> Request:
        """Check the request's path and query for NUL characters, and a mutating
        request's declared size and content type; return it with its body checked as it
        streams."""
        check_no_nul(request.scope)
        if request.method not in MUTATING_METHODS:
            return request
        limit = max_body_size(request.scope)
        check_declared_size(request.headers, limit)
        check_content_type(request.headers)
        return Request(request.scope, limited_receive(request.receive, limit))

    async def _authenticate_first(self, request: Request) -> None:
        """Run the role guard now: FastAPI reads and parses a body before it solves any
        dependency, which would let anyone make the server read a body. The token
        authenticator remembers its answer for the request, so the second run is free."""
        if self.body_guard is None:
            return
        guard = self.body_guard
        async with AsyncExitStack() as own:
            stack = request.scope.get("fastapi_inner_astack", own)
            solved = await solve_dependencies(
                request=request,
                dependant=guard,
                dependency_overrides_provider=self.dependency_overrides_provider,
                async_exit_stack=stack,
                embed_body_fields=False,
            )
            if solved.errors:
                raise RequestValidationError(solved.errors)
            # solve_dependencies solves the guard's own dependencies; the guard is ours.
            assert guard.call is not None
            outcome = guard.call(**solved.values)
            if inspect.isawaitable(outcome):
                await outcome

    def _check_query(self, request: Request) -> None:
        seen: set[str] = set()
        for name, _ in request.query_params.multi_items():
            if name not in self.query_names:
                known = ", ".join(sorted(self.query_names)) or "none"
                raise ApiProblem(
                    422,
                    f"unknown query parameter {name!r} (known: {known})",
                    slug="validation-error",
                    title="Invalid input",
                    extra={
                        "field": name,
                        "errors": [
                            {
                                "field": name,
                                "in": "query",
                                "message": "unknown query parameter",
                                "type": "extra_forbidden",
                            }
                        ],
                    },
                )
            if name in seen and not self.query_names[name]:
                raise ApiProblem(
                    422,
                    f"query parameter {name!r} is given more than once",
                    slug="validation-error",
                    title="Invalid input",
                    extra={
                        "field": name,
                        "errors": [
                            {
                                "field": name,
                                "in": "query",
                                "message": "given more than once",
                                "type": "value_error",
                            }
                        ],
                    },
                )
            seen.add(name)

    async def _check_body(self, request: Request) -> None:
        """Parse a JSON body before FastAPI does (the request keeps the value, FastAPI
        takes it from there) to refuse what it would let through or answer without the
        problem's details: JSON nested deeper than the parser recurses or holding a number
        longer than Python converts (FastAPI: a bare 400), and text the stores cannot
        hold: JSON lets ``"\\ud800"`` through as a lone UTF-16 surrogate, which no UTF-8
        database column accepts."""
        if self.body_field is None or "json" not in request.headers.get("content-type", ""):
            return
        body = await request.body()
        if not body:
            return
        try:
            data = await request.json()
        except RecursionError:
            raise _too_deep(body) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return  # FastAPI answers malformed JSON itself (a 400 naming the character)
        except ValueError:
            # The only other ValueError of json.loads: int() refusing a long number.
            digits = sys.get_int_max_str_digits()
            raise ApiProblem(
                400,
                f"the body is not valid JSON: a number of more than {digits:,} digits "
                "(the most an integer may have)",
                extra={"field": "body", "errors": []},  # as the 400 for malformed JSON
            ) from None
        if b"\\u" not in body:
            return
        path = _unencodable(data, [])
        if path is not None:
            field = ".".join(path)
            raise ApiProblem(
                422,
                f"{field or 'body'}: text contains an unpaired surrogate (not valid Unicode)",
                slug="validation-error",
                title="Invalid input",
                extra={
                    "field": field or None,
                    "errors": [
                        {
                            "field": field,
                            "in": "body",
                            "message": "not valid Unicode text",
                            "type": "value_error",
                        }
                    ],
                },
            )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def problem_handler(request: Request) -> Response:
            try:
                self._check_query(request)
                request = self._admit(request)
                await self._authenticate_first(request)
                await self._check_body(request)
                return await handler(request)
            except ResponseValidationError as exc:
                return internal_error(exc)
            except Exception as exc:
                response = problem_for(exc, self.field_places)
                return response if response is not None else internal_error(exc)

        return problem_handler


# A JSON string (escapes included) or a bracket: what nesting is counted from.
_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _too_deep(body: bytes) -> ApiProblem:
    """The 400 for a JSON body nested deeper than the parser recurses, naming the
    character where its deepest level opens (as FastAPI's 400 for malformed JSON does)."""
    text = body.decode(json.detect_encoding(body), errors="replace")
    depth = deepest = at = 0
    for match in _NESTING.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest, at = depth, match.start()
        elif token in ("]", "}"):
            depth -= 1
    return ApiProblem(
        400,
        f"the body is not valid JSON at character {at}: nested {deepest:,} levels deep, "
        "more than the parser reads",
        extra={"field": "body", "errors": []},  # as the 400 for malformed JSON
    )


def _unencodable(value: Any, path: list[str]) -> list[str] | None:
    """The path of the first string (or key) in ``value`` that is not valid UTF-8 text."""
    stack: list[tuple[Any, list[str]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError:
                    return where
                stack.append((child, [*where, key]))
        elif isinstance(item, list):
            stack.extend((child, [*where, str(i)]) for i, child in enumerate(item))
    return None


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset)
