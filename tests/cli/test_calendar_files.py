"""``schedkit calendar import`` / ``notice`` / ``export``: lines the readers cannot read
named with the other bad lines, and CSV written for spreadsheets."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, one_error_line

DEEP = "[" * 5000 + "]" * 5000


def test_a_line_too_deep_or_too_long_is_named_with_the_other_bad_lines(stored: Cli) -> None:
    """An audit: a JSON line nested 5,000 levels deep, a number of 5,000 digits or a CSV
    field over 131,072 characters ended the command with "unexpected RecursionError /
    ValueError / Error" (exit 1), not the report of each bad line (exit 2)."""
    cli = stored
    assert cli("calendar", "set", "evilcal", "--base", "none").exit_code == 0
    lines = [
        '{"date": "2031-01-01", "open": false, "kind": "holiday", "note": "元旦"}',
        "not json",
        '{"date": "2031-01-02", "open": false, "note": ' + DEEP + "}",
        '{"date": "2031-01-03", "open": false, "note": ' + "1" * 5000 + "}",
    ]
    (cli.cwd / "deep.jsonl").write_text("\n".join(lines), encoding="utf-8")
    for command in (
        ["calendar", "import", "evilcal", "deep.jsonl"],
        ["calendar", "notice", "2031", "deep.jsonl"],
    ):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        message = " ".join(one_error_line(result.stderr).split())
        assert "3 bad lines: line 2: not JSON (Expecting value, column 1); line 3: nested " in (
            message
        )
        assert "line 4: a number of more than 4,300 digits" in message
    (cli.cwd / "long.csv").write_text(
        f"2031-01-06,closed,,{'x' * 140_000}\n2031-01-07,maybe\n", encoding="utf-8"
    )
    result = cli("calendar", "import", "evilcal", "long.csv")
    assert result.exit_code == 2, result.output
    message = " ".join(one_error_line(result.stderr).split())
    assert "2 bad lines: line 1: a field longer than 131,072 characters" in message
    assert "line 2: status: status must be 'open' or 'closed'" in message
    shown = json.loads(cli("calendar", "list", "--json").stdout)
    assert next(c for c in shown if c["name"] == "evilcal")["overrides"] == 0


def test_an_exported_note_is_text_to_a_spreadsheet_and_imports_back(stored: Cli) -> None:
    cli = stored
    assert cli("calendar", "set", "notes", "--base", "none").exit_code == 0
    notes = ["=1+1", "-1 day shift", "+cmd|' /C calc'!A0", "'@quoted"]
    for n, note in enumerate(notes, start=1):
        added = cli(
            "calendar", "override", "add", "notes", f"2031-03-0{n}", "--closed", "--note", note
        )
        assert added.exit_code == 0, added.output
    exported = cli("calendar", "export", "notes", "--format", "csv", "-o", "notes.csv")
    assert exported.exit_code == 0, exported.output
    written = (cli.cwd / "notes.csv").read_text(encoding="utf-8").splitlines()
    assert [line.split(",", 3)[3] for line in written[1:]] == [
        "'=1+1",
        "'-1 day shift",
        "'+cmd|' /C calc'!A0",
        "''@quoted",
    ]
    assert cli("calendar", "set", "copy", "--base", "none").exit_code == 0
    assert cli("calendar", "import", "copy", "notes.csv").exit_code == 0
    shown = json.loads(cli("calendar", "show", "copy", "2031", "--json").stdout)
    assert [d["note"] for d in shown["days"] if d.get("note")] == notes
