"""A fresh interpreter without some of the installed packages: what a user who
installed schedkit without an extra runs.

Its path holds this venv's packages but those: building a venv without them would cost
a minute of pip per run.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import schedkit

SOURCE = Path(schedkit.__file__).parent.parent


def run_without(
    absent: Sequence[str], tmp_path: Path, args: Sequence[str], *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -S ARGS`` with site-packages but ``absent`` (names in site-packages,
    modules and dist-info, matched by prefix)."""
    packages = tmp_path / "site-packages"
    packages.mkdir()
    for installed in site.getsitepackages():
        for entry in Path(installed).iterdir():
            if not entry.name.lower().startswith(tuple(absent)) and entry.suffix != ".pth":
                (packages / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDKIT_")}
    return subprocess.run(
        # -S: no site-packages of the venv; .pth files (the editable install) left out.
        [sys.executable, "-S", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or tmp_path,
        env={**env, "PYTHONPATH": f"{SOURCE}{os.pathsep}{packages}", "COLUMNS": "200"},
    )
