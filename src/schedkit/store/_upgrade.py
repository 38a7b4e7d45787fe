"""The check before an upgrade that code of older releases cannot work with: no node may
be alive on the store.

Why a node alive at that moment runs older code: code of the new version (or newer)
would have upgraded the store when it started. Older code refuses to *start* on the
upgraded store, but one already running never looks again: it went on holding the
scheduler lease and finishing runs on the upgraded schema for minutes (seen in an
upgrade audit: on PostgreSQL the runs it finished were missing from the rollups for
good). So such an upgrade waits until those nodes are gone.

"Gone" is judged by heartbeats, so a node that was only paused (a VM paused, SIGSTOP, a
long stall, the store out of reach) for more than ``lost_after`` looks gone, and resumes
with its old code on the upgraded store. The upgrade therefore records the node rows it
saw and their last heartbeats (:data:`UPGRADE_KEY` in the key/value state, written in the
upgrade itself): a recorded node whose heartbeat moved on has outlived the upgrade
(:func:`outlived`), heartbeats compared as stored, with no clock involved. A node row of
the new code is written only after its store opened, so neither the node that upgraded
nor later ones are in the record. A node whose row had expired before the upgrade is
not in it either; it is judged by the upgrade's time instead (the upgrader's clock
against the node's start, with a margin for skew: :data:`UNRECORDED_MARGIN`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schedkit.errors import StoreError, StoreOutdatedError
from schedkit.models import JSON, Node, StateEntry

#: The default of ``scheduler.lost_after``, for openers that do not say.
DEFAULT_LOST_AFTER = 20.0
#: Key/value state key of the last upgrade that older code cannot work with.
UPGRADE_KEY = "store.upgrade"
#: Seconds before an upgrade a node not in its record must have started to count as
#: older code (more than any clock skew between nodes; less than ``node_expiry``).
UNRECORDED_MARGIN = 60.0


@dataclass(frozen=True, kw_only=True, slots=True)
class UpgradeCheck:
    """How an opener checks for live nodes before such an upgrade."""

    #: Seconds a node's row counts as alive after its last heartbeat
    #: (``scheduler.lost_after``: a node killed without stopping leaves its row behind).
    lost_after: float = DEFAULT_LOST_AFTER
    #: Upgrade whatever the node rows say (``schedkit db upgrade --ignore-live-nodes``):
    #: for rows of nodes known to be gone, e.g. a crashed one within ``lost_after``.
    ignore_live_nodes: bool = False


DEFAULT_CHECK = UpgradeCheck()


def upgrade_check(upgrade: UpgradeCheck | bool) -> UpgradeCheck | None:
    """``Store.open``'s ``upgrade`` as the check to upgrade with; None: no upgrade."""
    if upgrade is False:
        return None
    return DEFAULT_CHECK if upgrade is True else upgrade


def outdated(*, store: str, kind: str, found: int, target: int, needs: int) -> StoreOutdatedError:
    """The error of an opener that must not upgrade (a read) on a store at ``found``,
    older than this code's ``target``; code older than ``needs`` cannot work on the
    upgraded store (``kind``: "schema" or "index")."""
    if needs > found:
        after = (
            f"code older than {kind} version {needs} then refuses to start on it: no "
            f"rolling back to a release of {kind} version {found}"
        )
    else:
        after = f"code of {kind} version {found} keeps working on it"
    return StoreOutdatedError(
        f"store {store} is at {kind} version {found}; this release uses {target}: "
        f"`schedkit db upgrade` upgrades it ({after}); reading a store never upgrades it"
    )


def live_nodes(nodes: Iterable[Node], now: datetime, lost_after: float) -> list[Node]:
    """The nodes heartbeated within ``lost_after`` seconds of ``now``: the rule the node
    list (``alive``) and the reaper go by."""
    return sorted((n for n in nodes if n.alive(now, lost_after)), key=lambda n: n.id)


