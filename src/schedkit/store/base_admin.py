"""The store contract's records beside schedules and runs: nodes, audit events, API
tokens and the key/value state. :class:`schedkit.store.base.Store` inherits them, and the
rules of that module's docstring hold here too (this file only keeps each under 600 lines).
"""

from __future__ import annotations

import abc
from datetime import datetime

from schedkit.models import JSON, ApiToken, AuditEvent, Node, StateEntry
from schedkit.store._upgrade import UPGRADE_KEY, Outlived, outlived
from schedkit.store.values import RollupRebuild

#: Key prefix, in the state area, of a drain asked of a node by another one (the node's
#: id follows): the one state entry kept per node, so deleted with the node's record.
DRAIN_KEY = "node.drain:"


class AdminStore(abc.ABC):
    """Nodes, audit events, API tokens, a small versioned key/value area, and the
    repair of the run rollups."""

    # -- nodes ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def upsert_node(self, node: Node) -> None:
        """Insert or replace a node's record (each node writes its own)."""

    @abc.abstractmethod
    async def list_nodes(self) -> list[Node]:
        """All node records, ordered by id."""

    @abc.abstractmethod
    async def delete_node(self, node_id: str) -> bool:
        """Delete a node's record and its drain request (``DRAIN_KEY`` + its id, also
        when the record is already gone); True if the record existed. Node ids are unique
        per process start: a request left behind by a node that died would stay for
        ever, the leader's expiry of silent nodes being the only delete it gets."""

    async def outlived_nodes(self, nodes: list[Node] | None = None) -> list[Outlived]:
        """The nodes (``nodes``: the rows read already) that outlived the last upgrade
        older code cannot work with (:mod:`schedkit.store._upgrade`)."""
        entry = await self.get_state(UPGRADE_KEY)
        if entry is None:
            return []
        return outlived(await self.list_nodes() if nodes is None else nodes, entry)

    # -- audit ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_audit(self, event: AuditEvent) -> None:
        """Append an audit event."""

    @abc.abstractmethod
    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events matching every filter given, newest first (ties: newest id first)."""

    @abc.abstractmethod
    async def count_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before: datetime | None = None,
    ) -> int:
        """How many events match every filter given (``before``: ``at`` earlier than it)."""

    @abc.abstractmethod
    async def purge_audit(self, before: datetime) -> int:
        """Delete the events with ``at`` < ``before`` (in batches, as :meth:`purge_runs`:
        each one short write). Returns how many were deleted."""

    # -- API tokens ------------------------------------------------------------------------

    @abc.abstractmethod
    async def put_token(self, token: ApiToken) -> None:
        """Insert or replace a token record (only its hash is stored)."""

    @abc.abstractmethod
    async def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token with this hash (revoked or not), or None."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[ApiToken]:
        """All tokens, oldest first (ties by id)."""

    @abc.abstractmethod
    async def revoke_token(self, token_id: str) -> bool:
        """Mark a token revoked; True if it exists. A concurrent touch never undoes it."""

    @abc.abstractmethod
    async def touch_token(self, token_id: str, now: datetime) -> None:
        """Record the token's last use; an unknown token is ignored."""

    # -- key/value state ---------------------------------------------------------------------
    # Small versioned JSON documents (alert state, business calendars), compare-and-set.

    @abc.abstractmethod
    async def get_state(self, key: str) -> StateEntry | None:
        """The entry at its latest version, or None."""

    @abc.abstractmethod
    async def list_state(self, prefix: str) -> list[StateEntry]:
        """Every entry whose key starts with ``prefix`` (taken literally: no wildcard),
        at its latest version, ordered by key."""

    @abc.abstractmethod
    async def set_state(self, key: str, value: JSON, expected_version: int) -> bool:
        """Compare-and-set: write ``value`` at version ``expected_version + 1`` only if the
        current version is ``expected_version`` (0: the key must not exist). Atomic across
        processes; exactly one of several racing writers with the same expectation wins.
        Returns whether it was written."""

    @abc.abstractmethod
    async def delete_state(self, key: str) -> None:
        """Delete the entry (every version); an unknown key is ignored."""

    async def missing_privileges(self) -> list[str]:
        """What this database user may not do that a node needs, one sentence each with
        the fix (PostgreSQL: a table privilege missing, with the GRANT; SQLite: the file
        or its directory not writable; MongoDB: a collection refusing writes); empty
        when nothing is missing or the store cannot tell. The store must be open."""
        return []

    async def write_problems(self) -> list[str]:
        """Why a write fails now on a store that answers reads (SQLite: its disk full, its
        file not writable), one sentence each; empty when a write works or the store
        cannot tell. Writes nothing that stays. The store must be open."""
        return []

    # -- run rollups -----------------------------------------------------------------------

    @abc.abstractmethod
    async def rebuild_rollups(self) -> RollupRebuild:
        """Recount the run rollups (what ``run_stats`` without ``exact``,
        ``run_counts_per_hour`` and, on SQL, ``count_runs`` read) from the finished runs
        stored, replacing whatever they held: the repair of rollups that drifted from
        the runs (runs written by code that did not keep them, such as a node of an older
        release finishing runs during an upgrade, or rows damaged by hand).

        Safe while nodes run: every run finished, lost, cancelled, requeued or purged
        during the rebuild is counted exactly once when it returns. SQL: one transaction
        that deletes and refills the rollups, serialised against every write that
        changes them (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``LOCK TABLE ... IN SHARE
        ROW EXCLUSIVE MODE``, which waits for the writers inside a rollup update and
        makes later ones wait; readers keep reading the old rows until it commits).
        MongoDB: every hour with finished runs or a cache is marked, then refreshed by
        the readers' own protocol (``store/mongo/rollups.py``), so a concurrent write's
        mark makes the hour recounted again. Idempotent; it reads every finished run."""
