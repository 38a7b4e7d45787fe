"""The package version, in one place (the façade, the API and the CLI show it), and the
build: a fingerprint of the installed code, so that nodes running different code can be
told apart while the version string stays the same (between releases, or a patched
install)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"

_PACKAGE = Path(__file__).resolve().parent


def fingerprint(root: Path) -> str:
    """Ten hex digits of SHA-256 over the files under ``root`` (names and contents;
    bytecode caches left out, as they differ between identical installs)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@functools.cache
def build() -> str:
    """This installation's fingerprint (read once, at the first call: ~10 ms)."""
    return fingerprint(_PACKAGE)


def node_version() -> str:
    """What a node records as its version: ``0.1.0+3f2a9c1d0e`` (a PEP 440 local label)."""
    return f"{__version__}+{build()}"
