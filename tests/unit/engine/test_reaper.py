"""The reaper's rule for silent runs (engine/reaper.py: vouched), as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schedkit.engine.reaper import NODE_RUNS, doomed, lost_verdict, vouched
from schedkit.models import Node, Run, RunStatus, TriggerSource

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
LOST_AFTER = 20.0


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def silent_run(last_heartbeat_ago: float = 25) -> Run:
    return Run(
        id="r1",
        task_name="t",
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=_ago(60),
        status=RunStatus.RUNNING,
        node_id="n1",
        started_at=_ago(60),
        heartbeat_at=_ago(last_heartbeat_ago),
    )


def node(beat_ago: float, runs: list[str] | None) -> Node:
    return Node(
        id="n1",
        hostname="h",
        pid=1,
        started_at=_ago(600),
        heartbeat_at=_ago(beat_ago),
        roles=["executor"],
        version="0",
        info={} if runs is None else {NODE_RUNS: runs},
    )


def test_a_live_node_listing_the_run_vouches_for_it() -> None:
    assert vouched(silent_run(), node(1, ["r0", "r1"]), LOST_AFTER, NOW)


def test_a_dead_or_unknown_node_vouches_for_nothing() -> None:
    assert not vouched(silent_run(), node(LOST_AFTER + 1, ["r1"]), LOST_AFTER, NOW)
    assert not vouched(silent_run(), None, LOST_AFTER, NOW)


def test_an_orphan_on_a_live_node_is_not_spared() -> None:
    """The node's beat came lost_after after the run's last sign of life, without it."""
    assert not vouched(silent_run(last_heartbeat_ago=25), node(1, ["r0"]), LOST_AFTER, NOW)


def test_a_beat_too_close_to_the_run_s_last_sign_cannot_tell() -> None:
    """A beat taken before the claim's answer reached the node need not list the run."""
    run = silent_run(last_heartbeat_ago=21)
    assert vouched(run, node(2, []), LOST_AFTER, NOW)  # beat 19 s after: too soon to tell
    assert not vouched(run, node(0.5, []), LOST_AFTER, NOW)  # 20.5 s after: an orphan


def test_a_node_row_without_a_run_list_vouches_only_by_timing() -> None:
    """Rows of nodes of an earlier version carry no list."""
    assert not vouched(silent_run(last_heartbeat_ago=25), node(1, None), LOST_AFTER, NOW)
    assert vouched(silent_run(last_heartbeat_ago=21), node(2, None), LOST_AFTER, NOW)


def test_a_lost_runs_reason_says_how_long_it_was_silent_and_since_when() -> None:
    """An alert audit: "no heartbeat from its node since before 2026-12-06T21:13:50.98…
    +00:00" gave the verdict's cut-off (not the run's last heartbeat) as raw ISO."""
    verdict = lost_verdict(silent_run(35), None, NOW - timedelta(seconds=LOST_AFTER), NOW)
    assert verdict.reason == (
        "no heartbeat from its node for 35 s (over lost_after 20 s; "
        "last at 2026-12-02 07:59:25 UTC)"
    )
    assert verdict.attempt_error["error"]["message"] == verdict.reason


def test_a_lost_runs_reason_gives_its_time_in_the_configured_zone() -> None:
    """An audit: a zh alert with times "(Asia/Shanghai)" read "last at … 03:38:27 UTC"
    in its error line (a UTC time among local ones)."""
    verdict = lost_verdict(
        silent_run(48), None, NOW - timedelta(seconds=LOST_AFTER), NOW, ZoneInfo("Asia/Shanghai")
    )
    assert verdict.reason == (
        "no heartbeat from its node for 48 s (over lost_after 20 s; "
        "last at 2026-12-02 15:59:12 +08:00)"
    )
    kolkata = lost_verdict(silent_run(48), None, NOW, NOW, ZoneInfo("Asia/Kolkata"))
    assert kolkata.reason.endswith("last at 2026-12-02 13:29:12 +05:30)")


def test_doomed_is_the_reapers_verdict_ahead_of_its_pass() -> None:
    """What the too_long check skips: a run the reaper judges lost at its next pass."""
    assert doomed(silent_run(45), None, LOST_AFTER, NOW)  # node gone (killed, restarted)
    assert doomed(silent_run(45), node(45, ["r1"]), LOST_AFTER, NOW)  # node silent too
    assert not doomed(silent_run(5), None, LOST_AFTER, NOW)  # heartbeat recent
    assert not doomed(silent_run(25), node(1, ["r1"]), LOST_AFTER, NOW)  # vouched for
