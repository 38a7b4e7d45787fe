"""The one place a :class:`~schedkit.models.Run` is built.

A run is born in five ways — fired by a schedule, recorded as a fire that did not run,
triggered by hand (or as a retry of a finished run), by a finished upstream task, as a
workflow step, or as a past fire backfilled on request — and
a run may be created already claimed by the node that fires it. Every field a new run
gets is decided here, so the scheduler, the façade and the executor cannot disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schedkit.engine import backfill
from schedkit.errors import ConflictError, ValidationError
from schedkit.limits import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY_CHARS
from schedkit.models import (
    JSON,
    LOCAL_EXECUTOR,
    STEP_CREATOR,
    Run,
    RunStatus,
    Schedule,
    TriggerSource,
    WorkflowRun,
    labels_of,
    new_id,
    run_with,
)
from schedkit.store._common import CANCELLED_IN_ATTEMPT
from schedkit.task import BaseTask
from schedkit.workflows.plan import step_key, step_run_id

SCHEDULER_ACTOR = "scheduler"


def executor_of(schedule: Schedule, task: BaseTask) -> str:
    """Where the runs of ``schedule`` execute: its own choice, else its task's."""
    return schedule.executor if schedule.executor is not None else task.executor


def _policies(task: BaseTask, schedule: Schedule | None = None) -> dict[str, Any]:
    """What a run takes from its task, and from its schedule when it has one (a
    schedule's labels add to the task's, its timeout and executor win)."""
    policies: dict[str, Any] = {
        "priority": int(task.task_priority),
        "max_attempts": task.retry_policy.max_attempts,
        "timeout": task.timeout,
        "labels": task.labels,
        "executor": task.executor,
    }
    if schedule is not None:
        policies.update(
            kwargs=dict(schedule.kwargs),
            labels=labels_of([*task.labels, *schedule.labels]),
            executor=executor_of(schedule, task),
        )
        if schedule.timeout is not None:
            policies["timeout"] = schedule.timeout
    return policies


def fired(
    schedule: Schedule,
    task: BaseTask,
    fire: datetime,
    now: datetime,
    *,
    catch_up: bool,
    blocked_by: str | None = None,
    not_before: datetime | None = None,
    claimed_by: str | None = None,
) -> Run:
    """The run of a schedule's fire at nominal time ``fire``, to start at ``not_before``
    (default: now; later for a fire taken ahead of its time): pending, or already
    running on node ``claimed_by`` (see :func:`claimed`)."""
    start = now if not_before is None else not_before
    return Run(
        id=new_id(),
        task_name=schedule.task_name,
        schedule_id=schedule.id,
        trigger_source=TriggerSource.CATCH_UP if catch_up else TriggerSource.SCHEDULE,
        scheduled_for=fire,
        not_before=start,
        blocked_by=blocked_by,
        created_at=now,
        created_by=SCHEDULER_ACTOR,
        **_policies(task, schedule),
        **({} if claimed_by is None else _running_on(claimed_by, start, now)),
    )


def not_run(
    schedule: Schedule,
    task: BaseTask | None,
    fire: datetime,
    status: RunStatus,
    reason: str,
    now: datetime,
) -> Run:
    """The record of a fire that does not run (``skipped`` or ``missed``, invariant 6),
    of ``task`` (None: not registered here). Recorded for the executor its runs have:
    as ``local`` runs, a Celery schedule's missed fires were counted and listed under the
    wrong executor."""
    executor = executor_of(schedule, task) if task is not None else schedule.executor
    return Run(
        id=new_id(),
        task_name=schedule.task_name,
        schedule_id=schedule.id,
        trigger_source=TriggerSource.SCHEDULE,
        scheduled_for=fire,
        status=status,
        kwargs=dict(schedule.kwargs),
        not_before=now,
        finished_at=now,
        reason=reason,
        created_at=now,
        created_by=SCHEDULER_ACTOR,
        executor=LOCAL_EXECUTOR if executor is None else executor,
    )


def manual(
    task: BaseTask,
    kwargs: dict[str, Any],
    now: datetime,
    *,
    actor: str,
    source: TriggerSource = TriggerSource.MANUAL,
    max_attempts: int | None = None,
    executor: str | None = None,
    run_id: str | None = None,
) -> Run:
    """A run started by hand (``run_now``) or as a retry of a finished run (which passes
    that run's ``executor``; default: the task's). Manual runs have no schedule, so they
    are never deduplicated by the fencing key; one asked with an idempotency key has
    that key's id (:func:`keyed_id`), so a repeat stores nothing."""
    policies = _policies(task)
    if max_attempts:
        policies["max_attempts"] = max_attempts
    if executor is not None:
        policies["executor"] = executor
    return Run(
        id=new_id() if run_id is None else run_id,
        task_name=task.task_name,
        schedule_id=None,
        trigger_source=source,
        scheduled_for=now,
        kwargs=kwargs,
        not_before=now,
        created_at=now,
        created_by=actor,
        **policies,
    )


