"""The baseline: APScheduler 3.11's ``AsyncIOScheduler`` with ``MemoryJobStore`` and with
``SQLAlchemyJobStore`` on a SQLite file (APScheduler's defaults for that store: the
``sqlite:///`` URL as given, rollback journal, one commit per job change).

APScheduler 3 does not tell a job when it was meant to run, so the executor is
subclassed to hand the job its ``run_times`` through a context variable (the job
coroutine is created in the executor's ``_do_submit_job``, inside that context): the
no-op job then records ``start - scheduled_run_time`` exactly as schedkit's no-op task
records ``start - ctx.scheduled_for``.
"""

from __future__ import annotations

import contextvars
import math
import pickle
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bench.systems import APS_MEMORY, APS_SQLALCHEMY, RECORDS

_RUN_TIMES: contextvars.ContextVar[list[datetime] | None] = contextvars.ContextVar(
    "bench_aps_run_times", default=None
)

#: Scheduler events by kind (executed, missed, max_instances, error).
EVENTS: Counter[str] = Counter()
_EVENT_NAMES = {
    EVENT_JOB_EXECUTED: "executed",
    EVENT_JOB_MISSED: "missed",
    EVENT_JOB_MAX_INSTANCES: "max_instances",
    EVENT_JOB_ERROR: "error",
}


class MeasuringAsyncIOExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """APScheduler's asyncio executor, unchanged except that the job coroutine can read
    the run times it was submitted for."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        token = _RUN_TIMES.set(list(run_times))
        try:
            super()._do_submit_job(job, run_times)
        finally:
            _RUN_TIMES.reset(token)


async def aps_noop(key: str) -> None:
    """The baseline's no-op job (module level, so SQLAlchemyJobStore can pickle it)."""
    now = time.time()
    times = _RUN_TIMES.get()
    # run_coroutine_job calls the job once per run time it did not skip as missed (and
    # a missed one is over its grace, far behind the others): take them in order.
    scheduled = times.pop(0).timestamp() if times else math.nan
    RECORDS.append((key, scheduled, now))


def aps_noop_sync(key: str) -> None:
    """The no-op job as a plain function: APScheduler runs it on its thread pool. (The
    run times it was submitted for do not reach that thread; throughput needs none.)"""
    RECORDS.append((key, math.nan, time.time()))


def _on_event(event: JobEvent) -> None:
    EVENTS[_EVENT_NAMES.get(event.code, str(event.code))] += 1


def make_aps(
    system: str,
    url: str | None,
    *,
    misfire_grace_time: float | None = 300,
    coalesce: bool = True,
    max_instances: int = 3,
) -> AsyncIOScheduler:
    """An AsyncIOScheduler on the system's job store. The defaults mirror schedkit's
    ``job_defaults`` (grace 300 s, coalesce, 3 instances) so both run the same policy."""
    if system == APS_MEMORY:
        store: Any = MemoryJobStore()
    elif system == APS_SQLALCHEMY:
        if url is None:
            raise ValueError("the SQLAlchemy job store needs a URL")
        store = SQLAlchemyJobStore(url=url)
    else:
        raise ValueError(f"not an APScheduler system: {system}")
    scheduler = AsyncIOScheduler(
        jobstores={"default": store},
        executors={"default": MeasuringAsyncIOExecutor()},
        job_defaults={
            "misfire_grace_time": misfire_grace_time,
            "coalesce": coalesce,
            "max_instances": max_instances,
        },
        timezone=UTC,
    )
    scheduler.add_listener(
        _on_event,
        EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR,
    )
    return scheduler


def aps_settings(system: str, scheduler: AsyncIOScheduler) -> dict[str, Any]:
    return {
        "scheduler": "AsyncIOScheduler",
        "jobstore": "MemoryJobStore" if system == APS_MEMORY else "SQLAlchemyJobStore(sqlite)",
        "executor": "AsyncIOExecutor (coroutine jobs run on the event loop)",
        "job_defaults": dict(scheduler._job_defaults),
    }


def aps_bulk_add(
    scheduler: AsyncIOScheduler,
    jobs: list[tuple[str, Any, list[Any]]],
    func: Callable[..., Any] = aps_noop,
) -> None:
    """Benchmark set-up only: store (id, trigger, args) jobs in a SQLAlchemyJobStore with
    one multi-row INSERT per 5,000, the rows built exactly as its ``add_job`` builds
    them (pickled ``Job.__getstate__()``). ``add_job`` commits each job on its own
    (a SQLite fsync per job); its rate is measured on a sample and reported."""
    from apscheduler.job import Job
    from apscheduler.util import datetime_to_utc_timestamp

    store = scheduler._lookup_jobstore("default")
    defaults = scheduler._job_defaults
    now = datetime.now(UTC)
    rows = []
    for job_id, trigger, args in jobs:
        job = Job(
            scheduler,
            id=job_id,
            func=func,
            trigger=trigger,
            executor="default",
            args=args,
            kwargs={},
            name=func.__name__,
            misfire_grace_time=defaults["misfire_grace_time"],
            coalesce=defaults["coalesce"],
            max_instances=defaults["max_instances"],
            next_run_time=trigger.get_next_fire_time(None, now),
        )
        rows.append(
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
            }
        )
    for i in range(0, len(rows), 5000):
        with store.engine.begin() as conn:
            conn.execute(store.jobs_t.insert(), rows[i : i + 5000])
