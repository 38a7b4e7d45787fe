"""What the CLI prints is safe and in one language: user-supplied strings with their
control characters shown as escapes (a stored note cannot drive the terminal), and
``--lang zh`` output in Chinese throughout."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli

#: A note an operator could store: a newline faking an output line, colour, NUL, a C1
#: CSI, a bidi override.
HOSTILE = "line1\nstore sqlite:///elsewhere.db\x1b[31mRED\x00nul\x9b2J\u202eevil"
RAW = ("\x1b", "\x00", "\x9b", "\u202e")


def assert_inert(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_user_strings_are_printed_with_their_controls_escaped(stored: Cli) -> None:
    cli = stored
    paused = cli("pause", "nightly_report", "--note", HOSTILE)
    assert paused.exit_code == 0, paused.output
    assert_inert(paused.stdout)
    # The newline is shown, so the note cannot fake the command's last (store) line.
    assert paused.stdout.splitlines()[-1] == f"store sqlite:///{cli.db}"
    assert "line1\\nstore sqlite:///elsewhere.db\\x1b[31mRED\\x00nul\\x9b2J\\u202eevil" in (
        paused.stdout
    )
    shown = cli("tasks", "show", "nightly_report")
    assert shown.exit_code == 0, shown.output
    assert_inert(shown.stdout)
    assert "\\x1b[31mRED" in "".join(shown.stdout.split())

    ran = cli("run", "hello", "-p", "name=\x1b]0;pwned\x07\u202e", "--wait")
    assert ran.exit_code == 0, ran.output
    assert_inert(ran.output)
    assert "\\x1b]0;pwned\\x07\\u202e" in ran.stdout
    history = cli("history", "hello")
    assert_inert(history.stdout)
    assert "\\x1b]0;pwned" in history.stdout

    unknown = cli("tasks", "show", "no\x1b[2Jsuch")
    assert unknown.exit_code == 2
    assert_inert(unknown.stderr)

    # JSON keeps the value (escaped as JSON does) and is as inert on a terminal.
    data = cli("--json", "tasks", "show", "nightly_report")
    assert_inert(data.stdout)
    (schedule,) = json.loads(data.stdout)["schedules"]
    assert schedule["pause_note"] == HOSTILE
