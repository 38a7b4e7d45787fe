"""The SQL store: SQLite (the embedded default, one file) and PostgreSQL, on SQLAlchemy Core.

One module per concern, each a mixin over :class:`~schedkit.store.sql.base.SQLBase`:

* ``schema``: tables, indexes, column types, migrations;
* ``engine``: connections and transactions (the SQLite writer thread, PostgreSQL's
  retried transactions), errors translated;
* ``queries`` and ``rows``: the hot queries, each defined once and run on both databases;
* ``schedules``, ``runs``, ``transitions``, ``leases``, ``admin``, ``stats``,
  ``workflows``: the
  contract's methods; ``queue``: what a queued run waits for once its blocker ends.

Every method is one unit of work: a function of a ``Connection`` run as one read, or as
one write transaction (``BEGIN IMMEDIATE`` on SQLite). Each module's docstring says how
its atomic steps are atomic.
"""

from __future__ import annotations

from schedkit.store.sql.admin import AdminMixin
from schedkit.store.sql.options import SQLOptions
from schedkit.store.sql.runs import RunsMixin
from schedkit.store.sql.schedules import SchedulesMixin
from schedkit.store.sql.stats import StatsMixin
from schedkit.store.sql.transitions import TransitionsMixin
from schedkit.store.sql.workflows import WorkflowsMixin

__all__ = ["SQLOptions", "SQLStore"]


class SQLStore(SchedulesMixin, RunsMixin, TransitionsMixin, AdminMixin, StatsMixin, WorkflowsMixin):
    """The store on SQLite (``sqlite:///path``) or PostgreSQL (``postgresql://...``).

    Options (see :class:`SQLOptions`): ``table_prefix`` (default ``schedkit_``),
    ``pool_size``, ``busy_timeout`` (SQLite), ``connect_timeout`` (PostgreSQL), ``echo``.
    """