def refuse_upgrade(
    *,
    store: str,
    kind: str,
    found: int,
    target: int,
    needs: int,
    live: list[Node],
    lost_after: float,
) -> StoreError:
    """The error of an upgrade refused because of ``live`` nodes; ``kind`` is "schema"
    (SQL) or "index" (MongoDB)."""
    window = timedelta(seconds=lost_after)
    # No version in the list: releases may share one ("0.1.0" on both sides read as the
    # same code to the re-audit). Times in UTC, said so.
    listed = "; ".join(
        f"{n.id} (host {n.hostname}, pid {n.pid}, last heartbeat {_utc(n.heartbeat_at)})"
        for n in live
    )
    until = max(n.heartbeat_at for n in live) + window
    return StoreError(
        f"store {store}: refusing to upgrade from {kind} version {found} to {target}: code "
        f"older than {kind} version {needs} cannot work on it, and {len(live)} node(s) "
        f"of an older release are alive on the store: {listed}. Stop them first (a node "
        f"that stops removes its row; one killed without stopping counts as alive until "
        f"its last heartbeat + {lost_after:g} s (scheduler.lost_after), here "
        f"{_utc(until)}), then try again; if those nodes are certainly gone, "
        f"`schedkit db upgrade --ignore-live-nodes` upgrades anyway"
    )


def upgrade_record(*, kind: str, found: int, target: int, nodes: Iterable[Node]) -> JSON:
    """The value of :data:`UPGRADE_KEY` for an upgrade from ``found`` to ``target`` that
    code of ``found`` cannot work with, ``nodes`` the rows on the store at the time."""
    return {
        "kind": kind,
        "from": found,
        "to": target,
        "at": datetime.now(UTC).isoformat(),
        "nodes": {n.id: n.heartbeat_at.astimezone(UTC).isoformat() for n in nodes},
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class Outlived:
    """A node of older code that went on heartbeating after an upgrade it cannot work
    with: it started before the upgrade and was taken for gone (paused, or ignored)."""

    node: Node
    kind: str
    found: int
    target: int

    def problem(self) -> str:
        n = self.node
        return (
            f"node {n.id} (host {n.hostname}, pid {n.pid}, started {_utc(n.started_at)}) "
            f"runs code older than the store's upgrade from {self.kind} version "
            f"{self.found} to {self.target} and went on working after it (last heartbeat "
            f"{_utc(n.heartbeat_at)}): it was paused (or let through with "
            "--ignore-live-nodes), not stopped. Stop that node (and restart it with this "
            "release), then `schedkit db rebuild-rollups`: the runs it finished are "
            "missing from the run statistics. A node stopped since is named until its "
            "row ages out (scheduler.node_expiry)"
        )


def outlived(nodes: Iterable[Node], entry: StateEntry | None) -> list[Outlived]:
    """The ``nodes`` that outlived the upgrade ``entry`` (:data:`UPGRADE_KEY`) records."""
    value = entry.value if entry is not None else {}
    seen = value.get("nodes")
    if not isinstance(seen, dict):
        return []
    at = value.get("at")
    # A node silent past node_expiry before the upgrade had its row deleted, so it is not
    # in the record: started well before the upgrade (beyond any clock skew between the
    # nodes) and beating since, it is as old (seen in a re-audit).
    started_before = (
        datetime.fromisoformat(at) - timedelta(seconds=UNRECORDED_MARGIN)
        if isinstance(at, str)
        else None
    )
    found = []
    for node in sorted(nodes, key=lambda n: n.id):
        before = seen.get(node.id)
        if isinstance(before, str):
            old = node.heartbeat_at > datetime.fromisoformat(before)
        else:
            old = (
                started_before is not None
                and node.started_at < started_before
                and node.heartbeat_at > started_before
            )
        if old:
            found.append(
                Outlived(
                    node=node,
                    kind=str(value.get("kind", "schema")),
                    found=int(str(value.get("from", 0))),
                    target=int(str(value.get("to", 0))),
                )
            )
    return found


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
