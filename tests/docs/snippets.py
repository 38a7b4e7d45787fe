"""The fenced code blocks of README.md and docs/*.md, and how the doc tests run them.

A block is identified by its file and its first line. Every block of a runnable language
(python, sh, bash, console, toml, json) runs unless :data:`NOT_RUN` lists it with the
reason; a new or changed block therefore either runs or is excused here, by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNNABLE = frozenset({"python", "sh", "bash", "console", "toml", "json"})
SHELL = frozenset({"sh", "bash"})

_FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

#: Languages not run in a whole file, by (file, language): why.
NOT_RUN_FILES: dict[tuple[str, str], str] = {
    ("docs/calendars.md", "python"): (
        "API fragments (`await`, an opened store, a notice's text) that build on each other; "
        "tests/unit/test_calendars_*.py run that API (the calendar docs are the calendar work's)"
    ),
}

#: Files whose python blocks are one pytest module (a page of tests), run by pytest in
#: the clone: every test must pass, and there must be some.
PYTEST_FILES = frozenset({"docs/testing.md"})

#: Blocks not run, by (file relative to the repository, first line): why.
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "make demo"): (
        "`make demo` serves until Ctrl-C and `make test` is this suite; "
        "the walk-through test runs `make demo`"
    ),
    (
        "docs/api.md",
        'curl -H "Authorization: Bearer alice-token" http://127.0.0.1:8000/api/v1/scheduler/nodes',
    ): ("asks main.py under uvicorn, not the demo: the walk-through test runs it with --workers 2"),
    ("docs/benchmarks.md", "make bench"): (
        "20 minutes of benchmarks; tests/bench runs the smoke size"
    ),
    ("docs/benchmarks.md", 'eval "$(scripts/services.sh env)"'): ("the full benchmark run"),
    ("docs/benchmarks.md", ".venv/bin/python -m bench --only throughput,overhead \\"): (
        "the before/after comparison: minutes of benchmarks, in two checkouts"
    ),
    ("docs/celery.md", "celery -A proj worker --loglevel=INFO"): (
        "needs the reader's proj package and a broker; tests/celery_executor runs real "
        "`celery worker` processes"
    ),
    ("docs/celery.md", "schedkit --config schedkit.toml serve"): (
        "serves until Ctrl-C, with the reader's proj package (tests/cli runs serve)"
    ),
    ("docs/api.md", "pip install 'schedkit[api,postgres,alerts,cli]'"): (
        "installs packages (the wheel test installs the wheel)"
    ),
    ("docs/cli.md", "pip install 'schedkit[cli,api]'"): (
        "installs packages (the wheel test installs the wheel)"
    ),
    ("docs/cli.md", "make demo"): ("serves until Ctrl-C; the walk-through test runs the demo"),
    ("docs/cli.md", "schedkit --config schedkit.toml serve --host 0.0.0.0 --port 8000"): (
        "serves until Ctrl-C (tests/cli runs serve)"
    ),
    (
        "docs/deployment.md",
        "SCHEDKIT_STORE_URL=postgresql://schedkit:REDACTED@db.internal:5432/schedkit",
    ): ("an environment file with placeholders, not commands"),
    ("docs/deployment.md", "SCHEDKIT_SCHEDULER__SHUTDOWN_GRACE=1 uvicorn main:app --reload"): (
        "serves until Ctrl-C, with the reader's main.py (the walk-through test runs main.py "
        "under uvicorn)"
    ),
    ("docs/example-powertrade.md", "schedkit serve"): (
        "serves until Ctrl-C (tests/cli runs serve; the doc test runs the demo)"
    ),
    (
        "docs/example-powertrade.md",
        "export SCHEDKIT_STORE_URL='mongodb://user:password@mongo.internal:27017'",
    ): ("needs a MongoDB server at mongo.internal (tests/examples run on FerretDB)"),
    ("docs/development.md", "make test"): ("this suite itself"),
    ("docs/development.md", "make test PYTEST_ARGS='-x -k cron'"): ("this suite itself"),
    ("docs/development.md", "make test PYTEST_ARGS='-m \"not external_service\"'"): (
        "this suite itself"
    ),
    ("docs/development.md", "scripts/services.sh start"): (
        "starts and stops the machine's services"
    ),
    ("docs/reliability.md", 'eval "$(bash scripts/services.sh env)"'): (
        "the chaos test's long version runs 30 minutes; tests/chaos is part of this suite"
    ),
    ("docs/stores.md", "from schedkit.store import create_store"): (
        "needs a PostgreSQL server at db.internal and /var/lib/app"
    ),
    ("docs/stores.md", "pg_dump -Fc -d app -n schedkit -f schedkit-$(date +%F).dump"): (
        "needs a database app with a schema schedkit, and restores over it "
        "(tests/store/test_pg_connections.py runs a store in a schema)"
    ),
    ("docs/stores.md", "# the URL names the database (…:27017/exds?replicaSet=rs0)"): (
        "needs MongoDB's database tools (mongodump is not installed here) and a server at db1"
    ),
    (
        "docs/stores.md",
        "# 1. the old store: stop every node (nothing fires or changes after the export), then",
    ): (
        "needs a PostgreSQL server at db.internal; tests/cli/test_schedule_export.py moves "
        "schedules from SQLite to PostgreSQL and MongoDB"
    ),
    (
        "docs/stores.md",
        '"""Bytes per run in a schedkit SQL store: N runs through their whole life, then measure.',
    ): ("a measuring script with command-line arguments"),
}

