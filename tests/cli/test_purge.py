"""``schedkit purge``, after an on-call SRE audit: ``--older-than 6m`` (six minutes; the
operator meant months) deleted almost all history without a word of what it would
delete, and the audit log was never purged at all."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import subprocess
import sys

from schedkit.models import AuditEvent
from schedkit.store import create_store
from tests.cli.conftest import Cli, subprocess_env

UTC_STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def _audit(cli: Cli, action: str) -> list[AuditEvent]:
    async def read() -> list[AuditEvent]:
        async with create_store(f"sqlite:///{cli.db}") as store:
            return await store.list_audit(action=action)

    return asyncio.run(read())


def _two_finished_runs(cli: Cli) -> None:
    assert cli("run", "hello", "--wait").exit_code == 0
    assert cli("run", "boom", "--wait").exit_code == 1
    assert cli("run", "hello").exit_code == 0  # pending: never purged


def test_purge_says_its_cut_off_and_a_dry_run_deletes_nothing(cli: Cli) -> None:
    _two_finished_runs(cli)
    said = cli("purge", "--older-than", "6m", "--dry-run")
    assert said.exit_code == 0, said.output
    first = said.stdout.splitlines()[0]
    assert re.fullmatch(
        rf"would delete 0 finished run\(s\) older than 6 minutes: finished before {UTC_STAMP}",
        first,
    ), first
    assert "dry run: nothing deleted" in said.stdout

    dry = json.loads(cli("purge", "--older-than", "0s", "--dry-run", "--json").stdout)
    assert (dry["deleted"], dry["would_delete"], dry["dry_run"]) == (0, 2, True)
    assert dry["older_than"] == "0 seconds" and dry["older_than_seconds"] == 0
    assert json.loads(cli("--json", "history").stdout)["total"] == 3
    assert _audit(cli, "runs.purge") == []  # a dry run changes nothing, audit included

    done = json.loads(cli("purge", "--older-than", "0s", "--json").stdout)
    assert (done["deleted"], done["dry_run"]) == (2, False)
    assert json.loads(cli("--json", "history").stdout)["total"] == 1
    (event,) = _audit(cli, "runs.purge")
    # Was "2 run(s) older than 0:00:00" (a timedelta: "90 days, 0:00:00").
    assert event.detail is not None
    assert re.fullmatch(
        rf"2 run\(s\) and 0 workflow run\(s\) older than 0 seconds "
        rf"\(finished before {UTC_STAMP}\)",
        event.detail,
    )


def test_purge_deletes_the_audit_log_older_than_asked_and_audits_that(cli: Cli) -> None:
    _two_finished_runs(cli)
    before = _audit(cli, "run.create")
    assert len(before) == 3
    dry = json.loads(
        cli(
            "purge", "--older-than", "90d", "--audit-older-than", "0s", "--dry-run", "--json"
        ).stdout
    )
    assert dry["audit_would_delete"] >= 3 and dry["audit_older_than"] == "0 seconds"
    assert len(_audit(cli, "run.create")) == 3

    said = cli("purge", "--older-than", "90d", "--audit-older-than", "400d")
    assert said.exit_code == 0, said.output
    assert re.search(
        rf"deleted 0 audit event\(s\) older than 400 days: recorded before {UTC_STAMP}",
        said.stdout,
    ), said.stdout
    assert len(_audit(cli, "run.create")) == 3

    done = json.loads(
        cli("purge", "--older-than", "90d", "--audit-older-than", "0s", "--json").stdout
    )
    assert done["audit_deleted"] >= 3 and done["deleted"] == 0
    assert _audit(cli, "run.create") == []
    # The purge of the audit log is recorded after it: that record survives the cut.
    (purged,) = _audit(cli, "audit.purge")
    assert purged.target == "audit" and purged.actor.startswith("cli:")
    assert purged.detail is not None
    assert re.fullmatch(
        rf"{done['audit_deleted']} audit event\(s\) older than 0 seconds \(before {UTC_STAMP}\)",
        purged.detail,
    )


def test_purge_refuses_an_audit_age_that_is_no_duration(cli: Cli) -> None:
    result = cli("purge", "--older-than", "90d", "--audit-older-than", "a year")
    assert result.exit_code == 2
    assert "--audit-older-than: 'a year' is not a duration" in result.stderr


def _at_a_terminal(cli: Cli, answer: str, *args: str) -> tuple[int, str, str]:
    """``schedkit purge ARGS`` with a terminal as stdin and stderr, answering ``answer``:
    its exit code, stdout, and what the terminal showed."""
    import pty

    leader, follower = pty.openpty()
    try:
        os.write(leader, answer.encode() + b"\n")  # typed ahead: read once it asks
        done = subprocess.run(
            [sys.executable, "-m", "schedkit", "purge", *args],
            cwd=cli.cwd,
            env=subprocess_env(),
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            check=False,
        )
        shown = b""
        while select.select([leader], [], [], 0.2)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: nothing more
                break
            if not chunk:
                break
            shown += chunk
        text = re.sub(r"\x1b\[[0-9;]*m", "", shown.decode())  # the terminal's colours
        return done.returncode, done.stdout, text.replace("\r\n", "\n")
    finally:
        os.close(follower)
        os.close(leader)


def test_purge_at_a_terminal_asks_first_showing_the_count(cli: Cli) -> None:
    _two_finished_runs(cli)
    code, out, shown = _at_a_terminal(cli, "n", "--older-than", "0s")
    assert code == 1, shown
    assert re.search(
        rf"delete 2 finished run\(s\) older than 0 seconds: finished before {UTC_STAMP}\? "
        r"\[y/N\]: error: purge not confirmed: nothing deleted",
        shown,
    ), shown
    assert out == ""
    assert json.loads(cli("--json", "history").stdout)["total"] == 3

    code, out, shown = _at_a_terminal(cli, "y", "--older-than", "0s", "--json")
    assert code == 0, shown
    assert "[y/N]" in shown
    assert json.loads(out)["deleted"] == 2  # stdout holds the JSON alone
    _two_finished_runs(cli)
    code, out, shown = _at_a_terminal(cli, "n", "--older-than", "0s", "--yes")
    assert code == 0, shown
    assert "[y/N]" not in shown and "deleted 2 finished run(s)" in out
    # Nothing to delete: nothing to ask (a re-audit: Enter then exited 1).
    code, out, shown = _at_a_terminal(cli, "", "--older-than", "400d")
    assert code == 0, shown
    assert "[y/N]" not in shown and "deleted 0 finished run(s)" in out


def test_purge_with_stderr_piped_asks_nothing(cli: Cli) -> None:
    """A wrapper that pipes stderr (and a test running the command) sees no question: it
    would wait for an answer nobody was shown."""
    import pty

    _two_finished_runs(cli)
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "schedkit", "purge", "--older-than", "0s"],
            cwd=cli.cwd,
            env=subprocess_env(),
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0, done.stderr
    assert "deleted 2 finished run(s)" in done.stdout and "[y/N]" not in done.stderr