def keyed_id(name: str, key: str, *, kind: str = "manual") -> str:
    """The id of the manual run of task ``name`` (``kind="workflow"``: the run of
    workflow ``name``) asked with the idempotency key ``key``: the same for every request
    and node, so the key is remembered as long as the run is kept in the history (until a
    purge removes it). Keys: see :data:`schedkit.limits.IDEMPOTENCY_KEY_PATTERN`."""
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise ValidationError(
            f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters",
            field="idempotency_key",
        )
    digest = hashlib.sha256(f"{kind}|{name}|{key}".encode()).hexdigest()
    return digest[:32]


def check_repeat(
    key: str, earlier: str, given: Mapping[str, Any], stored: Mapping[str, Any], inputs: str
) -> None:
    """A request repeated with the idempotency ``key`` of ``earlier`` (e.g. ``"run <id>
    of 'task'"``) must bring the same ``inputs`` (kwargs, params) as stored: a key sent
    again with others is a client's mistake, not a repeat (ConflictError)."""
    if dict(given) != stored:
        raise ConflictError(
            f"the idempotency key {key!r} was used for {earlier} with other {inputs}; "
            "use a new key for a different request"
        )


def dependent(task: BaseTask, upstream: Run, now: datetime) -> Run:
    """The run of ``task`` that a successful run of a task it ``depends_on`` starts.

    Fenced like a fire, on a synthetic schedule id and the upstream's fire time, so that
    an upstream run finishing twice (a retried write) cannot start it twice.
    """
    return Run(
        id=new_id(),
        task_name=task.task_name,
        schedule_id=f"{task.task_name}:after:{upstream.task_name}",
        trigger_source=TriggerSource.DEPENDENCY,
        scheduled_for=upstream.scheduled_for,
        not_before=now,
        created_at=now,
        created_by=f"run:{upstream.id}",
        **_policies(task),
    )


def backfilled(
    schedule: Schedule,
    task: BaseTask,
    fire: backfill.BackfillFire,
    now: datetime,
    *,
    blocked_by: datetime | None,
    actor: str,
) -> Run:
    """The run of a past fire of ``schedule`` asked for by a backfill: pending (waiting
    for the run of fire ``blocked_by`` when given), or, for a fire the business calendar
    excludes, recorded ``skipped`` with the reason. Id and fencing key come from the
    schedule and fire alone (:mod:`~schedkit.engine.backfill`), so a repeated request
    inserts nothing twice."""
    run = Run(
        id=backfill.run_id(schedule.id, fire.nominal),
        task_name=schedule.task_name,
        schedule_id=backfill.schedule_key(schedule.id),
        trigger_source=TriggerSource.BACKFILL,
        scheduled_for=fire.nominal,
        not_before=now,
        blocked_by=None if blocked_by is None else backfill.run_id(schedule.id, blocked_by),
        created_at=now,
        created_by=actor,
        **_policies(task, schedule),
    )
    if fire.excluded is None:
        return run
    return dataclasses.replace(
        run, status=RunStatus.SKIPPED, finished_at=now, reason=fire.excluded, blocked_by=None
    )


def step(
    task: BaseTask | None,
    task_name: str,
    workflow_run: WorkflowRun,
    step_name: str,
    kwargs: dict[str, Any],
    now: datetime,
) -> Run:
    """The run of a workflow step, fenced on the step's key and the workflow run's
    ``scheduled_for`` with an id derived from them: one run per step per workflow run,
    whoever creates it. A task no longer registered gets the defaults of a run (and
    fails with a clear error when it is claimed)."""
    return Run(
        id=step_run_id(workflow_run.id, step_name),
        task_name=task_name,
        schedule_id=step_key(workflow_run.id, step_name),
        trigger_source=TriggerSource.WORKFLOW,
        scheduled_for=workflow_run.scheduled_for,
        kwargs=kwargs,
        not_before=now,
        created_at=now,
        created_by=f"{STEP_CREATOR}{workflow_run.id}",
        **({} if task is None else _policies(task)),
    )


def claimed(run: Run, node_id: str, now: datetime) -> Run:
    """``run`` as created already running on ``node_id`` (no claim round trip); it
    starts at its ``not_before`` when that is later (a fire taken ahead of its time)."""
    return run_with(run, **_running_on(node_id, run.not_before, now))


def _running_on(node_id: str, not_before: datetime, now: datetime) -> dict[str, Any]:
    return {
        "status": RunStatus.RUNNING,
        "node_id": node_id,
        "started_at": max(now, not_before),
        "heartbeat_at": now,
    }


def skipped(run: Run, reason: str, now: datetime) -> Run:
    """``run`` recorded as a fire skipped by its overlap policy."""
    return dataclasses.replace(run, status=RunStatus.SKIPPED, finished_at=now, reason=reason)


def cancelled_in_attempt(run: Run, attempt_error: JSON, now: datetime) -> Run:
    """``run`` as the store leaves it when its attempt ends (a requeue, a lost verdict)
    after its cancel was requested: cancelled at ``now``, the attempt's record as its
    error (see :meth:`Store.requeue_run`)."""
    return run_with(
        run,
        status=RunStatus.CANCELLED,
        finished_at=now,
        error=attempt_error,
        reason=CANCELLED_IN_ATTEMPT,
    )
