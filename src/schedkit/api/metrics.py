"""``GET /metrics``: the node's Prometheus metrics (text exposition format).

Included at the app root by ``schedkit.api.app`` when present. The scheduler comes from
``request.app.state.scheduler`` and its :class:`~schedkit.monitor.Monitor` extension
provides the registry; store-wide gauges are re-sampled at most once a second.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response

from schedkit.api.auth import Authenticator, require_role
from schedkit.api.deps import NO_MONITOR
from schedkit.api.problems import problem_response, problem_responses
from schedkit.errors import StoreError, StoreUnavailableError
from schedkit.metrics import CONTENT_TYPE
from schedkit.monitor import Monitor, find_monitor
from schedkit.recent_outage import RecentOutage
from schedkit.stopping import wait_for
from schedkit.tokens import Role

router = APIRouter(tags=["monitoring"])

#: Scrapes closer together than this reuse the last store-wide sample.
SAMPLE_MAX_AGE = 1.0
#: Seconds a scrape waits for a new sample (see _refresh).
SAMPLE_DEADLINE = 2.0


def monitor_of(request: Request) -> Monitor | None:
    scheduler = getattr(request.app.state, "scheduler", None)
    return find_monitor(scheduler) if scheduler is not None else None


def monitor_status(scheduler: Any) -> dict[str, Any] | None:
    """Alert channel health etc. for a ``/ready`` endpoint (None without a Monitor)."""
    monitor = find_monitor(scheduler)
    return monitor.status() if monitor is not None else None


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus metrics"},
        **problem_responses([401, 403, 503]),
    },
    summary="Prometheus metrics of this node",
)
async def metrics(request: Request) -> Response:
    monitor = monitor_of(request)
    if monitor is None:
        # Built, not raised: this router may be mounted without schedkit's handlers.
        return problem_response(503, NO_MONITOR, title="Metrics are not enabled")
    await _refresh(monitor, request.app.state.scheduler.store_outage)
    body, content_type = monitor.metrics.render_for(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})


async def _refresh(monitor: Monitor, outage: RecentOutage) -> None:
    """Sample the store-wide gauges again if due; on a store error the last sample is
    served (schedkit_store_operation_errors_total tells why). A store that hangs (packets
    dropped: nothing refuses) fails only after the driver's timeouts (60 s), past a
    scraper's own (Prometheus: 10 s): a scrape waits for it a short while, and not at all
    while it was found unavailable a moment ago. The monitor's periodic check samples
    without this bound."""
    if outage.why is not None:
        return
    try:
        await wait_for(monitor.refresh(SAMPLE_MAX_AGE), SAMPLE_DEADLINE)
    except TimeoutError:
        outage.found(f"no answer to a metrics sample in {SAMPLE_DEADLINE:.0f} s")
    except StoreUnavailableError as exc:
        outage.found(str(exc))
    except StoreError:
        pass


def include_metrics(app: FastAPI, authenticate: Authenticator, *, public: bool) -> None:
    """``GET /metrics`` at ``app``'s root, for viewers (it names tasks, channels and
    hosts) unless ``public`` (``api.metrics_public``)."""
    guard = [] if public else [Depends(require_role(authenticate, Role.VIEWER))]
    app.include_router(router, dependencies=guard)
