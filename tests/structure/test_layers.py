"""The layers of architecture.md hold: adapters talk to the façade, never to the store or
the engine, and no source file grows past the size a reader can hold."""

from __future__ import annotations

import ast

from tests.structure.imports import SRC, import_graph, module_files

ADAPTERS = (
    "schedkit.api",
    "schedkit.console",
    "schedkit.cli",
    "schedkit.integrations",
    "schedkit.readmodels",
    "schedkit.monitor",
)
#: What an adapter may not import: the store and the engine sit behind the façade.
CORE_INTERNALS = ("schedkit.store", "schedkit.engine")
#: ``schedkit db upgrade`` / ``schedkit check`` administer the store itself (schema
#: version, reachability) before any façade could start on it.
STORE_ADMIN = {"schedkit.cli.admin"}
#: Façade internals an adapter must not reach through.
INTERNAL_ATTRIBUTES = {"store", "_store", "_executor", "_loop", "_events", "executor", "loop"}
MAX_LINES = 600


def _is_adapter(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ADAPTERS)


def test_adapters_do_not_import_the_store_or_the_engine() -> None:
    offending = {
        module: sorted(t for t in targets if t.startswith(CORE_INTERNALS))
        for module, targets in import_graph().items()
        if _is_adapter(module) and module not in STORE_ADMIN
    }
    assert {m: t for m, t in offending.items() if t} == {}


def test_adapters_do_not_reach_through_the_facade() -> None:
    found = []
    for module, path in module_files().items():
        if not _is_adapter(module):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
                owner = ast.unparse(node.value)
                if owner.endswith(("scheduler", "host")) or owner in {"s", "self.scheduler"}:
                    found.append(f"{module}:{node.lineno} {owner}.{node.attr}")
    assert found == []


def test_no_source_file_is_over_600_lines() -> None:
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text(encoding="utf-8").splitlines())
        for path in SRC.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
