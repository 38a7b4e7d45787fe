"""Every command and snippet of README.md and docs/ runs as written, from a fresh clone.

* shell (``sh``, ``bash``) and ``console`` blocks run against ``schedkit demo`` running in
  the clone, after the ``export`` line the demo prints: the blocks of one file in one
  bash session, in order (a reader pastes them into one shell). The docs' address
  ``127.0.0.1:8000`` is the demo's free port. Every ``curl`` call is recorded and must be
  answered below 400, or 409 (a documented conflict). A ``console`` command is checked
  for its exit status (an ``error:`` line shown means a failure with that message) and
  the schema version it shows;
* ``python`` blocks of one file run as one script, in order, in the clone; those of a
  page of tests (``snippets.PYTEST_FILES``) as one pytest module, which must pass;
* ``toml`` blocks load as a schedkit configuration; ``json`` blocks parse.

Blocks that cannot run here are listed, with the reason, in ``snippets.NOT_RUN``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from schedkit.alerts.config import AlertsSettings
from schedkit.config import SchedkitConfig
from tests.docs.conftest import Demo, clean_env
from tests.docs.snippets import (
    FILES,
    NOT_RUN,
    PYTEST_FILES,
    REPO,
    RUNNABLE,
    SHELL,
    SHRUNK,
    Block,
    all_blocks,
    console_commands,
    sized,
    to_run,
)

pytestmark = pytest.mark.slow

DOC_ADDRESS = "127.0.0.1:8000"


def test_every_runnable_block_runs_or_is_excused_by_name() -> None:
    runnable = [b for b in all_blocks() if b.lang in RUNNABLE]
    assert len(runnable) > 40
    keys = {b.key for b in all_blocks()}
    stale = [key for key in [*NOT_RUN, *SHRUNK] if key not in keys]
    assert stale == [], f"NOT_RUN or SHRUNK names blocks that no longer exist: {stale}"


# -- toml and json ---------------------------------------------------------------------------


@pytest.mark.parametrize("block", to_run({"toml"}), ids=lambda b: b.name)
def test_toml_blocks_are_valid_configurations(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("SCHEDKIT_"):
            monkeypatch.delenv(name)
    path = tmp_path / "schedkit.toml"
    path.write_text(block.code, encoding="utf-8")
    data = tomllib.loads(block.code)
    if "store_options" in data and "store_url" not in data:
        # The URL goes in the environment beside such a file, as the docs say (it holds
        # the password): without it the options are refused as another store's.
        monkeypatch.setenv("SCHEDKIT_STORE_URL", "mongodb://app:secret@mongo.internal:27017")
    config = SchedkitConfig.load(path)
    AlertsSettings.from_config(config, warn=False)


@pytest.mark.parametrize("block", to_run({"json"}), ids=lambda b: b.name)
def test_json_blocks_parse(block: Block) -> None:
    json.loads(block.code)


# -- python ----------------------------------------------------------------------------------


def _python_files() -> list[Path]:
    return [p for p in FILES if any(b.path == p for b in to_run({"python"}))]


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_python_blocks_run(path: Path, fresh_clone: Path, tmp_path: Path) -> None:
    code = "\n\n".join(b.code for b in to_run({"python"}) if b.path == path)
    python = str(fresh_clone / ".venv" / "bin" / "python")
    if path.relative_to(REPO).as_posix() in PYTEST_FILES:
        script = tmp_path / "test_page.py"
        # Outside the clone: pytest reads none of its configuration, as in a reader's
        # project. Exit status 5 (no test ran) fails too.
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
    else:
        script = tmp_path / "snippets.py"
        command = [python, str(script)]
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        command,
        cwd=fresh_clone,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{path.name}:\n{proc.stdout}\n{proc.stderr}"


# -- shell and console, against the demo -----------------------------------------------------


def _shell_files() -> list[Path]:
    blocks = to_run(SHELL | {"console"})
    return [p for p in FILES if any(b.path == p for b in blocks)]


CURL_WRAPPER = r"""
curl() {  # records each answer's status (checked after the session), output unchanged
    command curl -sS -w '%{stderr}HTTP %{http_code} %{url_effective}\n' "$@" 2>>"$CURL_LOG"
}
"""


def _session(
    path: Path, demo: Demo, work: Path
) -> tuple[str, list[tuple[Block, str, list[str], Path]]]:
    """The bash script of a file's blocks, and the console commands to check after it."""
    address = demo.url.removeprefix("http://").rstrip("/")
    lines = ["set -euo pipefail", f"cd {demo.cwd}", CURL_WRAPPER]
    checks: list[tuple[Block, str, list[str], Path]] = []
    for block in to_run(SHELL | {"console"}):
        if block.path != path:
            continue
        lines.append(f"echo '>>> {block.name}' >&2")
        if block.lang in SHELL:
            lines.append(sized(block).replace(DOC_ADDRESS, address))
            continue
        for command, shown in console_commands(block):
            out = work / f"console-{len(checks)}"
            lines.append(
                f"{{ {command.replace(DOC_ADDRESS, address)} ; }} >{out}.out 2>{out}.err "
                f"&& echo 0 >{out}.rc || echo $? >{out}.rc"
            )
            checks.append((block, command, shown, out))
    return "\n".join(lines) + "\n", checks


