"""A node's log is safe to read on a terminal: what comes from outside (a run's error
message, a logger named after a task, a traceback's exception messages) has its control
characters shown as escapes, as the CLI's tables show them. An audit: ``schedkit run
evil_fail -p msg=...`` against ``schedkit serve`` put raw ESC sequences, BEL, U+202E and
a forged second line ("FAKE 2026-01-01 INFO injected line") into the service's stderr.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import signal
import time

from schedkit.cli.state import _TextFormatter
from schedkit.models import LogLine, Run, RunStatus
from schedkit.store import create_store
from schedkit.tracing import JsonLogFormatter
from tests.cli.conftest import SAMPLE_PACKAGE, Cli, write_config
from tests.cli.test_subprocess import reap, start

EVIL = "<b>\x1b[31mRED\x1b[0m\nFAKE 2026-01-01 INFO injected line\u202eevil\x07bell\x1b]0;title\x07"
SHOWN = (
    "<b>\\x1b[31mRED\\x1b[0m\\nFAKE 2026-01-01 INFO injected line\\u202eevil\\x07bell"
    "\\x1b]0;title\\x07"
)
RAW = ("\x1b", "\x07", "\u202e")


def test_a_service_s_text_log_shows_a_run_error_s_controls_as_escapes(cli: Cli) -> None:
    write_config(cli.config, cli.db, (SAMPLE_PACKAGE, "tests.cli.evil_tasks"))
    proc = start(cli, "serve", "--port", "0", "--no-access-log")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert "serving on" in proc.stdout.readline()
        created = cli("--json", "run", "evil_fail", "-p", f"msg={EVIL}")
        assert created.exit_code == 0, created.output
        run_id = json.loads(created.stdout)["id"]
        seen = ""
        deadline = time.monotonic() + 30
        while f"run {run_id} of evil_fail failed" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    finally:
        reap(proc)
    err = seen + rest
    for char in RAW:
        assert char not in err, (char, err)
    assert not any(line.startswith("FAKE") for line in err.splitlines()), err
    line = next(x for x in err.splitlines() if f"run {run_id} of evil_fail failed" in x)
    assert line.endswith(f"(attempt 1 of 1): RuntimeError: {SHOWN}"), line
    # The run's own log line (made inside the run) stays in the run's stored log, as
    # written: data, shown escaped by whatever reads it.
    assert "about to fail" not in err
    run, logs = asyncio.run(_stored(cli, run_id))
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error["message"] == EVIL
    assert any(log.message == f"about to fail: {EVIL}" for log in logs)


async def _stored(cli: Cli, run_id: str) -> tuple[Run, list[LogLine]]:
    async with create_store(f"sqlite:///{cli.db}") as store:
        run = await store.get_run(run_id)
        assert run is not None
        return run, await store.get_logs(run_id)


def _format(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.handle(record)
    return stream.getvalue()


def _record(name: str = "schedkit.task.evil\u202e", exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            try:
                raise RuntimeError(EVIL)
            except RuntimeError as inner:
                raise ValueError("outer\nFAKE 2026-01-01 INFO second") from inner
        except ValueError as outer:
            exc_info = (type(outer), outer, outer.__traceback__)
    return logging.LogRecord(name, logging.ERROR, __file__, 1, "failed: %s", (EVIL,), exc_info)


def test_the_text_formatter_escapes_message_arguments_and_logger_name() -> None:
    text = _format(_TextFormatter(), _record())
    assert text.count("\n") == 1, text  # one record, one line
    assert text.rstrip("\n").endswith(f"schedkit.task.evil\\u202e: failed: {SHOWN}"), text
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR ", text), text


def test_a_traceback_keeps_its_lines_and_escapes_its_exception_messages() -> None:
    text = _format(_TextFormatter(), _record(exc=True))
    lines = text.rstrip("\n").splitlines()
    assert lines[1] == "Traceback (most recent call last):"
    assert f"RuntimeError: {SHOWN}" in lines
    assert "ValueError: outer\\nFAKE 2026-01-01 INFO second" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
    assert any(line.startswith('  File "') for line in lines)
    assert not any(line.startswith("FAKE") for line in lines), lines
    for char in RAW:
        assert char not in text
    # Other handlers' formatters still get the traceback as it is (no shared cache).
    plain = logging.Formatter().format(_record(exc=True))
    assert "\x1b[31mRED" in plain


def test_the_json_log_leaves_no_bidi_or_c1_control_raw() -> None:
    text = _format(JsonLogFormatter(), _record(exc=True))
    for char in (*RAW, "\x9b"):
        assert char not in text
    data = json.loads(text)
    assert data["message"] == f"failed: {EVIL}" and data["logger"] == "schedkit.task.evil\u202e"
