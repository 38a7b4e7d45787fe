"""Log records emitted inside a run, from any logger, become that run's log lines.

A record factory looks up the run of the current context (a contextvar set by the
executor, copied into the thread pool), adds ``run_id``, ``task_name`` and ``attempt`` to
every record made inside a run (for structured logging) and buffers it as a
:class:`LogLine` in the buffer of the node executing that run; the executor flushes
buffers in batches. It also stamps every record a node makes with that node's id
(:data:`NODE_ATTR`): in a cluster an operator must tell which node logged a line.

Not a handler on the root logger: one there counts as "a handler configured", so Python
stops printing warnings of an application that configures no logging (its last-resort
output) and ``logging.basicConfig`` becomes a no-op. The factory also sees records of
loggers that do not propagate to the root.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from schedkit.models import LogLine
from schedkit.overflow import Overflow
from schedkit.redaction import mask_values, scrub_record
from schedkit.task import TaskContext, current_context

#: Longest message stored per line; longer ones are cut with a marker.
MAX_MESSAGE_CHARS = 10_000
#: Most lines waiting to be written (a store outage must not exhaust memory); past it,
#: new lines are dropped and counted, and the run's log says where and how many.
MAX_BUFFERED_LINES = 50_000
#: The logger name of the line that stands for dropped lines in a run's log.
DROPPED_LOGGER = "schedkit.logcapture"


def pass_info(name: str) -> None:
    """Let the logger ``name`` pass INFO records if it has no level of its own and its
    ancestors' is higher (Python's default: the root logger's WARNING, when the
    application configures no logging, as an embedding FastAPI app under uvicorn does).
    A task's ``logger.info(...)`` would otherwise never be made, and never reach its
    run's log. A level the application set, here or lower, is left alone."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET and logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


def record_text(record: logging.LogRecord) -> str:
    """A record's message with its exception's traceback, as a run log line holds it."""
    try:
        message = record.getMessage()
    except Exception as exc:  # a bad format string must not break the task
        message = f"{record.msg!r} (unformattable: {exc})"
    if record.exc_info and record.exc_info[0] is not None:
        # Its text as masked (schedkit.redaction.scrub_record), when it was.
        message += "\n" + (record.exc_text or logging.Formatter().formatException(record.exc_info))
    return message


class RunLogBuffer:
    """Thread-safe, bounded buffer of log lines waiting to be written to the store."""

    def __init__(self, max_lines: int = MAX_BUFFERED_LINES, node_id: str | None = None) -> None:
        #: The node whose runs' lines this buffers: their records carry its id.
        self.node_id = node_id
        self._lock = threading.Lock()
        self._lines: list[LogLine] = []
        self._seq: dict[str, itertools.count[int]] = {}
        #: Per run, (attempt, lines dropped) since its last line kept.
        self._gaps: dict[str, tuple[int, int]] = {}
        self.overflow = Overflow("run_log_lines", max_lines)

    def start_run(self, run_id: str, first_seq: int = 0) -> None:
        with self._lock:
            self._seq[run_id] = itertools.count(first_seq)

    def end_run(self, run_id: str) -> None:
        with self._lock:
            counter = self._seq.pop(run_id, None)
            gap = self._gaps.pop(run_id, None)
            if gap is not None and counter is not None:
                # Kept past the bound (one line per run): a log that just stops reads as
                # a run that stopped logging.
                self._lines.append(self._marker(run_id, *gap, next(counter)))

    def _marker(self, run_id: str, attempt: int, dropped: int, seq: int) -> LogLine:
        """The line a run's log shows where ``dropped`` of its lines were not kept."""
        return LogLine(
            run_id=run_id,
            seq=seq,
            attempt=attempt,
            ts=datetime.now(UTC),
            level="WARNING",
            logger=DROPPED_LOGGER,
            message=(
                f"{dropped:,} log line{'s' if dropped != 1 else ''} dropped here: this "
                f"node's buffer of lines not yet written to the store was full "
                f"({self.overflow.bound:,} lines)"
            ),
        )

    def add(self, ctx: TaskContext, record: logging.LogRecord) -> bool:
        """Buffer ``record`` as a line of the run of ``ctx`` if this buffer's node runs
        it; whether it does (kept or dropped past the bound)."""
        if ctx.run_id not in self._seq:  # another node's run (a lock-free peek)
            return False
        message = record_text(record)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + " …[truncated]"
        with self._lock:
            counter = self._seq.get(ctx.run_id)
            if counter is None:
                return False
            if len(self._lines) >= self.overflow.bound:
                next(counter)  # the gap in seq shows where lines were dropped
                _, dropped = self._gaps.get(ctx.run_id, (ctx.attempt, 0))
                self._gaps[ctx.run_id] = (ctx.attempt, dropped + 1)
                full = True
            else:
                full = False
                if (gap := self._gaps.pop(ctx.run_id, None)) is not None:
                    self._lines.append(self._marker(ctx.run_id, *gap, next(counter)))
                self._lines.append(
                    LogLine(
                        run_id=ctx.run_id,
                        seq=next(counter),
                        attempt=ctx.attempt,
                        ts=datetime.fromtimestamp(record.created, UTC),
                        level=record.levelname,
                        logger=record.name,
                        message=message,
                    )
                )
        if full:
            self.overflow.drop()
        return True

    def put_back(self, lines: list[LogLine]) -> None:
        """Return lines that could not be written, ahead of newer ones (the newest are
        dropped past the bound)."""
        with self._lock:
            self._lines[:0] = lines
            over = len(self._lines) - self.overflow.bound
            gone: list[LogLine] = []
            if over > 0:
                tail = self._lines[-over:]
                del self._lines[-over:]
                gone = [line for line in tail if line.logger != DROPPED_LOGGER]
                # Markers stay; per run, a new one in place of its last line dropped
                # (that seq is free).
                last = {line.run_id: line for line in gone}
                counts = collections.Counter(line.run_id for line in gone)
                self._lines += [line for line in tail if line.logger == DROPPED_LOGGER]
                self._lines += [
                    self._marker(run_id, line.attempt, counts[run_id], line.seq)
                    for run_id, line in last.items()
                ]
        if gone:
            self.overflow.drop(len(gone))

    @property
    def pending(self) -> bool:
        """Whether lines wait to be written (a lock-free peek: a line added meanwhile
        goes with the next flush)."""
        return bool(self._lines)

    def take(self) -> list[LogLine]:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            self.overflow.drained()
        return lines


