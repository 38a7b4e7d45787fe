"""Celery as an executor: runs of tasks declaring ``executor = "celery"`` execute on the
workers of an existing Celery app, recorded in the same store.

One call wires both ends (docs/celery.md)::

    # proj/celery.py: the application's own Celery app, run as ``celery -A proj worker``
    app = Celery("proj", broker="redis://127.0.0.1:6379/0")
    bridge = schedkit.integrations.celery.install(app, config="schedkit.toml")

    # the schedkit service (fires, records and fences the runs as always)
    Scheduler(config, extensions=[bridge])

- **Sending end** (the schedkit node holding the scheduler lease): the bridge is an
  extension that installs a sender for the executor ``"celery"``; each claimable run of
  such a task becomes one message ``schedkit.run(run_id, task_name)`` on the app's
  broker (a run still pending long after is sent again: ``executor.resend_after``).
- **Receiving end** (every Celery worker process): the task ``schedkit.run`` starts, on
  its first message, a schedkit node inside the process (it fires nothing and claims
  nothing by itself) and asks it to claim the run the message names and execute it
  (:meth:`Scheduler.execute_handed_off`): the same context, hooks, retries, timeout,
  cancel, progress and log capture as on any node. The claim is the fence: a message
  delivered twice finds nothing to claim. The node heartbeats its runs, so a worker that
  dies mid-run is detected by the reaper like any lost node.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from celery import Celery, signals

from schedkit.config import SchedkitConfig
from schedkit.extension import ExtensionHost
from schedkit.models import Run
from schedkit.registry import TaskRegistry
from schedkit.service import ConfigInput, load_config
from schedkit.sync import SyncScheduler
from schedkit.task import BaseTask

logger = logging.getLogger(__name__)

__all__ = ["EXECUTOR", "TASK_NAME", "CeleryBridge", "install"]

#: The ``executor`` a task declares to run on Celery.
EXECUTOR = "celery"
#: The Celery task schedkit registers on the app.
TASK_NAME = "schedkit.run"


class CeleryBridge:
    """What :func:`install` returns: the sending end (an extension for a schedkit node)
    and the receiving end (the Celery task, and the schedkit node of a worker process)."""

    def __init__(
        self,
        app: Celery,
        *,
        config: ConfigInput,
        registry: TaskRegistry | None,
        tasks: Iterable[type[BaseTask] | BaseTask],
        queue: str | Mapping[str, str] | None,
        task_name: str,
    ) -> None:
        self.app = app
        self.task_name = task_name
        self._config = config
        self._registry = registry
        self._tasks = list(tasks)
        self._queue = queue
        self._node: SyncScheduler | None = None
        self._node_pid: int | None = None
        self._lock = threading.Lock()
        self._remove: Any = None
        # What this process runs at once, for its node's capacity (see _capacity).
        self._worker: Any = None
        self._pool_process = False
        signals.worker_init.connect(self._on_worker_init, weak=False)
        signals.worker_process_init.connect(self._on_pool_process_init, weak=False)

        def run_schedkit_task(run_id: str, task_name: str) -> dict[str, Any] | None:
            return self.receive(run_id, task_name)

        self.task = app.task(name=task_name)(run_schedkit_task)

    # -- the sending end: an extension of a schedkit node ------------------------------------

    async def start(self, host: ExtensionHost) -> None:
        self._remove = host.add_executor(EXECUTOR, self.send)

    async def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

    async def send(self, run: Run) -> None:
        """Publish the message for one claimable run (off the event loop: the broker
        client blocks)."""
        options: dict[str, Any] = {}
        queue = self.queue_of(run.task_name)
        if queue is not None:
            options["queue"] = queue
        await asyncio.to_thread(
            self.app.send_task, self.task_name, args=[run.id, run.task_name], **options
        )

    def queue_of(self, task_name: str) -> str | None:
        """The Celery queue of a schedkit task's messages (None: the app's routing)."""
        if self._queue is None or isinstance(self._queue, str):
            return self._queue
        return self._queue.get(task_name)

    # -- the receiving end: the Celery task in a worker process ------------------------------

    def receive(self, run_id: str, task_name: str) -> dict[str, Any] | None:
        """Execute the run ``run_id`` of ``task_name``; None when it was not claimable
        (a duplicate message, or the run was cancelled meanwhile)."""
        run = self.node().execute_handed_off(run_id, task_name)
        if run is None:
            logger.info("run %s of %s not claimable (a duplicate message?)", run_id, task_name)
            return None
        return {"run_id": run.id, "status": run.status.value, "attempt": run.attempt}

    def node(self) -> SyncScheduler:
        """This worker process's schedkit node, started on first use (after a prefork
        pool's fork: a node started before it belongs to the parent)."""
        with self._lock:
            if self._node is None or self._node_pid != os.getpid():
                node = SyncScheduler(
                    _worker_config(self._config, self._capacity()),
                    registry=self._registry,
                    tasks=self._tasks,
                )
                node.start()
                self._node, self._node_pid = node, os.getpid()
                # weak=False: the receivers are bound methods of a long-lived bridge.
                signals.worker_process_shutdown.connect(self._on_shutdown, weak=False)
                signals.worker_shutdown.connect(self._on_shutdown, weak=False)
            return self._node

    def _capacity(self) -> int | None:
        """Runs this process executes at once: 1 in a pool process (a prefork child, or
        the solo pool's worker), each of which runs one task at a time; the pool's size
        for a pool running tasks in the worker process itself (threads, gevent,
        eventlet); None outside a Celery worker (the configuration's)."""
        if self._pool_process:
            return 1
        if self._worker is not None:
            return int(self._worker.concurrency)
        return None

    def _on_worker_init(self, sender: Any = None, **kwargs: Any) -> None:
        # The WorkController; its concurrency ("auto" included) is resolved by the
        # time a task runs. A prefork child inherits this from the parent.
        self._worker = sender

    def _on_pool_process_init(self, *args: Any, **kwargs: Any) -> None:
        self._pool_process = True

    def close(self) -> None:
        """Stop this process's schedkit node (runs still executing get the configured
        shutdown grace, then are cancelled and recorded)."""
        with self._lock:
            node, self._node = self._node, None
            if node is not None and self._node_pid == os.getpid():
                node.stop()

    def _on_shutdown(self, *args: Any, **kwargs: Any) -> None:
        self.close()