def _check_console(block: Block, command: str, shown: list[str], out: Path) -> None:
    where = f"{block.name}: $ {command}"
    code = int((out.with_suffix(".rc")).read_text().strip())
    stdout = out.with_suffix(".out").read_text()
    stderr = out.with_suffix(".err").read_text()
    error = next((line for line in shown if line.startswith("error:")), None)
    if error is not None:
        assert code != 0, f"{where} should fail: {stdout}"
        expected = error.split("...")[0].rstrip()
        assert any(line.startswith(expected) for line in stderr.splitlines()), (
            f"{where}: expected {expected!r}, got {stderr}"
        )
        return
    assert code == 0, f"{where} exited {code}:\n{stdout}\n{stderr}"
    for line in shown:
        version = re.search(r"schema version \d+", line)
        if version:
            assert version.group(0) in stdout, f"{where}: {version.group(0)!r} not in {stdout}"


def _run_session(path: Path, demo: Demo, work: Path) -> str | None:
    """Run one file's shell and console blocks; a description of what failed, or None."""
    work.mkdir()
    script, checks = _session(path, demo, work)
    curl_log = work / "curl.log"
    env = {**demo.cli_env(), "CURL_LOG": str(curl_log)}
    proc = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        return (
            f"{path.name} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    try:
        for check in checks:
            _check_console(*check)
    except AssertionError as exc:
        return str(exc)
    answers = curl_log.read_text().splitlines() if curl_log.exists() else []
    statuses = [line for line in answers if line.startswith("HTTP ")]
    bad = [line for line in statuses if int(line.split()[1]) >= 400 and line.split()[1] != "409"]
    if bad or len(statuses) != len(answers):
        return f"{path.name}: HTTP errors {bad}\n" + "\n".join(answers)
    return None


@pytest.mark.timeout(900)
def test_shell_blocks_run_against_the_demo(demo: Demo, tmp_path: Path) -> None:
    """Each file is one session; the files' sessions run at once (they share the demo,
    as readers of different pages would)."""
    files = _shell_files()
    assert {p.name for p in files} >= {"README.md", "api.md", "cli.md", "example-powertrade.md"}
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        outcomes = list(pool.map(lambda p: _run_session(p, demo, tmp_path / p.stem), files))
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert failures == [], "\n\n".join(failures)


def test_the_store_size_script_runs(tmp_path: Path) -> None:
    """Excused from the python blocks for its arguments (NOT_RUN), it runs here small."""
    [block] = [
        b
        for b in all_blocks()
        if b.file == "docs/stores.md" and b.first_line.startswith('"""Bytes per run')
    ]
    script = tmp_path / "store_size.py"
    script.write_text(block.code, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'size.db'}"
    proc = subprocess.run(
        [sys.executable, str(script), url, "50", "2"],
        cwd=REPO,
        env={**clean_env(), "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("50 runs, 2 log lines each:")