_factory_lock = threading.Lock()
_factory_installed = False
#: The buffers of the nodes of this process that capture their runs' log lines.
_buffers: tuple[RunLogBuffer, ...] = ()


def capture(buffer: RunLogBuffer) -> Callable[[], None]:
    """Buffer the records made inside runs that ``buffer`` knows (see
    :meth:`RunLogBuffer.start_run`) until the returned function is called. Install the
    credential redaction first (:func:`schedkit.redaction.install_log_redaction`): the
    factory installed last sees records last, so lines are kept as redacted."""
    global _buffers
    _install_record_factory()
    with _factory_lock:
        _buffers = (*_buffers, buffer)

    def release() -> None:
        global _buffers
        with _factory_lock:
            _buffers = tuple(b for b in _buffers if b is not buffer)

    return release


#: A record attribute: schedkit's own line about a run (its outcome), made outside it;
#: a node's log shows these, where lines made inside runs go to their run's log only.
ABOUT_RUN = "schedkit_about_run"


def run_fields(ctx: TaskContext) -> dict[str, Any]:
    """The attributes a record made inside the run of ``ctx`` carries (structured logs);
    ``extra=`` of a record about the run made outside its context."""
    return {"run_id": ctx.run_id, "task_name": ctx.task_name, "attempt": ctx.attempt}


def keep(ctx: TaskContext, record: logging.LogRecord) -> None:
    """Buffer ``record`` as a line of the run of ``ctx`` (made elsewhere, e.g. in a task's
    child process, it did not pass the factory here), and stamp it with the id of the
    node executing that run (else of the node whose work made it, see :func:`node_here`).
    The values of the run's secret parameters are masked first, for its log and for
    every handler alike, whatever logger made the record."""
    if ctx.secret_values:
        values = ctx.secret_values
        scrub_record(record, lambda text: mask_values(text, values))
    node = None
    for buffer in _buffers:
        if buffer.add(ctx, record):
            node = buffer.node_id
    node = node or node_here()
    if node is not None:
        setattr(record, NODE_ATTR, node)


#: A record attribute: the id of the node that made the record (absent when no node, or
#: none of several in this process, can be told). ``node_id`` in JSON logs.
NODE_ATTR = "schedkit_node"
#: The node whose work the current task or thread does: set while a node starts and
#: stops, so the tasks it creates then (its loops, its runs) carry it.
_node: ContextVar[str | None] = ContextVar("schedkit_node", default=None)
#: The nodes running in this process, in start order.
_nodes: tuple[str, ...] = ()


@contextlib.contextmanager
def acting_as(node_id: str) -> Iterator[None]:
    """Records made in this context, and in the tasks and threads started from it, are
    stamped with ``node_id``."""
    token = _node.set(node_id)
    try:
        yield
    finally:
        _node.reset(token)


def attach_node(node_id: str) -> Callable[[], None]:
    """Count ``node_id`` among this process's running nodes until the returned function
    is called: while it is the only one, records made outside every node's context (a
    web server's, a thread's that did not copy the context) are stamped with it too.
    Install the credential redaction first, as for :func:`capture`."""
    global _nodes
    _install_record_factory()
    with _factory_lock:
        _nodes = (*_nodes, node_id)

    def release() -> None:
        global _nodes
        with _factory_lock:
            # One entry: the same id may be attached twice (a node started again).
            at = _nodes.index(node_id) if node_id in _nodes else -1
            if at >= 0:
                _nodes = _nodes[:at] + _nodes[at + 1 :]

    return release


def node_here() -> str | None:
    """The node whose work the caller does: its context's, else this process's only
    node (with several and no context, none: a wrong id is worse than none)."""
    node = _node.get()
    if node is None:
        nodes = _nodes
        if len(nodes) == 1:
            node = nodes[0]
    return node


def _install_record_factory() -> None:
    """Stamp every LogRecord with its node, and those made inside a run with the run,
    and buffer these (installed once)."""
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            ctx = current_context()
            if ctx is not None:
                record.__dict__.update(run_fields(ctx))
                keep(ctx, record)
            elif (node := node_here()) is not None:
                setattr(record, NODE_ATTR, node)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
