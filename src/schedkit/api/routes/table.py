"""The route table: every route with the minimum role it needs, and the parameter types
several routes share. :func:`schedkit.api.router.create_router` turns it into a router."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, Depends, Path, Query, Request
from starlette.convertors import StringConvertor, register_url_convertor

from schedkit.api.deps import SchedulerDep
from schedkit.api.schemas import SCHEDULE_BODY_EXAMPLES
from schedkit.limits import MAX_OFFSET, MAX_PAGE_SIZE, SCHEDULE_ID_PATTERN
from schedkit.tokens import Role

__all__ = ["ROUTES", "SCHEDULE_ID_PATTERN", "RouteSpec", "RouteTable", "route"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RouteSpec:
    method: str
    path: str
    endpoint: Callable[..., Any]
    role: Role | None
    errors: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


class RouteTable:
    """Routes with the role each requires (``None``: open, e.g. health checks)."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        role: Role | None,
        errors: Sequence[int] = (),
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.specs.append(
                RouteSpec(
                    method=method,
                    path=path,
                    endpoint=endpoint,
                    role=role,
                    errors=tuple(errors),
                    options=options,
                )
            )
            return endpoint

        return register


ROUTES = RouteTable()
route = ROUTES.route

# Query parameters shared by several routes.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
Name = Annotated[str | None, Query(max_length=200)]
TaskName = Annotated[str, Path(max_length=200, description="The task's unique name.")]
RunId = Annotated[str, Path(max_length=100)]
ScheduleBody = Annotated[
    dict[str, Any] | str,
    Body(
        description=(
            "A schedule: the design document's flat dict (`trigger` cron/interval/date plus "
            "its fields and policies), the nested spec (`trigger` object plus "
            "`misfire_grace_time`, `max_instances`, `coalesce`, `overlap`, `timeout`, "
            "`kwargs`), or a crontab string."
        ),
        openapi_examples=SCHEDULE_BODY_EXAMPLES,
    ),
]


async def _check_task_filter(request: Request, scheduler: SchedulerDep) -> None:
    await scheduler.check_task_filter(request.query_params.get("task"))


#: Refuses the route's ``task`` filter when it names no task (422, see
#: Scheduler.check_task_filter). A dependency, so that the event stream refuses it before
#: its answer starts; it reads the parameter the route declares rather than declaring it
#: again (FastAPI would then validate it twice, listing each fault twice).
TaskFilterCheck = Annotated[None, Depends(_check_task_filter)]


class _ScheduleIdConvertor(StringConvertor):
    """A schedule id in a path: any segment but ``preview``, so that ``/schedules/preview``
    belongs to the preview route alone (GET on it is a 405, not "unknown schedule")."""

    regex = r"(?!preview/?$)[^/]+"


register_url_convertor("schedkit_schedule_id", _ScheduleIdConvertor())
