"""docs/api.md's route table against the routes the API serves: every operation of the
OpenAPI document is in the table, and every row of the table is served (an audit found
``GET /runs/{run_id}/files/{name}``, which the console uses, missing from it)."""

from __future__ import annotations

import re
from pathlib import Path

from schedkit.api import create_app
from tests.audit_actions import audit_actions
from tests.docs.snippets import REPO

PREFIX = "/api/v1/scheduler"
API_MD = REPO / "docs" / "api.md"

#: A row of the table: ``| GET | `/runs/{run_id}?after=` | viewer | ... |``.
_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _documented(text: str) -> set[tuple[str, str]]:
    rows = set()
    for line in _section(text, "## Route table").splitlines():
        found = _ROW.match(line)
        if found:
            # The table shows the query parameters after the path: `/tasks?category=&tags=`.
            rows.add((found.group(1), found.group(2).split("?", 1)[0]))
    return rows


def _served(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app({"store_url": f"sqlite:///{tmp_path / 'unused.db'}"})
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def test_the_route_table_lists_every_served_operation_and_only_those(tmp_path: Path) -> None:
    text = API_MD.read_text(encoding="utf-8")
    documented = _documented(text)
    assert len(documented) > 40  # the table was found and read
    served = _served(tmp_path)
    under_prefix = {(m, p.removeprefix(PREFIX)) for m, p in served if p.startswith(PREFIX + "/")}
    missing = sorted(under_prefix - documented)
    assert not missing, f"served but not in api.md's route table: {missing}"
    unserved = sorted(documented - under_prefix)
    assert not unserved, f"in api.md's route table but not served: {unserved}"
    # The app's own routes outside the prefix (/metrics) are named below the table.
    table = _section(text, "## Route table")
    for method, path in sorted(served):
        if not path.startswith(PREFIX + "/"):
            assert f"`{method} {path}`" in table, (method, path)


def test_every_audit_action_is_listed() -> None:
    """An audit: the list of audit actions left out six families the core records
    (schedule.import, backfills, calendars, drains, rollup rebuilds)."""
    text = API_MD.read_text(encoding="utf-8")
    table = text[text.index("\nAudit actions, ") : text.index("\n### Live events")]
    listed = set(re.findall(r"`([a-z_]+\.[a-z_.]+)`", table))
    assert {"schedule.import", "alerts.test"} <= audit_actions()
    assert listed == audit_actions()