def install(
    app: Celery,
    config: ConfigInput = None,
    *,
    registry: TaskRegistry | None = None,
    tasks: Iterable[type[BaseTask] | BaseTask] = (),
    queue: str | Mapping[str, str] | None = None,
    task_name: str = TASK_NAME,
) -> CeleryBridge:
    """Register schedkit's Celery task on ``app`` and return the bridge.

    ``config`` is the schedkit configuration the workers use (any form
    :class:`~schedkit.Scheduler` takes; its store must be the service's);
    ``registry``/``tasks`` as for the Scheduler (task packages in the config are
    discovered too). ``queue``: the Celery queue of the messages, one for all, or a map
    from schedkit task name to queue (unlisted tasks follow the app's routing).
    """
    return CeleryBridge(
        app, config=config, registry=registry, tasks=tasks, queue=queue, task_name=task_name
    )


def _worker_config(config: ConfigInput, capacity: int | None) -> SchedkitConfig:
    """The configuration of a worker process's node: it fires nothing (the scheduler
    lease stays with the service) and claims nothing by itself; it executes the runs its
    messages name, at most ``capacity`` at once (Celery's pool decides: the node's
    capacity, shown by ``schedkit nodes``, says what is true)."""
    cfg = load_config(config)
    executor: dict[str, Any] = {"tasks": [], "enabled": True}
    if capacity is not None:
        executor["max_concurrent_runs"] = capacity
    return cfg.model_copy(
        update={
            "scheduler": cfg.scheduler.model_copy(update={"enabled": False}),
            "executor": cfg.executor.model_copy(update=executor),
        }
    )
