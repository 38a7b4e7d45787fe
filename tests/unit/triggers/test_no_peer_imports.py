"""The time engine is schedkit's own: nothing under src/ imports a peer cron library."""

from __future__ import annotations

import subprocess
import sys

PEERS = ("apscheduler", "cronsim", "croniter")

# Imports every schedkit module (but the CLI entry point) in a fresh interpreter,
# then lists the peers it loaded.
SCRIPT = f"""
import importlib, pkgutil, sys
import schedkit
for module in pkgutil.walk_packages(schedkit.__path__, "schedkit."):
    if not module.name.endswith(".__main__"):  # that one runs the CLI
        importlib.import_module(module.name)
print(sorted({{name.split(".")[0] for name in sys.modules}} & set({PEERS!r})))
"""


def test_no_schedkit_module_imports_apscheduler_cronsim_or_croniter() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_check_sees_a_peer_when_one_is_imported() -> None:
    """The script above would report a peer (so an empty list means something)."""
    script = SCRIPT.replace("import schedkit\n", "import schedkit, cronsim\n")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.stdout.strip() == "['cronsim']"