#: Blocks run at a smaller size, by (file, first line): why, and the (text, smaller text)
#: replacements. Each text must still be in the block, so an edited block is noticed here.
SHRUNK: dict[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]] = {
    ("docs/benchmarks.md", ".venv/bin/python -m bench.bulk import --n 100000"): (
        "100,000 schedules on three stores is a minute of both cores; the figures are "
        "docs/benchmarks.md's, tests/bench/test_bulk_bench.py runs both probes at toy size",
        (("--n 100000", "--n 1000"), ("--n 10000 --requests 200", "--n 500 --requests 5")),
    ),
    (
        "docs/benchmarks.md",
        ".venv/bin/python -m bench --only triggers --json var/bench/triggers.json",
    ): (
        "the full size is half a minute of a core; its figures are docs/benchmarks.md's",
        (("--only triggers", "--only triggers --smoke"),),
    ),
}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str

    @property
    def file(self) -> str:
        return self.path.relative_to(REPO).as_posix()

    @property
    def first_line(self) -> str:
        """The block's first line without a trailing comment (after two spaces)."""
        first = self.code.strip("\n").splitlines()[0] if self.code.strip() else ""
        return re.sub(r"\s{2,}#.*$", "", first).strip()

    @property
    def key(self) -> tuple[str, str]:
        return (self.file, self.first_line)

    @property
    def name(self) -> str:
        return f"{self.file}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(path=path, line=line, lang=match.group(1), code=match.group(2)))
    return found


def all_blocks() -> list[Block]:
    return [b for path in FILES for b in blocks(path)]


def excused(block: Block) -> bool:
    return block.key in NOT_RUN or (block.file, block.lang) in NOT_RUN_FILES


def sized(block: Block) -> str:
    """The block's code as the doc tests run it (see :data:`SHRUNK`)."""
    code = block.code
    for text, smaller in SHRUNK.get(block.key, ("", ()))[1]:
        assert text in code, f"{block.name}: SHRUNK expects {text!r} in the block"
        code = code.replace(text, smaller)
    return code


def to_run(lang: frozenset[str] | set[str]) -> list[Block]:
    return [b for b in all_blocks() if b.lang in lang and not excused(b)]


def console_commands(block: Block) -> list[tuple[str, list[str]]]:
    """``$ command`` lines of a console block, each with the output lines shown after it."""
    found: list[tuple[str, list[str]]] = []
    for raw in block.code.splitlines():
        if raw.startswith("$ "):
            found.append((raw[2:], []))
        elif found:
            found[-1][1].append(raw)
    return found
